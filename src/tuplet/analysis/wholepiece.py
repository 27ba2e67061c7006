"""Whole-piece measures: what a musician hears over a whole piece, not the first 64 beats.

Dead air (the longest silence, empty bars, notes per bar), instruments that play like
themselves (notes inside the instrument's playable range, notes beyond what it can sound at
once, drum notes on kit pieces) and stuck notes (a pitch repeated at one onset, or one onset
after another). Each is a small pure function of a note table, registered in
:data:`tuplet.analysis.metrics.METRICS`, so ``tuplet evaluate`` reports it for samples and held-out
pieces alike (``--trim 0`` for whole pieces). Ranges and polyphonies come from
:mod:`tuplet.ranges`. Bars are ``beats_per_bar`` beats from the file's first time signature
(4 where it has none).
"""

from __future__ import annotations

import math

import numpy as np

from tuplet.notes import Notes
from tuplet.ranges import POLYPHONY_SLOTS, in_range, polyphony_of

KIT_PIECES: frozenset[int] = frozenset(
    {35, 36, 38, 40, 37, 39}  # kicks, snares, side stick, clap
    | {42, 44, 46}  # hi-hats: closed, pedal, open
    | {41, 43, 45, 47, 48, 50}  # toms
    | {49, 51, 52, 53, 55, 57, 59}  # cymbals: crash, ride, china, bell, splash
)
"""General MIDI drum keys of a drum kit: kicks, snares, hi-hats, toms, cymbals."""


def beats_per_bar(notes: Notes) -> float:
    """Beats in a bar by the first time signature (4 without one)."""
    if len(notes.timesig_ticks) == 0:
        return 4.0
    return float(notes.timesig_numerator[0]) * 4.0 / float(notes.timesig_denominator[0])


def _ends(notes: Notes) -> np.ndarray:
    return np.maximum(notes.onset_ticks + notes.duration_ticks, notes.onset_ticks + 1)


def longest_gap_beats(notes: Notes) -> float:
    """The longest time in beats when nothing sounds, from beat 0 to the end of the last note.

    A silent start counts (a piece whose first note comes at beat 40 has a gap of 40). 0 for a
    piece that always sounds; NaN without notes.
    """
    if len(notes) == 0:
        return math.nan
    order = np.argsort(notes.onset_ticks, kind="stable")
    onsets, ends = notes.onset_ticks[order], _ends(notes)[order]
    reach = np.maximum.accumulate(ends)  # the end of all sound so far
    gaps = np.concatenate([[onsets[0]], onsets[1:] - reach[:-1]])
    return float(max(0, int(gaps.max()))) / notes.ticks_per_beat


