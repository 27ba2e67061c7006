"""Generation modes: what ``tuplet generate`` does, as a Python API.

Each mode builds prompts for :func:`tuplet.generation.sample.sample_codes`, samples ``n`` pieces
(in one
batch where the prompt is shared) and turns the codes back into note tables. Times are beats
from the start of the piece (beat 0 is the first); spans are half-open, ``start`` included,
``end`` excluded, like a ruler: ``16:32`` is the 16 beats from beat 16 up to beat 32.

* :func:`unconditional`: from start-of-song (the model also picks the instruments), or, with
  ``instruments``, from a header that lists them (instrument-informed, as in MMT).
* :func:`continuation`: the first ``prompt_beats`` beats of a piece, continued. A prompt longer
  than :data:`CONTEXT_SHARE` of the model's beats or events keeps its last window, so that
  there is room to go on; the result holds the whole prompt, then the new music.
  What a prompt gives is kept exactly (:func:`with_original`): the notes the model did not
  write keep the file's ticks, velocities, programs and tracks, and the piece its tracks
  (names, channels) and its tempo, meter and key maps up to its end; only the new notes pass
  through the encoding, and go to the file's track of their instrument
  (:mod:`tuplet.generation.tracks`).
* :func:`infill`: regenerate a span of a piece for every part, or only for the named
  instruments (one pass each), keeping everything else; the prompts are fill-in-the-middle
  sequences (:mod:`tuplet.encoding.fim`), so the model sees the music before and after the span.
  Spans longer than half the model's beats, or too dense for its events, are filled in
  consecutive chunks.
* :func:`add_part`: a new part for an instrument the piece lacks, over the whole piece (an
  infill of that instrument alone).
* :func:`tuplet.generation.loop.loop`: loops that repeat seamlessly.

Every mode returns a :class:`Generation`; :func:`report` is what the command line writes
beside each piece as JSON.
"""

from __future__ import annotations

import math
from dataclasses import asdict, replace
from typing import Any

import numpy as np

from tuplet.encoding import EncodingConfig, decode, encode, instrument_code
from tuplet.errors import UsageError
from tuplet.generation.session import (
    CONTEXT_SHARE,
    DTYPES,
    Generation,
    GenerationOptions,
    LoadedModel,
    Piece,
    Session,
    load_model,
)
from tuplet.instruments import resolve_instrument, resolve_instruments
from tuplet.notes import Notes


def instrument_codes(
    names: list[str] | tuple[str, ...] | None, encoding: EncodingConfig
) -> list[int] | None:
    """Codes of instrument names as people type them (None stays None).

    Names go through :func:`tuplet.instruments.resolve_instruments`: aliases (``guitar``,
    ``choir``) become the encoding's names, families (``strings``) their instruments, and each
    instrument is listed once.

    Raises:
        UsageError: An unknown name (the message suggests the closest), or an empty list.
    """
    if names is None:
        return None
    return [instrument_code(name, encoding) for name in resolve_instruments(names, encoding)]


def check_fill(lm: LoadedModel) -> None:
    """Refuse a model that cannot fill in the middle.

    Raises:
        UsageError: Its encoding has no fill events, or it was trained with ``fim_rate`` 0.
    """
    check_fill_config(lm.encoding, lm.info)


def check_fill_config(encoding: EncodingConfig, info: dict[str, Any]) -> None:
    """:func:`check_fill` from a checkpoint's config.json alone, before the model loads.

    Args:
        encoding: The checkpoint's encoding.
        info: Its config.json (:func:`tuplet.model.checkpoint.load_checkpoint_config`).

    Raises:
        UsageError: The encoding has no fill events, or the model was trained with
            ``fim_rate`` 0.
    """
    from tuplet.encoding.fim import supports_fill

    if not supports_fill(encoding):
        raise UsageError(
            f"this model uses the {encoding.name} encoding, which has no fill events: "
            "infilling and adding a part need a model trained on the tuplet encoding"
        )
    training = info.get("training") or {}
    if training.get("fim_rate", None) == 0:
        raise UsageError(
            "this model was trained without fill-in-the-middle examples (fim_rate 0): "
            "infilling needs one trained with --fim-rate above 0"
        )


