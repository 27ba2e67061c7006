"""Loops: ``n_bars`` bars that repeat seamlessly.

A loop is *seamless* when

1. it is exactly ``n_bars`` bars long: every note starts inside it and ends by its end
   (durations are clipped), and its MIDI file ends exactly at the loop's end
   (:func:`loop_midi_notes`);
2. its last bar leads into its first under the model: ``tries`` whole loops are sampled,
   and the last bar of the one whose wrap-around is most likely is rewritten ``tries`` times
   by fill-in-the-middle with the loop's first bar(s) (two for loops of three bars or more)
   placed after it, so the model writes the seam knowing what follows;
3. of all these candidates (the whole loops and the rewrites), the one whose wrap-around is
   most likely is kept; the wrap-around score (:func:`wrap_nll`) is the mean negative
   log-likelihood per event, in nats, of the loop's first bar(s) played again right after
   it, under the model. The whole loops stay in the running because a model weak at filling
   can leave a rewritten bar nearly empty (the shipped default model did, in 5 of 8 two-bar
   loops; see ``docs/default-model.md``); the report's ``seam`` says which kind won.

A loop made from a prompt keeps the prompt and only has its seam rewritten (the candidates
are the rewrites). Without fill events (the ``mmt`` encoding, or a model trained without
them), and for one-bar loops, there are no rewrites: the best of ``tries`` whole loops is
kept. New loops keep one meter: time-signature events are not sampled (the tuplet encoding
gets the meter as an event at beat 0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from tuplet.encoding import decode
from tuplet.errors import UsageError
from tuplet.generation.generate import (
    Generation,
    GenerationOptions,
    LoadedModel,
    Piece,
    Session,
    can_fill,
    instrument_codes,
    note_instruments,
    piece_end_beat,
    prompt_body,
)
from tuplet.notes import Notes

LOOP_TICKS_PER_BEAT = 480
"""Loops are written at this resolution, so that the file can end exactly at the loop's end."""


def wrap_nll(run: Session, body: np.ndarray, loop_beats: int, repeat_beats: int) -> float:
    """The wrap-around score of a loop: how likely its start is right after its end.

    Args:
        run: The session (its model scores).
        body: The loop's timed rows (beats from 0).
        loop_beats: The loop's length.
        repeat_beats: How much of its start is played again.

    Returns:
        The mean negative log-likelihood per event (nats) of the notes in the first
        ``repeat_beats`` beats, placed again from ``loop_beats`` on, given the loop before
        them; ``inf`` when that part has no notes.
    """
    import torch

    c = run.col
    first = body[(body[:, 0] == run.types["note"]) & (body[:, c["beat"]] - 1 < repeat_beats)]
    if len(first) == 0:
        return math.inf
    seq = run.whole(np.concatenate([body, run.shift(first, loop_beats)]))[:-1]
    limit = run.lm.model.config.max_seq_len
    if len(seq) > limit:  # keep the header and the latest events
        head = int(np.flatnonzero(seq[:, 0] == run.types["start-of-notes"])[0]) + 1
        seq = np.concatenate([seq[:head], seq[len(seq) - (limit - head) :]])
    start = max(len(seq) - len(first), 1)
    model = run.lm.model
    with torch.inference_mode():
        device = next(model.parameters()).device
        out = model.loss(torch.as_tensor(seq, device=device)[None])
    return float(out.event_nll[0, start - 1 :].mean())


def _seam(
    run: Session,
    body: np.ndarray,
    instruments: list[int],
    loop_beats: int,
    bar: int,
    repeat: int,
    tries: int,
) -> list[np.ndarray]:
    """Rewrite the loop's last bar with its first ``repeat`` beats placed after it."""
    from tuplet.encoding.fim import fill_mask, fill_prompt

    c = run.col
    first = body[(body[:, 0] == run.types["note"]) & (body[:, c["beat"]] - 1 < repeat)]
    codes = run.whole(run.body(np.concatenate([body, run.shift(first, loop_beats)])), instruments)
    prompt = fill_prompt(codes, run.enc, loop_beats - bar, loop_beats - 1, 0)
    if len(prompt) >= run.max_events - 16:
        raise UsageError("the loop holds too many events for the model: ask for fewer bars")
    kept = body[~fill_mask(body, run.enc, loop_beats - bar, loop_beats - 1, 0)]
    outs = run.sample(prompt, tries, max_beats=None)
    return [run.body(np.concatenate([kept, run.body(out[len(prompt) :])])) for out in outs]