def _bars(notes: Notes) -> tuple[np.ndarray, np.ndarray]:
    """(notes sounding in each bar, notes starting in each bar) up to the last note's bar."""
    bar = beats_per_bar(notes) * notes.ticks_per_beat
    first = (notes.onset_ticks // bar).astype(np.int64)
    last = ((_ends(notes) - 1) // bar).astype(np.int64)
    n = int(first.max()) + 1  # up to the bar of the last onset
    change = np.zeros(int(max(n, last.max() + 1)) + 1, dtype=np.int64)
    np.add.at(change, first, 1)
    np.add.at(change, last + 1, -1)
    sounding = np.cumsum(change[:-1])[:n]
    return sounding, np.bincount(first, minlength=n)


def empty_bar_share(notes: Notes) -> float:
    """Share of the bars up to the last note's onset in which nothing sounds. NaN without notes."""
    if len(notes) == 0:
        return math.nan
    sounding, _ = _bars(notes)
    return float((sounding == 0).mean())


def notes_per_bar(notes: Notes) -> float:
    """Notes (drums included) per bar, over the bars up to the last note's. NaN without notes."""
    if len(notes) == 0:
        return math.nan
    _, starting = _bars(notes)
    return float(starting.mean())


def in_range_share(notes: Notes) -> float:
    """Share of notes inside their instrument's playable range (drums: on the GM kit map).

    NaN without notes.
    """
    if len(notes) == 0:
        return math.nan
    return float(in_range(notes.pitch, notes.program, notes.is_drum).mean())


def _instrument_keys(notes: Notes) -> np.ndarray:
    """One key per instrument: the program, or 128 for drums."""
    return np.where(notes.is_drum, 128, notes.program.astype(np.int64))


def max_simultaneous(notes: Notes) -> dict[int, int]:
    """The most notes each instrument (GM program; 128 = drums) sounds at once."""
    keys = _instrument_keys(notes)
    out: dict[int, int] = {}
    for key in np.unique(keys):
        mine = keys == key
        starts, ends = notes.onset_ticks[mine], _ends(notes)[mine]
        # a note's start counts before another's end at the same tick (end is exclusive)
        events = np.concatenate([np.stack([starts, np.ones_like(starts)], 1),
                                 np.stack([ends, -np.ones_like(ends)], 1)])  # fmt: skip
        events = events[np.lexsort((events[:, 1], events[:, 0]))]
        out[int(key)] = int(np.cumsum(events[:, 1]).max())
    return out


def over_polyphony_share(notes: Notes) -> float:
    """Share of notes that start while their instrument already sounds all it can at once.

    Instruments whose polyphony is :data:`tuplet.ranges.POLYPHONY_SLOTS` or more (ensembles,
    pads) are not counted as over. NaN without notes.
    """
    if len(notes) == 0:
        return math.nan
    keys = _instrument_keys(notes)
    ends = _ends(notes)
    over = 0
    for key in np.unique(keys):
        limit = polyphony_of(min(int(key), 127), bool(key == 128))
        if limit >= POLYPHONY_SLOTS:
            continue
        mine = np.flatnonzero(keys == key)
        mine = mine[np.argsort(notes.onset_ticks[mine], kind="stable")]
        starts, stops = notes.onset_ticks[mine], ends[mine]
        for i in range(len(mine)):
            # notes listed before it that still sound at its start
            sounding = np.count_nonzero(stops[:i] > starts[i])
            over += int(sounding >= limit)
    return over / len(notes)


def same_onset_pitch_share(notes: Notes) -> float:
    """Share of pitched notes that repeat the pitch of another note at the same onset.

    The second and later of such notes count (a note and its double: one of two). NaN without
    pitched notes.
    """
    pitched = ~notes.is_drum
    if not pitched.any():
        return math.nan
    pairs = np.stack([notes.onset_ticks[pitched], notes.pitch[pitched].astype(np.int64)], 1)
    distinct = len(np.unique(pairs, axis=0))
    return float(1.0 - distinct / len(pairs))


def repeat_share(notes: Notes) -> float:
    """Share of pitched notes whose instrument played the same pitch at its previous onset.

    Per instrument (GM program), onsets in order: a note whose pitch was among the ones the
    instrument started at its onset just before. NaN without pitched notes.
    """
    pitched = ~notes.is_drum
    if not pitched.any():
        return math.nan
    repeats = 0
    programs = notes.program[pitched]
    onsets, pitches = notes.onset_ticks[pitched], notes.pitch[pitched]
    for program in np.unique(programs):
        mine = programs == program
        times = np.unique(onsets[mine])
        step = np.searchsorted(times, onsets[mine])  # which onset of the instrument
        played = {(int(s), int(p)) for s, p in zip(step, pitches[mine], strict=True)}
        repeats += sum((s - 1, p) in played for s, p in played)
    return repeats / int(pitched.sum())


def drum_kit_share(notes: Notes) -> float:
    """Share of drum notes on kit pieces (:data:`KIT_PIECES`). NaN without drum notes."""
    drums = notes.pitch[notes.is_drum]
    if len(drums) == 0:
        return math.nan
    return float(np.isin(drums, list(KIT_PIECES)).mean())


def out_of_range_programs(notes: Notes) -> dict[int, float]:
    """Per GM program played (pitched notes only): the share of its notes outside its range."""
    out: dict[int, float] = {}
    pitched = ~notes.is_drum
    ok = in_range(notes.pitch, notes.program, notes.is_drum)
    for program in np.unique(notes.program[pitched]):
        mine = pitched & (notes.program == program)
        out[int(program)] = float(1.0 - ok[mine].mean())
    return out


WHOLE_PIECE_METRICS = {
    "longest_gap_beats": longest_gap_beats,
    "empty_bar_share": empty_bar_share,
    "notes_per_bar": notes_per_bar,
    "in_range_share": in_range_share,
    "over_polyphony_share": over_polyphony_share,
    "same_onset_pitch_share": same_onset_pitch_share,
    "repeat_share": repeat_share,
    "drum_kit_share": drum_kit_share,
}
"""The whole-piece measures by name (registered in :data:`tuplet.analysis.metrics.METRICS`)."""

__all__ = [
    "KIT_PIECES",
    "WHOLE_PIECE_METRICS",
    "beats_per_bar",
    "drum_kit_share",
    "empty_bar_share",
    "in_range_share",
    "longest_gap_beats",
    "max_simultaneous",
    "notes_per_bar",
    "out_of_range_programs",
    "over_polyphony_share",
    "repeat_share",
    "same_onset_pitch_share",
]
