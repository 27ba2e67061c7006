"""The studio's model and actions, as calls of the generation modes.

The modes are :mod:`tuplet.generation.generate` and :mod:`tuplet.generation.loop`.
An :class:`Action` is what the page asks for; :func:`check_action` refuses a bad one before it
is queued (unknown instrument, span outside the piece, numbers out of range),
:func:`generate_action` runs it in a worker and :func:`candidates_of` gives each piece a report as
``tuplet generate`` writes it (model, settings, seed, notes, times), its originality against
the model's training corpus where an index is at hand, and the piece's instruments.

Adventurousness ``a`` in 0..1 maps to the sampler: temperature ``1 + 0.25 a`` (as
``tuplet generate --adventurous``), every field's top-k share times ``1 + a`` and its min-p
times ``1 - a`` (at 0, the model's recommended settings exactly; at 1, no min-p cut).
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tuplet.errors import UsageError
from tuplet.notes import Notes
from tuplet.studio.progress import install_hooks
from tuplet.studio.view import beats_per_bar, track_instrument, track_keys

if TYPE_CHECKING:
    from tuplet.encoding import EncodingConfig
    from tuplet.generation.generate import Generation, LoadedModel
    from tuplet.generation.sample import SamplingSettings
    from tuplet.responsibility.originality import OriginalityIndex

MODES = ("generate", "continue", "rewrite", "add-part", "loop")
MAX_CANDIDATES = 8
MAX_BARS = 64


# ------------------------------------------------------------------------------ the model
class ModelHolder:
    """The studio's model.

    Its config is read at once (a bad path fails at launch), its weights on first use, and the
    originality index of its training corpus once (None when not at hand).
    """

    def __init__(self, path: str | Path | None, device: str = "cpu") -> None:
        from tuplet.encoding import EncodingConfig
        from tuplet.generation.sample import default_model_path
        from tuplet.model.checkpoint import load_checkpoint_config

        self.path = None if path is None else Path(path)
        folder = default_model_path() if path is None else Path(path)
        if not folder.is_dir():
            raise UsageError(f"unknown model {str(path)!r}: no checkpoint folder there")
        self.info = load_checkpoint_config(folder)
        self.encoding: EncodingConfig = EncodingConfig.from_dict(self.info["encoding"])
        self.name = "default" if path is None else folder.name
        self.device = device
        self._lm: LoadedModel | None = None
        self._index: Any = None
        self._lock = threading.Lock()

    @property
    def lm(self) -> LoadedModel:
        """The loaded model (loaded once, on first use)."""
        with self._lock:
            if self._lm is None:
                from tuplet.generation.generate import load_model

                lm = load_model(self.path, device=self.device)
                install_hooks(lm)  # a job's progress, draft and cancel (studio.progress)
                self._lm = lm
            return self._lm

    @property
    def index(self) -> OriginalityIndex | None:
        """The originality index, or None (looked up once)."""
        with self._lock:
            if self._index is None:
                from tuplet.responsibility.originality import index_for_model

                self._index = index_for_model(self.path) or False
            return self._index or None

    def describe(self) -> dict[str, Any]:
        """What the page shows about the model."""
        from tuplet.generation.generate import check_fill_config

        try:
            check_fill_config(self.encoding, self.info)
            fill = True
        except UsageError:
            fill = False
        return {
            "name": self.name,
            "checkpoint_id": self.info.get("checkpoint_id"),
            "encoding": self.encoding.name,
            "can_fill": fill,
            "instruments": list(self.encoding.instrument_names),
        }


# ------------------------------------------------------------------------------ actions
@dataclass(frozen=True)
class Action:
    """What the page asks for.

    Attributes:
        mode: generate (a new piece), continue (from ``from_beat``), rewrite (beats
            ``start_beat``..``end_beat`` of ``tracks``, all when empty), add-part
            (``instrument``), loop (``bars`` bars; of the piece's first bars when it has
            notes, else new).
        n: Candidates.
        instruments: Instrument names for generate and loop (None: the model picks).
        bars: Length of new music in bars (generate, continue, loop).
        meter: (numerator, denominator) of new music; None: the model picks (generate), the
            piece's or 4/4 (loop). Bars are counted in it (in the piece's meter for continue,
            4/4 where none is known).
        adventurous: 0..1 (see the module docstring).
        seed: None draws one (it is in the report).
    """

    mode: str
    n: int = 2
    instruments: tuple[str, ...] | None = None
    bars: int = 4
    meter: tuple[int, int] | None = None
    adventurous: float = 0.0
    seed: int | None = None
    from_beat: float = 0.0
    start_beat: int | None = None
    end_beat: int | None = None
    tracks: tuple[int, ...] = ()
    instrument: str | None = None

    @property
    def label(self) -> str:
        """How the history names the change."""
        if self.mode == "rewrite":
            return f"rewrite beats {self.start_beat}:{self.end_beat}"
        if self.mode == "add-part":
            return f"add {self.instrument}"
        if self.mode == "continue":
            return f"continue from beat {math.floor(self.from_beat)}"
        if self.mode == "loop":
            return f"{self.bars}-bar loop"
        return f"generate {self.bars} bars"


def check_action(action: Action, piece: Notes, model: ModelHolder) -> Action:
    """The action with names resolved, or an error for people.

    Raises:
        UsageError: A mode the studio does not know, numbers out of range, an unknown
            instrument, a span or playhead outside the piece, or a mode the model cannot do.
        SpanError: A span outside the piece.
    """
    from tuplet.generation.generate import SpanError, check_fill_config
    from tuplet.instruments import resolve_instrument, resolve_instruments

    enc = model.encoding
    if action.mode not in MODES:
        raise UsageError(f"unknown action {action.mode!r} (choose from {', '.join(MODES)})")
    if not 1 <= action.n <= MAX_CANDIDATES:
        raise UsageError(f"candidates must be 1..{MAX_CANDIDATES}, got {action.n}")
    if not 1 <= action.bars <= MAX_BARS:
        raise UsageError(f"bars must be 1..{MAX_BARS}, got {action.bars}")
    if not 0.0 <= action.adventurous <= 1.0:
        raise UsageError(f"adventurousness must be 0..1, got {action.adventurous}")
    if action.meter is not None:
        num, den = action.meter
        if not (1 <= num <= 32 and den in (1, 2, 4, 8, 16, 32)):
            raise UsageError(f"meter {num}/{den}: give N/D with N 1..32 and D a power of two")
    if action.instruments is not None:
        names = resolve_instruments(list(action.instruments), enc)
        action = replace(action, instruments=tuple(names))
    length = piece.end_ticks / piece.ticks_per_beat
    needs_piece = action.mode in ("continue", "rewrite", "add-part")
    if needs_piece and len(piece) == 0:
        raise UsageError(f"{action.mode}: the piece is empty; open a file or generate first")
    if action.mode in ("rewrite", "add-part"):
        check_fill_config(enc, model.info)
    if action.mode == "continue" and not 0 <= action.from_beat < length:
        raise UsageError(
            f"continue: the playhead (beat {action.from_beat:g}) is outside the piece "
            f"(beats 0:{length:g})"
        )
    if action.mode == "rewrite":
        start, end = action.start_beat, action.end_beat
        if start is None or end is None or not 0 <= start < end or start >= length:
            raise SpanError(
                f"span {start}:{end} is outside the piece (beats 0:{math.ceil(length)}): "
                "select a span that starts inside the piece"
            )
        _, tracks = track_keys(piece)
        bad = [t for t in action.tracks if not 0 <= t < len(tracks)]
        if bad:
            raise SpanError(f"track {bad[0]} is not one of the piece's {len(tracks)} tracks")
    if action.mode == "add-part":
        if not action.instrument:
            raise UsageError("add a part: name its instrument")
        action = replace(action, instrument=resolve_instrument(action.instrument, enc))
    return action


GENERATION_MODES = {"generate": "unconditional", "continue": "continuation", "rewrite": "infill"}
"""The generation mode (:data:`tuplet.generation.settings.MODES`) of a studio action's mode
whose name differs."""


def sampling(lm: LoadedModel, adventurous: float, mode: str | None = None) -> SamplingSettings:
    """The model's recommended settings for a studio ``mode``, made bolder by ``adventurous``.

    How much bolder: the module docstring.
    """
    base = lm.settings_for(GENERATION_MODES.get(mode, mode) if mode is not None else None)
    if adventurous == 0:
        return base
    per_field: dict[str, dict[str, float]] = {}
    for name in lm.encoding.fields:
        own = base.per_field.get(name, {})
        if own.get("top_k", 0) or (base.top_k and "top_k_frac" not in own):
            continue  # a fixed k stays as the model recommends
        frac = float(own.get("top_k_frac", base.top_k_frac))
        per_field[name] = {"top_k_frac": min(1.0, frac * (1.0 + adventurous))}
    for name, own in base.per_field.items():
        if "min_p" in own:
            per_field.setdefault(name, {})["min_p"] = own["min_p"] * (1.0 - adventurous)
    knobs = {"temperature": 1.0 + 0.25 * adventurous, "min_p": base.min_p * (1.0 - adventurous)}
    return base.updated(knobs, per_field)


def _rewrite_instruments(action: Action, piece: Notes, enc: EncodingConfig) -> list[str] | None:
    if not action.tracks:
        return None
    _, tracks = track_keys(piece)
    names = [track_instrument(tracks[t][1], tracks[t][2], enc) for t in action.tracks]
    known = sorted({n for n in names if n is not None})
    if not known:
        raise UsageError("the selected tracks play no instrument this model knows")
    return known


def generate_action(
    lm: LoadedModel, action: Action, piece: Notes, max_events: int | None = None
) -> Generation:
    """Run an action (already checked) with the library's modes."""
    from tuplet.generation import generate as g
    from tuplet.generation.sample import Limits

    meter = action.meter or (4, 4)
    if action.mode == "continue" and len(piece.timesig_ticks):
        meter = int(piece.timesig_numerator[-1]), int(piece.timesig_denominator[-1])
    bpb = beats_per_bar(meter)
    new_beats = math.ceil(action.bars * bpb)
    limits = Limits(max_events=max_events)
    if action.mode in ("generate", "continue"):
        start = math.floor(action.from_beat) if action.mode == "continue" else 0
        limits = replace(limits, max_beats=start + new_beats)
    options = g.GenerationOptions(
        n=action.n, seed=action.seed, settings=sampling(lm, action.adventurous, action.mode),
        limits=limits,
    )
    names = None if action.instruments is None else list(action.instruments)
    if action.mode == "generate":
        if action.meter is not None and "time-signature" in lm.encoding.type_codes:
            return generate_in_meter(lm, names, action.meter, options)
        return g.unconditional(lm, instruments=names, options=options)
    if action.mode == "continue":
        prompt_beats = max(1, math.floor(action.from_beat))
        return g.continuation(lm, piece, prompt_beats=prompt_beats, options=options)
    if action.mode == "rewrite":
        assert action.start_beat is not None and action.end_beat is not None
        instruments = _rewrite_instruments(action, piece, lm.encoding)
        return g.infill(
            lm, piece, action.start_beat, action.end_beat, instruments=instruments,
            options=options,
        )  # fmt: skip
    if action.mode == "add-part":
        assert action.instrument is not None
        return g.add_part(lm, piece, action.instrument, options=options)
    from tuplet.generation.loop import loop

    prompt = piece if len(piece) else None
    return loop(
        lm, action.bars, prompt=prompt, instruments=None if prompt else names,
        meter=None if prompt else action.meter, options=options,
    )  # fmt: skip


