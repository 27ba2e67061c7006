"""Musical metrics: pure functions of one :class:`~tuplet.notes.Notes` table.

The definitions follow MusPy (Dong, Chen, McAuley, Berg-Kirkpatrick: "MusPy: A Toolkit for
Symbolic Music Generation", ISMIR 2020) and the Multitrack Music Transformer paper (Dong,
Chen, Dubnov, McAuley, Berg-Kirkpatrick: ICASSP 2023), which reports pitch-class entropy,
scale consistency and groove consistency on samples and ground truth trimmed to 64 beats
(:func:`trim`). They are written again here rather than copied, and differ from MusPy's code
where that code has edge bugs (each docstring says how):

* a note that ends exactly on a beat or measure line does not occupy the next one, so a
  piece of 16 whole 4/4 measures has 16 measures, not 17 with an empty last one;
* ``polyphony_rate`` counts steps with at least ``threshold`` pitches (MusPy counts more
  than ``threshold``, contradicting its own docstring);
* a piece with no pitched notes has an undefined (NaN) pitch range, not ``0 - 127``;
* grids (groove slots, drum patterns, piano-roll steps) are taken at a stated resolution
  (12 ticks per beat, MMT's), not at whatever resolution the file happens to have.

Unless a docstring says otherwise, a metric of a piece for which it is undefined (no notes,
no pitched notes, no drum notes, fewer than two measures) is NaN, so set statistics can
leave such pieces out. "Pitched notes" are the non-drum notes.

Comparing two sets of pieces on one metric is :mod:`tuplet.analysis.compare`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from tuplet.analysis.wholepiece import WHOLE_PIECE_METRICS
from tuplet.notes import Notes, maps_before, to_resolution

GRID_TICKS_PER_BEAT = 12
"""Resolution of the onset, drum-pattern and piano-roll grids (MMT's 12 ticks per beat)."""
BEATS_PER_MEASURE = 4
"""Measure length used by the measure metrics (MMT's evaluation assumes 4/4)."""
TRIM_BEATS = 64
"""The MMT paper trims samples and ground truth to 64 beats before measuring."""

_MAJOR = np.array([1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 1], dtype=bool)
_MINOR = np.array([1, 0, 1, 1, 0, 1, 0, 1, 1, 0, 1, 0], dtype=bool)  # natural minor
SCALES: np.ndarray = np.stack(
    [np.roll(_MAJOR, root) for root in range(12)] + [np.roll(_MINOR, root) for root in range(12)]
)
"""(24, 12) bool: the 12 major scales (rows 0..11, row r has root r) then the 12 minor ones."""
DRUM_PATTERNS: dict[str, tuple[int, ...]] = {"duple": (0, 3, 6, 9), "triple": (0, 4, 8)}
"""Positions (ticks at 12 per beat) of each drum pattern: 16th notes, or 8th-note triplets."""


# ------------------------------------------------------------------------------ helpers
def trim(notes: Notes, beats: float = TRIM_BEATS) -> Notes:
    """The first ``beats`` beats of a piece, as the MMT paper measures samples.

    Notes starting at or after ``beats`` are dropped and notes sounding past it are cut
    there (as MusPy's ``Music.trim``, which the paper uses); map entries at or after it go.

    Args:
        notes: The piece.
        beats: Length to keep, in beats (> 0).

    Returns:
        A new table.

    Raises:
        ValueError: ``beats`` is not positive.
    """
    if not beats > 0:
        raise ValueError(f"beats must be positive, got {beats}")
    end_ticks = round(beats * notes.ticks_per_beat)
    kept = maps_before(notes.select(notes.onset_ticks < end_ticks), end_ticks)
    return replace(
        kept, duration_ticks=np.minimum(kept.duration_ticks, end_ticks - kept.onset_ticks)
    )


def _pitched(notes: Notes) -> Notes:
    return notes.select(~notes.is_drum)


def _length_ticks(notes: Notes) -> int:
    """Ticks from 0 to the end of the last note; a zero-length note still takes its tick."""
    if len(notes) == 0:
        return 0
    return int(np.maximum(notes.onset_ticks + notes.duration_ticks, notes.onset_ticks + 1).max())


def _occupied(notes: Notes, span_ticks: int) -> tuple[np.ndarray, int]:
    """Which spans of ``span_ticks`` ticks hold sound, and how many spans the piece has.

    A note occupies every span its ``[onset, end)`` overlaps (a zero-length note, the span
    of its onset).
    """
    n_spans = -(-_length_ticks(notes) // span_ticks)
    first = notes.onset_ticks // span_ticks
    last = np.maximum(notes.onset_ticks, notes.onset_ticks + notes.duration_ticks - 1)
    last = last // span_ticks
    change = np.zeros(n_spans + 1, dtype=np.int64)
    np.add.at(change, first, 1)
    np.add.at(change, last + 1, -1)
    return np.cumsum(change[:-1]) > 0, n_spans


def pitch_class_histogram(notes: Notes) -> np.ndarray:
    """Number of pitched notes of each pitch class (C = 0 ... B = 11): int64 (12,)."""
    return np.bincount(_pitched(notes).pitch.astype(np.int64) % 12, minlength=12)


# ------------------------------------------------------------------------------ pitch
def pitch_class_entropy(notes: Notes) -> float:
    """Shannon entropy (bits) of the pitch-class histogram of the pitched notes.

    ``H = -sum_c p(c) log2 p(c)`` with ``p(c)`` the fraction of pitched notes (counted per
    note, not per duration) of pitch class ``c``; from 0 (one pitch class) to
    ``log2(12) = 3.585`` (all twelve equally often). Drum notes are left out. NaN without
    pitched notes. Used by Wu & Yang, "The Jazz Transformer on the Front Line" (ISMIR 2020),
    by MusPy (Dong et al. 2020) and the MMT paper (Dong et al. 2023).
    """
    counts = pitch_class_histogram(notes)
    total = counts.sum()
    if total == 0:
        return math.nan
    p = counts[counts > 0] / total
    return float(-(p * np.log2(p)).sum())


def pitch_in_scale_rate(notes: Notes, root: int, mode: str) -> float:
    """Fraction of pitched notes whose pitch class lies in one major or natural-minor scale.

    Args:
        notes: The piece.
        root: Pitch class of the scale's tonic (0 = C).
        mode: ``"major"`` or ``"minor"``.

    Returns:
        ``#(pitched notes in scale) / #(pitched notes)``; NaN without pitched notes
        (MusPy, Dong et al. 2020).

    Raises:
        ValueError: An unknown mode.
    """
    if mode not in ("major", "minor"):
        raise ValueError(f"mode must be 'major' or 'minor', not {mode!r}")
    counts = pitch_class_histogram(notes)
    if counts.sum() == 0:
        return math.nan
    scale = SCALES[(root % 12) + (12 if mode == "minor" else 0)]
    return float(counts[scale].sum() / counts.sum())


def scale_consistency(notes: Notes) -> float:
    """The largest fraction of pitched notes in one scale, over the 24 major and minor scales.

    ``max over (root, mode) of #(pitched notes in scale) / #(pitched notes)``; 1.0 for a
    piece in one diatonic scale. Drum notes are left out; NaN without pitched notes. From
    Mogren, "C-RNN-GAN" (2016), as implemented in MusPy (Dong et al. 2020) and reported by
    the MMT paper (Dong et al. 2023).
    """
    counts = pitch_class_histogram(notes)
    if counts.sum() == 0:
        return math.nan
    return float((SCALES @ counts).max() / counts.sum())


def pitch_range(notes: Notes) -> float:
    """Highest minus lowest pitch of the pitched notes, in semitones.

    Drum notes are left out. NaN without pitched notes (MusPy returns 0 without notes and
    ``-127`` for drums only). MusPy (Dong et al. 2020).
    """
    pitch = _pitched(notes).pitch
    if len(pitch) == 0:
        return math.nan
    return float(int(pitch.max()) - int(pitch.min()))


def n_pitches_used(notes: Notes) -> int:
    """Number of distinct pitches among the pitched notes (0 without any). MusPy (2020)."""
    return len(np.unique(_pitched(notes).pitch))


def n_pitch_classes_used(notes: Notes) -> int:
    """Number of distinct pitch classes among the pitched notes (0 without any). MusPy."""
    return int(np.count_nonzero(pitch_class_histogram(notes)))


# -------------------------------------------------------------------------- polyphony
def _pitches_sounding(notes: Notes, ticks_per_beat: int) -> np.ndarray:
    """Distinct pitched pitches sounding at each step ``0 .. end of the last pitched note``.

    The piece is first put on a grid of ``ticks_per_beat`` steps per beat; a note sounds on
    the steps ``[onset, end)``; two notes of one pitch that overlap count once, as in a
    binary piano roll.
    """
    grid = to_resolution(_pitched(notes), ticks_per_beat)
    on, end, pitch = grid.onset_ticks, grid.onset_ticks + grid.duration_ticks, grid.pitch
    keep = end > on
    on, end, pitch = on[keep], end[keep], pitch[keep].astype(np.int64)
    n_steps = int(end.max()) if len(end) else 0
    if n_steps == 0:
        return np.zeros(0, dtype=np.int64)
    # merge the overlapping notes of each pitch: sort by (pitch, onset); a note starts a new
    # run when it begins after every earlier note of its pitch has ended
    span = n_steps + 1
    order = np.lexsort((on, pitch))
    key_on, key_end = pitch[order] * span + on[order], pitch[order] * span + end[order]
    reach = np.maximum.accumulate(key_end)
    starts = np.ones(len(order), dtype=bool)
    starts[1:] = key_on[1:] > reach[:-1]
    run = np.cumsum(starts) - 1
    run_on = key_on[starts] % span
    run_end = np.zeros(int(run[-1]) + 1, dtype=np.int64)
    np.maximum.at(run_end, run, key_end - pitch[order] * span)
    change = np.zeros(n_steps + 1, dtype=np.int64)
    np.add.at(change, run_on, 1)
    np.add.at(change, run_end, -1)
    return np.cumsum(change[:-1])


def polyphony(notes: Notes, ticks_per_beat: int = GRID_TICKS_PER_BEAT) -> float:
    """Mean number of distinct pitches sounding, over the steps where at least one sounds.

    ``sum_t n(t) / #{t : n(t) >= 1}``, ``n(t)`` the distinct pitched pitches on at step
    ``t`` of a ``ticks_per_beat`` grid. Drum notes are left out; NaN when no pitched note
    sounds. MusPy (Dong et al. 2020).
    """
    sounding = _pitches_sounding(notes, ticks_per_beat)
    busy = np.count_nonzero(sounding)
    return float(sounding.sum() / busy) if busy else math.nan


def polyphony_rate(
    notes: Notes, threshold: int = 2, ticks_per_beat: int = GRID_TICKS_PER_BEAT
) -> float:
    """Fraction of steps where at least ``threshold`` distinct pitches sound.

    ``#{t : n(t) >= threshold} / T`` over the steps ``0 .. T-1`` of a ``ticks_per_beat``
    grid up to the end of the last pitched note (MusPy counts ``n(t) > threshold``, which
    is not what its docstring says). Drum notes are left out; NaN when no pitched note
    sounds. Called "polyphonicity" in MuseGAN (Dong et al., AAAI 2018); MusPy (2020).
    """
    sounding = _pitches_sounding(notes, ticks_per_beat)
    if len(sounding) == 0:
        return math.nan
    return float(np.count_nonzero(sounding >= threshold) / len(sounding))


# ---------------------------------------------------------------------- empty spans
def empty_beat_rate(notes: Notes) -> float:
    """Fraction of beats in which no note (drums included) sounds.

    Beat ``k`` is ticks ``[k, k+1) * ticks_per_beat``; the piece has ``ceil(L / tpb)``
    beats, ``L`` the end of its last note; a note occupies each beat its ``[onset, end)``
    overlaps (MusPy also counts the beat a note ends on, and one beat more at the end).
    NaN without notes. MusPy (Dong et al. 2020), Pypianoroll (Dong et al. 2018).
    """
    if len(notes) == 0:
        return math.nan
    occupied, n_beats = _occupied(notes, notes.ticks_per_beat)
    return float(1.0 - occupied.sum() / n_beats)


def empty_measure_rate(notes: Notes, beats_per_measure: float = BEATS_PER_MEASURE) -> float:
    """Fraction of measures in which no note (drums included) sounds.

    As :func:`empty_beat_rate`, with measures of ``beats_per_measure`` beats from tick 0 (a
    constant meter is assumed). NaN without notes. MuseGAN (Dong et al. 2018); MusPy (2020).
    """
    if len(notes) == 0:
        return math.nan
    measure_ticks = max(1, round(beats_per_measure * notes.ticks_per_beat))
    occupied, n_measures = _occupied(notes, measure_ticks)
    return float(1.0 - occupied.sum() / n_measures)


# ---------------------------------------------------------------------------- rhythm
def groove_consistency(
    notes: Notes,
    beats_per_measure: float = BEATS_PER_MEASURE,
    ticks_per_beat: int = GRID_TICKS_PER_BEAT,
    muspy_measures: bool = False,
) -> float:
    """One minus the mean Hamming distance between the onset patterns of adjacent measures.

    ``GC = 1 - 1/(M-1) sum_{i=1}^{M-1} d(G_i, G_{i+1}) / Q``: the piece is put on a grid of
    ``ticks_per_beat`` steps per beat; measures are ``Q = beats_per_measure *
    ticks_per_beat`` steps (48 by default, as in the MMT paper); ``G_i`` is the binary
    vector of the slots of measure ``i`` where some note (drums included) starts; the piece
    has ``M = ceil(L / Q)`` measures, ``L`` the end of its last note. 1 when every measure
    has the same onsets. NaN with fewer than two measures. Wu & Yang, "The Jazz Transformer
    on the Front Line" (ISMIR 2020), as used by MMT (Dong et al. 2023) through MusPy, whose
    count is ``M = floor(L / Q) + 1``: one empty measure more when the last note ends on a
    measure line (as every piece trimmed to 64 beats whose last note is cut there does);
    ``muspy_measures=True`` counts as MusPy does, to reproduce its figures exactly.
    """
    grid = to_resolution(notes, ticks_per_beat)
    slots = max(1, round(beats_per_measure * ticks_per_beat))
    length = _length_ticks(grid)
    n_measures = length // slots + 1 if muspy_measures else -(-length // slots)
    if n_measures < 2:
        return math.nan
    pattern = np.zeros((n_measures, slots), dtype=bool)
    pattern[grid.onset_ticks // slots, grid.onset_ticks % slots] = True
    hamming = np.count_nonzero(pattern[1:] != pattern[:-1])
    return float(1.0 - hamming / (slots * (n_measures - 1)))


def drum_in_pattern_rate(notes: Notes, meter: str = "duple") -> float:
    """Fraction of drum notes whose onset lies on a metrical drum grid.

    Onsets are put on a 12-ticks-per-beat grid; ``duple`` is the 16th-note grid (positions
    0, 3, 6, 9 in the beat), ``triple`` the 8th-note-triplet grid (0, 4, 8). Only drum notes
    count; NaN without them. MuseGAN (Dong et al. 2018); MusPy (2020), which uses the file's
    own resolution and so finds no pattern at resolutions not divisible by 4 or 3.

    Raises:
        ValueError: An unknown meter.
    """
    if meter not in DRUM_PATTERNS:
        raise ValueError(f"meter must be one of {', '.join(DRUM_PATTERNS)}, not {meter!r}")
    drums = to_resolution(notes.select(notes.is_drum), GRID_TICKS_PER_BEAT)
    if len(drums) == 0:
        return math.nan
    in_pattern = np.isin(drums.onset_ticks % GRID_TICKS_PER_BEAT, DRUM_PATTERNS[meter])
    return float(in_pattern.mean())


def drum_pattern_consistency(notes: Notes) -> float:
    """The larger of the duple and triple drum-in-pattern rates; NaN without drum notes.

    MusPy (Dong et al. 2020).
    """
    drums = notes.select(notes.is_drum)
    if len(drums) == 0:
        return math.nan
    return max(drum_in_pattern_rate(drums, meter) for meter in DRUM_PATTERNS)


# -------------------------------------------------------------------------- registry
METRICS: dict[str, Callable[[Notes], float]] = {
    "pitch_class_entropy": pitch_class_entropy,
    "scale_consistency": scale_consistency,
    "groove_consistency": groove_consistency,
    "pitch_range": pitch_range,
    "n_pitches_used": n_pitches_used,
    "n_pitch_classes_used": n_pitch_classes_used,
    "polyphony": polyphony,
    "polyphony_rate": polyphony_rate,
    "empty_beat_rate": empty_beat_rate,
    "empty_measure_rate": empty_measure_rate,
    "drum_pattern_consistency": drum_pattern_consistency,
    **WHOLE_PIECE_METRICS,
}
"""Every per-piece metric by name, with its default settings (the MMT paper's three first;
the whole-piece measures of :mod:`tuplet.analysis.wholepiece` last)."""
PAPER_METRICS: tuple[str, ...] = ("pitch_class_entropy", "scale_consistency", "groove_consistency")
"""The metrics of the MMT paper's table (closer to the ground truth is better)."""


def compute_metrics(notes: Notes, names: tuple[str, ...] | None = None) -> dict[str, float]:
    """Several metrics of one piece.

    Args:
        notes: The piece.
        names: Keys of :data:`METRICS` (default: all of them).

    Returns:
        Name -> value (float; NaN where undefined).

    Raises:
        ValueError: An unknown metric name.
    """
    names = tuple(METRICS) if names is None else names
    unknown = [n for n in names if n not in METRICS]
    if unknown:
        raise ValueError(f"unknown metric(s) {', '.join(unknown)} (known: {', '.join(METRICS)})")
    return {name: float(METRICS[name](notes)) for name in names}


__all__ = [
    "BEATS_PER_MEASURE",
    "DRUM_PATTERNS",
    "GRID_TICKS_PER_BEAT",
    "METRICS",
    "PAPER_METRICS",
    "SCALES",
    "TRIM_BEATS",
    "compute_metrics",
    "drum_in_pattern_rate",
    "drum_pattern_consistency",
    "empty_beat_rate",
    "empty_measure_rate",
    "groove_consistency",
    "n_pitch_classes_used",
    "n_pitches_used",
    "pitch_class_entropy",
    "pitch_class_histogram",
    "pitch_in_scale_rate",
    "pitch_range",
    "polyphony",
    "polyphony_rate",
    "scale_consistency",
    "trim",
]