def can_fill(lm: LoadedModel) -> bool:
    """Whether :func:`check_fill` lets the model fill in the middle."""
    try:
        check_fill(lm)
    except UsageError:
        return False
    return True


def prompt_body(
    run: Session, notes: Notes, what: str, before_beat: int | None = None
) -> np.ndarray:
    """The timed rows of a piece (before ``before_beat``) in piece coordinates, sorted.

    Raises:
        UsageError: None of its notes (there) can be encoded; ``what`` names the piece.
    """
    body = run.body(encode(notes, run.big))
    if before_beat is not None:
        body = body[body[:, run.col["beat"]] - 1 < before_beat]
    if run.n_notes(body) == 0:
        where = "" if before_beat is None else f" before beat {before_beat}"
        lost = " (it drops drums and some programs)" if run.enc.name == "mmt" else ""
        raise UsageError(
            f"the {what} has no notes{where} that the {run.enc.name} encoding can hold{lost}"
        )
    return body


def piece_end_beat(run: Session, body: np.ndarray) -> int:
    """The beat after the last note's end."""
    notes = decode(run.whole(body), run.big)
    return math.ceil(notes.end_ticks / run.enc.resolution)


def note_instruments(run: Session, notes: Notes) -> np.ndarray:
    """The encoding's instrument code of each note (0 where it has none for the note)."""
    from tuplet.encoding import extended, vocab

    if run.enc.name == "mmt":
        return np.where(notes.is_drum, 0, vocab.instrument_of_program(notes.program))
    return extended.instrument_codes(notes)