def _clip(notes: Notes, end_ticks: int) -> Notes:
    """Notes starting before ``end_ticks``, cut so that none sounds past it."""
    notes = notes.select(notes.onset_ticks < end_ticks)
    return replace(
        notes, duration_ticks=np.minimum(notes.duration_ticks, end_ticks - notes.onset_ticks)
    )


def loop(
    lm: LoadedModel,
    n_bars: int,
    *,
    prompt: Notes | None = None,
    instruments: list[str] | None = None,
    meter: tuple[int, int] | None = None,
    tries: int = 4,
    options: GenerationOptions | None = None,
) -> Generation:
    """Loops of ``n_bars`` bars that repeat seamlessly (see the module docstring).

    Args:
        lm: The model.
        n_bars: Bars per loop.
        prompt: Make a loop of this piece's first ``n_bars`` bars (only the seam is
            rewritten) instead of new music.
        instruments: Instrument names of a new loop (None: the model picks).
        meter: (numerator, denominator); default: the prompt's first time signature, or 4/4.
        tries: Whole loops to sample, and (with fill-in-the-middle) seam rewrites of the best.
        options: Shared knobs.

    Returns:
        The loops; each piece's details give ``loop_beats``, the wrap-around score of the
        chosen seam and of every try.

    Raises:
        UsageError: A meter whose bars are not whole beats, a loop longer than the model's
            beats, an unknown instrument, or a prompt without notes.
    """
    options = options or GenerationOptions()
    if n_bars < 1 or tries < 1:
        raise UsageError(f"a loop needs at least 1 bar and 1 try, got {n_bars} and {tries}")
    if prompt is not None and instruments is not None:
        raise UsageError("a loop made from a prompt keeps its instruments: leave out instruments")
    if prompt is not None and meter is not None:
        raise UsageError("a loop made from a prompt keeps its meter: leave out the meter")
    run = Session(lm, options)
    codes = instrument_codes(instruments, run.enc)
    shape = _Shape.of(run, n_bars, prompt, meter, seam=n_bars >= 2 and can_fill(lm))
    given = None if prompt is None else _given(run, prompt, shape)
    pieces = []
    for _ in range(options.n):
        if given is not None:
            bodies, declared = [given], [run.declared(run.whole(given))]
        else:
            bodies, declared = _whole_loops(run, codes, shape, tries)
        pieces.append(_best_loop(run, shape, bodies, declared, tries, prompt, given))
    request = {"bars": n_bars, "meter": shape.meter, "tries": tries, "instruments": instruments}
    return run.finish("loop", pieces, request)