def generate_in_meter(
    lm: LoadedModel,
    instruments: list[str] | None,
    meter: tuple[int, int],
    options: Any,
) -> Generation:
    """New pieces in ``meter``: :func:`tuplet.generation.generate.unconditional`, told the meter.

    As :func:`tuplet.generation.loop.loop` tells a new loop its meter: a time-signature event at
    beat 0
    after the header, and no other time-signature event sampled. Without ``instruments`` each
    piece's instruments are sampled first (the model picks them, then hears the meter).
    Unlike :func:`~tuplet.generation.generate.unconditional`, a piece where a requested instrument
    stays
    silent is not drawn again (its report lists them, as there).

    Raises:
        UsageError: The encoding cannot hold the meter, or an unknown instrument.
    """
    from tuplet.encoding.vocab import meter_code
    from tuplet.generation.generate import Session, instrument_codes

    run = Session(lm, options)
    code = int(meter_code(np.array([meter[0]]), np.array([meter[1]]))[0])
    if code == 0:
        raise UsageError(f"the {run.enc.name} encoding cannot hold the meter {meter[0]}/{meter[1]}")
    codes = instrument_codes(instruments, run.enc)
    beat_zero = run.row("time-signature", beat=1, position=1, meter=code)
    if codes is None:
        headers = run.sample(run.row("start-of-song"), options.n, header_only=True)
    else:
        headers = [run.header(codes)] * options.n
    names = run.enc.instrument_names
    pieces = []
    for header in headers:
        prompt = np.concatenate([header, beat_zero])
        (out,) = run.sample(prompt, 1, instruments=codes, forbid_types=("time-signature",))
        body = run.body(out)
        played = set(body[body[:, 0] == run.types["note"], run.col["instrument"]].tolist())
        silent = [names[c - 1] for c in codes or [] if c not in played]
        extra = {"silent_instruments": silent} if codes else {}
        pieces.append(run.piece(run.whole(body), run.n_notes(body), **extra))
    mode = "unconditional" if codes is None else "instruments"
    request = {"instruments": instruments, "meter": f"{meter[0]}/{meter[1]}"}
    return run.finish(mode, pieces, request)