def held_notes(run: Session, notes: Notes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Of each note of a piece: whether the encoding holds it, its beat, its instrument code.

    The beat is the one the encoding gives it (onsets rounded to its resolution).
    """
    from tuplet.encoding import extended, mmt
    from tuplet.notes import to_resolution

    res = to_resolution(notes, run.enc.resolution)
    held = mmt.kept_mask(res) if run.enc.name == "mmt" else extended.kept_mask(res)
    return held, res.onset_ticks // run.enc.resolution, note_instruments(run, res)


def added_rows(run: Session, after: np.ndarray, kept: np.ndarray) -> np.ndarray:
    """The note rows of ``after`` that are not among ``kept`` (a multiset difference)."""
    from collections import Counter

    left = Counter(map(tuple, kept.tolist()))
    new = []
    for row in after[after[:, 0] == run.types["note"]].tolist():
        key = tuple(row)
        if left[key]:
            left[key] -= 1
        else:
            new.append(row)
    return np.array(new, dtype=np.int64).reshape(-1, after.shape[1])


def with_original(run: Session, original: Notes, replaced: np.ndarray, new: np.ndarray) -> Notes:
    """The given piece, but for its ``replaced`` notes, with the ``new`` note rows added.

    Untouched notes keep everything the file gave them (ticks at its resolution, velocity,
    program, track), and the piece keeps its tracks (their names, programs and channels) and
    its tempo, meter and key maps, but for entries past its new end
    (:func:`tuplet.notes.maps_within`). The new notes are decoded, set to the piece's
    resolution and put on its track of their instrument, or on a new track
    (:func:`tuplet.generation.tracks.place_notes`; after the piece's own tracks where it states
    none).
    """
    from tuplet.generation.tracks import place_notes
    from tuplet.notes import concat, maps_within, to_resolution

    added = to_resolution(decode(run.whole(new), run.big), original.ticks_per_beat)
    added = place_notes(original, added, lambda notes: note_instruments(run, notes))
    kept = replace(original.select(~replaced), tracks=added.tracks)
    return maps_within(concat([kept, added]).sorted())


# ------------------------------------------------------------------------------ modes
class SpanError(UsageError):
    """A span (of an infill) that does not lie in the piece."""


ALL_PARTS_TRIES = 4
"""Instrument-informed pieces are drawn up to this many times until every requested instrument
plays (rejection sampling: the model's own distribution, given that they all play); a piece
where some still do not lists them in its report (``silent_instruments``)."""


def unconditional(
    lm: LoadedModel,
    *,
    instruments: list[str] | None = None,
    options: GenerationOptions | None = None,
) -> Generation:
    """New pieces from nothing, or from a list of instruments (instrument-informed).

    With ``instruments``, every one of them plays in each piece where the model can be brought
    to it in :data:`ALL_PARTS_TRIES` draws (see there).

    Raises:
        UsageError: An unknown instrument name (the message lists the valid ones).
    """
    options = options or GenerationOptions()
    run = Session(lm, options)
    codes = instrument_codes(instruments, run.enc)
    prompt = run.row("start-of-song") if codes is None else run.header(codes)
    outs = run.sample(prompt, options.n, instruments=codes)
    names = run.enc.instrument_names

    def missing(out: np.ndarray) -> list[int]:
        played = set(out[out[:, 0] == run.types["note"], run.col["instrument"]].tolist())
        return [c for c in codes or [] if c not in played]

    for _ in range(ALL_PARTS_TRIES - 1):  # draw again the pieces where some part is silent
        redo = [i for i, out in enumerate(outs) if missing(out)]
        if not redo:
            break
        for i, out in zip(redo, run.sample(prompt, len(redo), instruments=codes), strict=True):
            if len(missing(out)) < len(missing(outs[i])):
                outs[i] = out
    pieces = []
    for out in outs:
        body = run.body(out)
        silent = {"silent_instruments": [names[c - 1] for c in missing(out)]} if codes else {}
        pieces.append(run.piece(run.whole(body), run.n_notes(body), **silent))
    mode = "unconditional" if codes is None else "instruments"
    return run.finish(mode, pieces, {"instruments": instruments})


def continuation(
    lm: LoadedModel,
    prompt: Notes,
    *,
    prompt_beats: int | None = None,
    instruments: list[str] | None = None,
    options: GenerationOptions | None = None,
) -> Generation:
    """Continue the first ``prompt_beats`` beats of a piece (all of it when None).

    The prompt is every event before beat ``prompt_beats``; a prompt longer than
    :data:`CONTEXT_SHARE` of the model's beats or events keeps its last window. With
    ``instruments``, new notes use only those (added to the header when the prompt lacks them).

    Raises:
        UsageError: No usable notes in the prompt, an unknown instrument, or limits that
            leave nothing to generate.
    """
    options = options or GenerationOptions()
    if options.settings is None:
        options = replace(options, settings=lm.settings_for("continuation"))
    run = Session(lm, options)
    if prompt_beats is not None and prompt_beats < 1:
        raise UsageError(f"prompt_beats must be at least 1, got {prompt_beats}")
    codes = instrument_codes(instruments, run.enc)
    body = prompt_body(run, prompt, "prompt", prompt_beats)
    beats = body[:, run.col["beat"]] - 1
    last_beat = int(beats.max())
    end = last_beat + 1 if prompt_beats is None else min(prompt_beats, last_beat + 1)
    notes = decode(run.whole(body), run.big)
    max_rows = int(run.max_events * CONTEXT_SHARE)

    def window(start: int) -> np.ndarray:
        return run.encode_window(notes, start, end)[:-1]  # without end-of-song

    start = min(max(0, end - int(run.enc.max_beat * CONTEXT_SHARE)), last_beat)
    if len(window(last_beat)) > max_rows:
        raise UsageError(f"the prompt's last beat alone has more than {max_rows} events")
    low, high = start, last_beat  # the first start that fits lies in [low, high]
    while low < high:
        mid = (low + high) // 2
        low, high = (low, mid) if len(window(mid)) <= max_rows else (mid + 1, high)
    start = low
    context = window(start)
    declared = context[context[:, 0] == run.types["instrument"], run.col["instrument"]]
    prompt_codes = np.concatenate(
        [run.header([*declared.tolist(), *(codes or [])]), run.body(context)]
    )
    max_beats = options.limits.max_beats
    if max_beats is not None:
        if max_beats - start <= last_beat - start:
            raise UsageError(f"max_beats {max_beats} leaves no room after the prompt")
        max_beats = min(max_beats - start, run.enc.max_beat)
    _, note_beats, _ = held_notes(run, prompt)
    after_prompt = note_beats >= end  # the piece goes on from here: its notes are not kept
    pieces = []
    for out in run.sample(prompt_codes, options.n, instruments=codes, max_beats=max_beats):
        new = run.shift(run.body(out[len(prompt_codes) :]), start)
        whole = run.whole(np.concatenate([body, new]))
        notes_new = new[new[:, 0] == run.types["note"]]
        pieces.append(
            Piece(
                with_original(run, prompt, after_prompt, notes_new),
                whole,
                len(notes_new),
                {"context_beats": [start, end]},
            )
        )
    return run.finish("continuation", pieces, {"prompt_beats": end, "instruments": instruments})


def _fill_pass(
    run: Session, body: np.ndarray, start: int, end: int, instrument: int, n: int
) -> list[np.ndarray]:
    """Regenerate beats [start, end) of one instrument (0: all) of a piece; n new bodies."""
    from tuplet.encoding.fim import fill_mask, fill_prompt

    enc, max_events = run.enc, run.max_events
    target = fill_mask(body, run.big, start, end - 1, instrument)
    notes = decode(run.whole(body), run.big)
    note_rows = body[body[:, 0] == run.types["note"]]
    beats = max(1, piece_end_beat(run, body))
    parts = max(1, len(np.unique(note_rows[:, run.col["instrument"]])))
    density = math.ceil(1.5 * len(note_rows) / parts / beats * (end - start)) + 16
    room = min(max(2 * int(target.sum()) + 16, density, max_events // 4), max_events // 2)
    budget = max_events - room

    def prompt(radius: int) -> tuple[np.ndarray, int]:
        first = max(0, start - radius)
        last = min(end + radius, first + enc.max_beat)
        codes = run.encode_window(notes, first, last)
        return fill_prompt(codes, enc, start - first, end - 1 - first, instrument), first

    low, high = 0, enc.max_beat - (end - start)  # the widest context that fits
    if len(prompt(0)[0]) > budget:
        raise _TooDense(
            f"beat {start} holds too many events for {max_events} events at most: allow more events"
        )
    while low < high:
        mid = (low + high + 1) // 2
        low, high = (mid, high) if len(prompt(mid)[0]) <= budget else (low, mid - 1)
    codes, first = prompt(low)
    kept = body[~target]
    lead = math.ceil(bar_beats_at(notes, start))  # rule lead: the fill starts in its first bar
    return [
        run.body(np.concatenate([kept, run.shift(run.body(out[len(codes) :]), first)]))
        for out in run.sample(codes, n, max_beats=None, fill_lead_beats=lead)
    ]


def bar_beats_at(notes: Notes, beat: float) -> float:
    """Beats in the bar at ``beat``, by the time signature in force there (4 without one)."""
    at = np.searchsorted(notes.timesig_ticks, beat * notes.ticks_per_beat, side="right") - 1
    if at < 0:
        return 4.0
    return float(notes.timesig_numerator[at]) * 4.0 / max(1, int(notes.timesig_denominator[at]))


class _TooDense(UsageError):
    """A span whose context leaves no room for the fill."""


def _fill_span(
    run: Session, body: np.ndarray, start: int, end: int, instrument: int, n: int
) -> list[np.ndarray]:
    """:func:`_fill_pass`, halving spans too dense for the model's events."""
    try:
        return _fill_pass(run, body, start, end, instrument, n)
    except _TooDense:
        if end - start < 2:
            raise
    mid = (start + end) // 2
    firsts = _fill_span(run, body, start, mid, instrument, n)
    return [_fill_span(run, b, mid, end, instrument, 1)[0] for b in firsts]


def _infill(
    run: Session,
    piece: Notes,
    body: np.ndarray,
    start: int,
    end: int,
    codes: list[int],
    mode: str,
    request: Any,
) -> Generation:
    """Fill beats [start, end) of each instrument in ``codes`` (0: all), in chunks.

    Each result is ``piece`` with its notes of the span and instruments replaced by the new
    ones (:func:`with_original`).
    """
    from tuplet.encoding.fim import fill_mask

    chunk = max(1, run.enc.max_beat // 2)
    passes = [(s, min(s + chunk, end), code) for s in range(start, end, chunk) for code in codes]
    bodies = _fill_span(run, body, *passes[0], n=run.options.n)
    for s, e, code in passes[1:]:  # each piece goes on from its own first pass
        bodies = [_fill_span(run, b, s, e, code, 1)[0] for b in bodies]
    target = np.zeros(len(body), dtype=bool)
    for code in codes:
        target |= fill_mask(body, run.big, start, end - 1, code)
    held, beats, instrument = held_notes(run, piece)
    replaced = held & (beats >= start) & (beats < end)
    if 0 not in codes:
        replaced &= np.isin(instrument, codes)
    pieces = []
    # how much of the span the fill covers, against what the span held (a new part: any part)
    before = beats[held & (beats >= start) & (beats < end) & (replaced | (mode == "add-part"))]
    for out in bodies:
        new = added_rows(run, out, body[~target])
        notes = with_original(run, piece, replaced, new)
        covered = np.unique(new[:, run.col["beat"]] - 1)
        details = {
            "beats_with_new_notes": len(covered),
            "beats_with_notes_before": len(np.unique(before)),
        }
        pieces.append(Piece(notes, run.whole(out), len(new), details))
    return run.finish(mode, pieces, request)


def infill(
    lm: LoadedModel,
    piece: Notes,
    start_beat: int,
    end_beat: int,
    *,
    instruments: list[str] | None = None,
    options: GenerationOptions | None = None,
) -> Generation:
    """Regenerate beats ``start_beat`` to ``end_beat`` (excluded) of a piece.

    Every part in the span is rewritten, or, with ``instruments``, only those (one pass each,
    in the order given); everything else stays exactly as the piece has it (its resolution,
    velocities, programs, tempo, meter and key maps), and the new notes are added.

    Raises:
        SpanError: A span outside the piece.
        UsageError: A model without fill-in-the-middle, a piece without usable notes, or an
            unknown instrument.
    """
    options = options or GenerationOptions()
    check_fill(lm)
    run = Session(lm, options)
    codes = instrument_codes(instruments, run.enc)
    body = prompt_body(run, piece, "piece")
    length = piece_end_beat(run, body)
    if not 0 <= start_beat < end_beat or start_beat >= length:
        raise SpanError(
            f"span {start_beat}:{end_beat} is outside the piece (beats 0:{length}): "
            "give START:END with START < END and START inside the piece"
        )
    request = {"span_beats": [start_beat, end_beat], "instruments": instruments}
    return _infill(run, piece, body, start_beat, end_beat, codes or [0], "infill", request)


def add_part(
    lm: LoadedModel,
    piece: Notes,
    instrument: str,
    *,
    options: GenerationOptions | None = None,
) -> Generation:
    """A new part for ``instrument`` over the whole piece, written to fit the other parts.

    Raises:
        UsageError: A model without fill-in-the-middle, a piece without usable notes, an
            unknown instrument, a family of several (``strings``), or one the piece has.
    """
    options = options or GenerationOptions()
    check_fill(lm)
    run = Session(lm, options)
    instrument = resolve_instrument(instrument, run.enc)  # "fiddle" is the violin
    code = instrument_code(instrument, run.enc)
    body = prompt_body(run, piece, "piece")
    notes = body[body[:, 0] == run.types["note"]]
    if (notes[:, run.col["instrument"]] == code).any():
        raise UsageError(
            f"the piece already has a {instrument} part; to rewrite it, infill a span "
            f"with --instruments {instrument}"
        )
    length = piece_end_beat(run, body)
    return _infill(run, piece, body, 0, length, [code], "add-part", {"instrument": instrument})


def bar_beats(notes: Notes | None, start_bar: int, end_bar: int) -> tuple[int, int]:
    """Beats where bars ``start_bar`` and ``end_bar`` begin (bar 0 is the first bar).

    Bars follow the piece's time-signature map (4/4 where none is stated).

    Raises:
        UsageError: Negative bars, or a bar that starts in the middle of a beat (e.g. in 7/8).
    """
    if start_bar < 0 or end_bar < 0:
        raise UsageError(f"bars must be >= 0, got {start_bar}:{end_bar}")
    res = 12
    sig_ticks = np.zeros(1, dtype=np.int64)
    sig = [(4, 4)]
    if notes is not None and len(notes.timesig_ticks):
        sig_ticks = np.round(notes.timesig_ticks * res / notes.ticks_per_beat).astype(np.int64)
        sig = list(
            zip(notes.timesig_numerator.tolist(), notes.timesig_denominator.tolist(), strict=True)
        )
        if sig_ticks[0] > 0:
            sig_ticks, sig = np.concatenate([[0], sig_ticks]), [(4, 4), *sig]
    starts, tick = [], 0
    for _ in range(max(start_bar, end_bar) + 1):
        starts.append(tick)
        num, den = sig[int(np.searchsorted(sig_ticks, tick, side="right")) - 1]
        tick += num * 4 * res // den
    found = []
    for bar in (start_bar, end_bar):
        if starts[bar] % res:
            raise UsageError(f"bar {bar} starts inside a beat: give the span in beats")
        found.append(starts[bar] // res)
    return found[0], found[1]


def report(generation: Generation, index: int, lm: LoadedModel) -> dict[str, Any]:
    """What the command line writes beside piece ``index`` (0-based) of a generation.

    Returns:
        A JSON-safe dict: the model, the mode and its request, the sampling settings and
        limits, the seed, the piece's place in the batch, its notes (all, and written by the
        model), beats and seconds, the generation time of the batch and its new notes per
        second, and the mode's details (e.g. a loop's wrap-around scores).
    """
    import tuplet

    o = generation.options
    piece = generation.pieces[index]
    return {
        "tuplet_version": tuplet.__version__,
        "model": lm.describe(),
        "mode": generation.mode,
        "request": generation.request,
        "settings": (o.settings or lm.settings).to_dict(),
        "limits": asdict(o.limits),
        "any_instrument": o.any_instrument,
        "seed": generation.seed,
        "sample": index + 1,
        "batch_size": len(generation.pieces),
        "notes": len(piece.notes),
        "new_notes": piece.new_notes,
        "beats": round(piece.notes.length_beats, 3),
        "seconds": round(piece.notes.length_seconds, 3),
        "generation_seconds": round(generation.seconds, 4),
        "notes_per_second": round(generation.notes_per_second, 2),
        **piece.details,
    }


__all__ = [
    "ALL_PARTS_TRIES",
    "CONTEXT_SHARE",
    "DTYPES",
    "Generation",
    "GenerationOptions",
    "LoadedModel",
    "Piece",
    "Session",
    "SpanError",
    "add_part",
    "bar_beats",
    "can_fill",
    "check_fill",
    "check_fill_config",
    "continuation",
    "infill",
    "instrument_codes",
    "load_model",
    "note_instruments",
    "piece_end_beat",
    "prompt_body",
    "report",
    "unconditional",
]