@dataclass(frozen=True)
class _Shape:
    """A loop's bars and beats, its seam, and the meter rows its codes carry.

    Attributes:
        n_bars: Bars per loop.
        num: The meter's numerator.
        den: Its denominator.
        bar: Beats per bar.
        length: Beats per loop.
        repeat: Beats of the loop's start heard again after its end to score the seam.
        seam: Whether the seam is rewritten (fill-in-the-middle, 2 bars or more).
        meta: The time-signature row (none where the encoding has no meter).
        forbid: Event types the sampler must not add (another time signature).
    """

    n_bars: int
    num: int
    den: int
    bar: int
    length: int
    repeat: int
    seam: bool
    meta: tuple[np.ndarray, ...]
    forbid: tuple[str, ...]

    @property
    def meter(self) -> str:
        """``"num/den"``."""
        return f"{self.num}/{self.den}"

    @classmethod
    def of(
        cls,
        run: Session,
        n_bars: int,
        prompt: Notes | None,
        meter: tuple[int, int] | None,
        seam: bool,
    ) -> _Shape:
        """The shape of an ``n_bars`` loop in ``meter`` (else the prompt's first, else 4/4).

        Raises:
            UsageError: Bars that are not whole beats, a loop and seam longer than the model's
                beats, or a meter the encoding cannot hold.
        """
        from tuplet.encoding.vocab import meter_code

        if meter is None:
            meter = (4, 4)
            if prompt is not None and len(prompt.timesig_ticks) > 0:
                meter = (int(prompt.timesig_numerator[0]), int(prompt.timesig_denominator[0]))
        num, den = meter
        bar_ticks = num * 4 * run.enc.resolution / den
        if num < 1 or den < 1 or bar_ticks % run.enc.resolution:
            raise UsageError(
                f"a {num}/{den} bar is not a whole number of beats: choose another meter"
            )
        bar = int(bar_ticks) // run.enc.resolution
        length = n_bars * bar
        repeat = bar * (1 if n_bars <= 2 else 2)
        if length + repeat > run.enc.max_beat:
            raise UsageError(
                f"a {n_bars}-bar loop in {num}/{den} with its seam needs {length + repeat} "
                f"beats; the model knows {run.enc.max_beat}: ask for fewer bars"
            )
        meta: tuple[np.ndarray, ...] = ()
        forbid: tuple[str, ...] = ()
        if "time-signature" in run.types:
            code = int(meter_code(np.array([num]), np.array([den]))[0])
            if code == 0:
                raise UsageError(f"the {run.enc.name} encoding cannot hold the meter {num}/{den}")
            meta = (run.row("time-signature", beat=1, position=1, meter=code),)
            forbid = ("time-signature",)
        return cls(n_bars, num, den, bar, length, repeat, seam, meta, forbid)


def _given(run: Session, prompt: Notes, shape: _Shape) -> np.ndarray:
    """The body of a prompt's first bars, in the loop's meter.

    Raises:
        UsageError: The prompt's notes end before the loop's last bar.
    """
    ends = piece_end_beat(run, prompt_body(run, prompt, "prompt"))
    if ends <= shape.length - shape.bar:  # its last bar of the loop would be silent
        raise UsageError(
            f"the prompt has {-(-ends // shape.bar)} bar(s) of {shape.meter}, fewer than the "
            f"{shape.n_bars} the loop needs: ask for fewer bars"
        )
    given = prompt_body(run, prompt, "prompt", shape.length)
    no_meter = given[given[:, 0] != run.types.get("time-signature", -1)]
    return run.body(np.concatenate([no_meter, *shape.meta]))


def _whole_loops(
    run: Session, codes: list[int] | None, shape: _Shape, tries: int
) -> tuple[list[np.ndarray], list[list[int]]]:
    """``tries`` new loops of the shape (bodies, and each one's declared instruments)."""
    if codes is None:
        header = run.sample(run.row("start-of-song"), 1, header_only=True)[0]
    else:
        header = run.header(codes)
    outs = run.sample(
        np.concatenate([header, *shape.meta]),
        tries,
        instruments=codes,
        max_beats=shape.length,
        forbid_types=shape.forbid,
    )
    return [run.body(out) for out in outs], [run.declared(out) for out in outs]


def _best_loop(
    run: Session,
    shape: _Shape,
    bodies: list[np.ndarray],
    declared: list[list[int]],
    tries: int,
    prompt: Notes | None,
    given: np.ndarray | None,
) -> Piece:
    """The loop that wraps around best, among the whole loops and the rewrites of a seam.

    A new loop keeps its whole loops in the running beside the seam rewrites (a model weak at
    filling can leave a rewritten bar nearly empty); a prompt's loop only has its seam
    rewritten.
    """
    length, repeat = shape.length, shape.repeat
    candidates = [] if shape.seam and given is not None else list(bodies)
    scores = [wrap_nll(run, b, length, repeat) for b in candidates]
    kinds = ["choice"] * len(candidates)
    if shape.seam:
        base = _best(scores) if scores else 0  # the seam of the best whole loop
        fills = _seam(run, bodies[base], declared[base], length, shape.bar, repeat, tries)
        candidates += fills
        scores += [wrap_nll(run, b, length, repeat) for b in fills]
        kinds += ["fill"] * len(fills)
    best = _best(scores)
    chosen = candidates[best]
    notes = _clip(decode(run.whole(chosen), run.big), length * run.enc.resolution)
    if prompt is not None:  # the loop's notes on the prompt's tracks (names, channels)
        notes = _on_tracks(run, prompt, notes, length)
    if not shape.meta:  # the encoding has no meter: state it in the file
        notes = replace(
            notes,
            timesig_ticks=np.zeros(1, dtype=np.int64),
            timesig_numerator=np.array([shape.num]),
            timesig_denominator=np.array([shape.den]),
        )
    new = run.n_notes(chosen)
    if given is not None:  # only the seam is new
        kept = given[given[:, run.col["beat"]] - 1 < length - shape.bar] if shape.seam else given
        new -= run.n_notes(kept)
    details = {
        "loop_bars": shape.n_bars,
        "loop_beats": length,
        "meter": shape.meter,
        "seam": kinds[best],
        "wrap_nll": _finite(scores[best]),
        "wrap_nll_tries": [_finite(s) for s in scores],
    }
    return Piece(notes, run.whole(chosen), new, details)