def candidates_of(
    generation: Generation,
    action: Action,
    piece: Notes,
    model: ModelHolder,
) -> list[dict[str, Any]]:
    """Each piece of a generation as (notes, report, loop_seconds, withheld) for the project.

    The report is :func:`tuplet.generation.generate.report` with the time it was made, the
    instruments
    the piece plays, the page's request, and the originality of the new notes against the
    model's training corpus (where an index is at hand); a piece that copies is withheld.
    """
    from tuplet.generation.generate import report
    from tuplet.generation.loop import loop_midi_notes
    from tuplet.responsibility.originality import new_notes

    lm = model.lm
    index = model.index
    prompt = piece if len(piece) else None
    out = []
    for i, p in enumerate(generation.pieces):
        notes, loop_seconds = p.notes, None
        if "loop_beats" in p.details:
            beats = int(p.details["loop_beats"])
            notes = loop_midi_notes(notes, beats)
            loop_seconds = float(notes.seconds(beats * notes.ticks_per_beat))
        if action.mode == "generate" and action.meter and len(notes.timesig_ticks) == 0:
            # the model wrote no meter: the piece is in the one asked for (the bars' length),
            # as tuplet.generation.loop states a meter its encoding cannot hold
            notes = replace(
                notes,
                timesig_ticks=np.zeros(1, dtype=np.int64),
                timesig_numerator=np.array([action.meter[0]]),
                timesig_denominator=np.array([action.meter[1]]),
            )
        data = report(generation, i, lm)
        data["created"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        data["studio_action"] = {"mode": action.mode, "label": action.label,
                                 "adventurous": action.adventurous}  # fmt: skip
        data["instruments"] = [name for name, _, _ in track_keys(notes)[1]]
        if len(notes.timesig_ticks):
            data["meter"] = f"{notes.timesig_numerator[0]}/{notes.timesig_denominator[0]}"
        if action.mode in ("generate", "loop") and action.meter is not None:
            data["meter_asked"] = f"{action.meter[0]}/{action.meter[1]}"
        withheld = None
        if index is not None:
            check = index.score(new_notes(notes, prompt if action.mode != "generate" else None))
            data["originality"] = check.to_dict(windows=False)
            if check.verdict == "block":
                withheld = check.reason
                data["withheld"] = withheld
        else:
            data["originality"] = None
        out.append({"notes": notes, "report": data, "loop_seconds": loop_seconds,
                    "withheld": withheld})  # fmt: skip
    return out


__all__ = [
    "MODES",
    "Action",
    "ModelHolder",
    "candidates_of",
    "check_action",
    "generate_action",
    "generate_in_meter",
    "sampling",
]
