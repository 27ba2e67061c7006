"""The grammar of event types as the sampler reads it: what may follow what, and prompts.

:class:`Grammar` holds an encoding's event-type tables as tensors on the sampling device (which
type may follow which, in the body and in a fill; which types must move the onset on);
:func:`read_prompt` checks a prompt against the rules and says where it leaves off.
:class:`tuplet.generation.constraints.MaskState` builds its masks from both.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from tuplet.encoding import EncodingConfig
from tuplet.encoding.vocab import KNOWN_DURATIONS_TICKS
from tuplet.errors import UsageError
from tuplet.generation.checker import META as _META
from tuplet.generation.checker import check_sequence


class Grammar:
    """Event-type tables of an encoding, as tensors on the sampling device."""

    def __init__(self, enc: EncodingConfig, forbid: Sequence[str], device: Any) -> None:
        import torch

        t = enc.type_codes
        unknown = sorted(set(forbid) - set(t))
        if unknown:
            raise UsageError(f"the {enc.name} encoding has no event type {', '.join(unknown)}")
        protected = {"start-of-song", "instrument", "start-of-notes", "end-of-song", "note"}
        if set(forbid) & protected:
            raise UsageError(f"cannot forbid {', '.join(sorted(set(forbid) & protected))}")
        n = len(t)
        timed = [t[x] for x in (*_META, "note") if x in t]
        meta = [t[x] for x in _META if x in t]
        follow = np.zeros((n, n), dtype=bool)  # follow[previous type, next type]
        follow[t["start-of-song"], t["instrument"]] = True
        follow[t["instrument"], [t["instrument"], t["start-of-notes"]]] = True
        for prev in (t["start-of-notes"], *timed):
            follow[prev, [*timed, t["end-of-song"]]] = True
        fill = np.zeros_like(follow)
        if "fill-end" in t:
            fill[np.ix_([t["fill-end"], t["note"]], [t["note"], t["end-of-song"]])] = True
        for name in forbid:
            follow[:, t[name]] = fill[:, t[name]] = False
        strict = np.zeros((n, n), dtype=bool)  # strict[previous timed type, type]
        for prev in timed:
            for new in timed:
                strict[prev, new] = new < prev or (new == prev and new in meta)
        self.n_types = n
        self.follow = torch.tensor(follow, device=device)
        self.follow_fill = torch.tensor(fill, device=device)
        self.strict = torch.tensor(strict, device=device)
        self.timed = torch.zeros(n, dtype=torch.bool, device=device)
        self.timed[timed] = True
        self.defined = torch.tensor(enc.defined_fields, device=device)
        self.sos, self.son, self.eos = t["start-of-song"], t["start-of-notes"], t["end-of-song"]
        self.instrument, self.note = t["instrument"], t["note"]
        self.fill_start, self.fill_end = t.get("fill-start", -1), t.get("fill-end", -1)
        self.is_instr = torch.arange(n, device=device) == self.instrument
        self.is_eos = torch.arange(n, device=device) == self.eos


class PromptInfo(NamedTuple):
    """What the sampler needs to know about a prompt."""

    last_type: int
    beat: int  # onset of the last timed event (codes), or where the fill starts
    position: int
    timed_type: int  # type of the last timed event (0: none)
    instruments: tuple[int, ...]  # declared in the header
    fill: tuple[int, int, int] | None  # (first beat code, last beat code, instrument)
    notes: np.ndarray | None = None  # (k, 3) start, end (in onset units), instrument


def read_prompt(prompt: np.ndarray, enc: EncodingConfig) -> PromptInfo:
    """Where a prompt leaves off: its last type and onset, its header, its fill span.

    Raises:
        UsageError: A prompt that is empty, has the wrong shape, breaks the rules or ends
            with end-of-song.
    """
    t = enc.type_codes
    if prompt.ndim != 2 or prompt.shape[1] != len(enc.fields) or len(prompt) == 0:
        raise UsageError(
            f"a prompt must be a non-empty (events, {len(enc.fields)}) code array, "
            f"got shape {prompt.shape}"
        )
    problems = check_sequence(prompt, enc, prompt_length=len(prompt))
    if problems:
        raise UsageError(f"the prompt breaks the encoding's rules: {problems[0]}")
    types = prompt[:, 0]
    if (types == t["end-of-song"]).any():
        raise UsageError("the prompt ends with end-of-song: nothing can follow it")
    beat_col, pos_col = enc.field_index("beat"), enc.field_index("position")
    instr_col = enc.field_index("instrument")
    header = tuple(int(c) for c in prompt[types == t["instrument"], instr_col])
    rows = prompt[types == t["note"]]
    start = rows[:, beat_col] * enc.resolution + rows[:, pos_col]
    end = start + KNOWN_DURATIONS_TICKS[rows[:, enc.field_index("duration")] - 1]
    notes = np.stack([start, end, rows[:, instr_col]], axis=1)
    fill = None
    if "fill-end" in t and types[-1] == t["fill-end"]:
        start, end = prompt[-2], prompt[-1]
        fill = (int(start[beat_col]), int(end[beat_col]), int(end[instr_col]))
        return PromptInfo(int(types[-1]), fill[0], 1, 0, header, fill, notes)
    timed = np.flatnonzero(np.isin(types, [t[x] for x in (*_META, "note") if x in t]))
    if len(timed) == 0:
        return PromptInfo(int(types[-1]), 1, 1, 0, header, None, notes)
    last = prompt[timed[-1]]
    return PromptInfo(
        int(types[-1]), int(last[beat_col]), int(last[pos_col]), int(last[0]), header, None, notes
    )


__all__ = ["Grammar", "PromptInfo", "read_prompt"]