def _on_tracks(run: Session, prompt: Notes, notes: Notes, length: int) -> Notes:
    """A prompt's loop on the prompt's tracks (the loop keeps its own maps).

    Each note goes on the track of its instrument that played there
    (:func:`tuplet.generation.tracks.place_notes`).
    """
    from tuplet.generation.tracks import place_notes
    from tuplet.notes import to_resolution

    given = to_resolution(prompt, notes.ticks_per_beat)
    given = given.select(given.onset_ticks < length * notes.ticks_per_beat)
    return place_notes(given, notes, lambda n: note_instruments(run, n))


def _best(scores: list[float]) -> int:
    """The index of the lowest score; a non-finite one (nothing to score) never wins."""
    return int(np.argmin([x if math.isfinite(x) else math.inf for x in scores]))


def _finite(x: float) -> float | None:
    return None if not math.isfinite(x) else round(x, 6)


def loop_midi_notes(notes: Notes, loop_beats: int) -> Notes:
    """A loop as written to MIDI: a file that ends exactly at the loop's end.

    MIDI writers end each track one tick after its last event, so the notes are moved to
    :data:`LOOP_TICKS_PER_BEAT`, end at most one tick (1/480 beat) before the loop's end, and
    a tempo mark repeating the tempo in force sits on that last tick: the end-of-track then
    falls exactly on the loop's end. Readers that drop repeated tempo marks (tuplet does)
    see the loop unchanged.
    """
    from tuplet.notes import to_resolution

    res = LOOP_TICKS_PER_BEAT
    n = to_resolution(notes, res)
    end = loop_beats * res
    n = replace(n, duration_ticks=np.minimum(n.duration_ticks, end - 1 - n.onset_ticks))
    keep = n.tempo_ticks < end - 1
    ticks, qpm = n.tempo_ticks[keep], n.tempo_qpm[keep]
    if len(ticks) == 0:  # MIDI's default, stated, so that the mark at the end repeats it
        ticks, qpm = np.zeros(1, dtype=np.int64), np.array([120.0])
    return replace(
        n,
        tempo_ticks=np.concatenate([ticks, [end - 1]]),
        tempo_qpm=np.concatenate([qpm, qpm[-1:]]),
    )


__all__ = ["LOOP_TICKS_PER_BEAT", "loop", "loop_midi_notes", "wrap_nll"]


def loop_label(notes: Notes) -> str:
    """What a loop's file name says of it: its key and tempo, e.g. ``D-minor-112bpm``.

    The key is the one the loop states, else the one its pitches suggest (no key for drums
    alone); the tempo is its first (120 where it states none).
    """
    from tuplet.analysis.describe import estimate_key, key_name

    if len(notes.key_fifths):
        key: str | None = key_name(int(notes.key_fifths[0]), int(notes.key_mode[0]))
    else:
        guess = estimate_key(notes)
        key = key_name(guess[0], guess[1]) if guess is not None else None
    qpm = float(notes.tempo_qpm[0]) if len(notes.tempo_qpm) else 120.0
    parts = [key.replace(" ", "-")] if key else []
    return "-".join([*parts, f"{round(qpm)}bpm"])
