"""A running generation job's progress, seen from outside the library.

The studio's worker hooks the loaded model's field embeddings (:func:`install_hooks`): every
event the sampler feeds back to the model passes them, one per sequence per sampling step. In
the thread of a job that is :func:`watching` a :class:`Progress`, the hooks count the events
and notes drawn, keep the first sequence's events for a draft of a new piece, and raise
:class:`Cancelled` at the next step once the job is cancelled (the sampler's ``finally``
restores its state). Elsewhere they do nothing. The library itself is unchanged.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from tuplet.errors import TupletError

if TYPE_CHECKING:
    from tuplet.encoding import EncodingConfig
    from tuplet.generation.generate import LoadedModel
    from tuplet.notes import Notes


class Cancelled(TupletError):
    """The job was cancelled while it ran."""


class Progress:
    """What a running job has drawn so far, and whether it should stop.

    Attributes:
        events: Events sampled (all candidates together, redraws included).
        notes: Of them, notes.
        cancel: Set to stop the job at its next sampling step.
        draft: Keep the first sequence's events for :meth:`draft_notes`.
        after: For a continuation, the piece and the beat it goes on from (the draft is
            placed in the piece's time).
    """

    def __init__(self, draft: bool = False, after: tuple[Notes, int] | None = None) -> None:
        self.events = 0
        self.notes = 0
        self.cancel = False
        self.draft = draft  # keep the first sequence's events, to show it as it grows
        self.after = after  # a continuation: (the piece, the beat it goes on from)
        self.prompt: np.ndarray | None = None
        self.rows: list[np.ndarray] = []
        self.ended = False
        self.batch = 0
        self._fields: list[Any] = []

    def see_field(self, field: int, n_fields: int, codes: Any) -> None:
        """One field's codes fed to the model (fields come in order, 0 first)."""
        if field == 0:
            self._fields = []
        self._fields.append(codes)
        if field < n_fields - 1 or len(self._fields) != n_fields:
            return
        step = np.stack([c.detach().cpu().numpy() for c in self._fields], axis=-1)  # (B,T,F)
        if step.shape[1] > 1:  # a prompt: a new draw starts
            self.prompt, self.rows, self.batch = step[0], [], 0
        elif step.shape[0] < self.batch:
            # a sequence ended and left the batch: row 0 may now be another one, so the
            # draft stops here (a preview, not the result)
            self.ended = True
        else:
            self.batch = step.shape[0]
            self.rows.append(step[0, 0])

    def draft_notes(self, encoding: EncodingConfig, end_type: int) -> Notes | None:
        """The first sequence so far, decoded (None when there is nothing to show)."""
        from tuplet.encoding import decode

        if not self.rows:
            return None
        rows = np.stack(self.rows)  # a one-event prompt (start-of-song) is among them
        end = np.zeros((1, rows.shape[1]), dtype=np.int64)
        end[0, 0] = end_type
        parts = [rows, end] if self.prompt is None else [self.prompt, rows, end]
        try:
            notes = decode(np.concatenate(parts), encoding)
            if self.after is None or self.prompt is None:
                return notes
            context = decode(np.concatenate([self.prompt, end]), encoding)
        except TupletError:
            return None
        return _placed(notes, context, *self.after, encoding.resolution)


def _placed(notes: Notes, context: Notes, piece: Notes, end_beat: int, res: int) -> Notes | None:
    """A continuation's draft moved from its window's time to the piece's.

    The window (the prompt's context) ends at ``end_beat``; its last note is the piece's last
    note before it, which gives the window's start.
    """
    from tuplet.notes import shift_ticks

    beats = np.rint(piece.onset_ticks * res / piece.ticks_per_beat).astype(np.int64) // res
    before = beats[beats < end_beat]
    if len(context) == 0 or len(before) == 0:
        return None
    start = int(before.max()) - int(context.onset_ticks.max()) // res
    return shift_ticks(notes, max(0, start) * res)


_watched = threading.local()


@contextlib.contextmanager
def watching(progress: Progress) -> Iterator[Progress]:
    """Count this thread's sampling steps into ``progress`` (see :meth:`ModelHolder.lm`)."""
    _watched.progress = progress
    try:
        yield progress
    finally:
        _watched.progress = None


def _field_hook(field: int, n_fields: int) -> Any:
    """A pre-hook on field ``field``'s embedding that hands its codes to a drafting job."""

    def hook(module: Any, args: tuple[Any, ...]) -> None:
        progress = getattr(_watched, "progress", None)
        if progress is not None and progress.draft and not progress.ended:
            progress.see_field(field, n_fields, args[0])

    return hook


def _step_hook(note_type: int) -> Any:
    """A pre-hook on the type field's embedding, for a job's progress and cancel.

    It sees every event the sampler feeds back (one per sequence per step), so it counts them
    and stops a cancelled job there. The library is not changed: the hook only reads its input
    and may raise :class:`Cancelled` (the sampler's ``finally`` restores its state).
    """

    def hook(module: Any, args: tuple[Any, ...]) -> None:
        progress = getattr(_watched, "progress", None)
        if progress is None:
            return
        if progress.cancel:
            raise Cancelled("cancelled")
        types = args[0]  # (B, T): the type codes of the events fed in
        if types.dim() == 2 and types.shape[1] == 1:  # a sampling step, not a prompt
            progress.events += int(types.shape[0])
            progress.notes += int((types == note_type).sum())

    return hook


def install_hooks(lm: LoadedModel) -> None:
    """Hook a freshly loaded model's field embeddings (once per model)."""
    embeddings = getattr(lm.model, "field_embeddings", None)
    if embeddings is None:
        return
    embeddings[0].register_forward_pre_hook(_step_hook(lm.encoding.type_codes["note"]))
    for f, embedding in enumerate(embeddings):  # after the step hook
        embedding.register_forward_pre_hook(_field_hook(f, len(embeddings)))


__all__ = ["Cancelled", "Progress", "install_hooks", "watching"]
