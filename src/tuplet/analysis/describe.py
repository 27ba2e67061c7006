"""A short, human description of a note table (what ``tuplet show`` prints).

Besides what the file states (tracks, instruments, tempo, meter, key), it gives what a
musician would otherwise work out by ear: the number of bars, a key estimate where the file
states none (:func:`estimate_key`), and whether the timing looks like an unquantised
performance (:func:`off_grid_share`), whose beats and bars need not follow the music.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from tuplet.gm import program_name
from tuplet.notes import Notes

# tonic names along the line of fifths, from Cb (-7 fifths) to A# (+10)
_LINE_OF_FIFTHS = "Cb Gb Db Ab Eb Bb F C G D A E B F# C# G# D# A#".split()

# Krumhansl & Kessler's (1982) probe-tone ratings of the 12 pitch classes above a tonic
MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])

GRIDS_PER_BEAT = (12, 16)
"""The grids a quantised piece's onsets lie on: twelfths (triplets) and sixteenths of a beat."""
GRID_TOLERANCE_BEATS = 1 / 192
"""How far (in beats) an onset may lie from a grid point and still count as on it."""
PERFORMANCE_SHARE = 0.5
"""An off-grid share above this (of :data:`MIN_NOTES_TO_JUDGE` notes or more) looks performed."""
MIN_NOTES_TO_JUDGE = 20


def key_name(fifths: int, mode: int) -> str:
    """``"F# minor"`` for 3 sharps (``fifths`` 3) in minor (``mode`` 1); 0 is major."""
    tonic = _LINE_OF_FIFTHS[fifths + 7 + (3 if mode == 1 else 0)]
    return f"{tonic} {'minor' if mode == 1 else 'major'}"


def estimate_key(notes: Notes) -> tuple[int, int, float] | None:
    """The key a piece's pitches suggest (the Krumhansl-Schmuckler algorithm).

    The durations of the pitched (non-drum) notes, summed by pitch class, are correlated
    (Pearson r) with Krumhansl & Kessler's major and minor profiles rotated to each of the 12
    tonics; the best of the 24 keys wins. C. L. Krumhansl, *Cognitive Foundations of Musical
    Pitch* (1990), ch. 4.

    Args:
        notes: The table.

    Returns:
        ``(fifths, mode, r)``: the key as a key signature would give it (``fifths`` -6..6,
        ``mode`` 0 major, 1 minor; spelt with at most 6 flats or sharps) and its correlation;
        None when no pitched note lasts (or all pitch classes weigh the same).
    """
    pitched = ~notes.is_drum
    weights = np.bincount(
        notes.pitch[pitched].astype(np.int64) % 12,
        weights=notes.duration_ticks[pitched].astype(np.float64),
        minlength=12,
    )
    if weights.std() == 0:
        return None
    best = (-2.0, 0, 0)
    for mode, profile in enumerate((MAJOR_PROFILE, MINOR_PROFILE)):
        for tonic in range(12):
            r = float(np.corrcoef(weights, np.roll(profile, tonic))[0, 1])
            best = max(best, (r, tonic, mode))
    r, tonic, mode = best
    major_tonic = tonic if mode == 0 else (tonic + 3) % 12  # a minor key's relative major
    low = -5 if mode == 0 else -6  # Db major and Eb minor rather than C# major and D# minor
    fifths = (major_tonic * 7 - low) % 12 + low
    return fifths, mode, r


def bar_count(notes: Notes) -> int:
    """Bars up to the end of the last note, following the meter map (4/4 before any).

    A meter change in the middle of a bar ends that bar there (as MIDI files state them).
    """
    end = notes.end_ticks
    ticks = notes.timesig_ticks.tolist()
    meters = list(
        zip(notes.timesig_numerator.tolist(), notes.timesig_denominator.tolist(), strict=True)
    )
    if not ticks or ticks[0] > 0:
        ticks, meters = [0, *ticks], [(4, 4), *meters]
    bars = 0
    for i, (start, (num, den)) in enumerate(zip(ticks, meters, strict=True)):
        stop = min(ticks[i + 1], end) if i + 1 < len(ticks) else end
        if stop > start:
            bar_ticks = num * 4 * notes.ticks_per_beat / den
            bars += math.ceil((stop - start) / bar_ticks - 1e-9)
    return bars


def off_grid_share(notes: Notes) -> float | None:
    """The share of onsets more than :data:`GRID_TOLERANCE_BEATS` from every grid point.

    The grids are :data:`GRIDS_PER_BEAT` (1/12 and 1/16 of a beat): a quantised piece puts
    (almost) every onset on one, a played performance about a quarter of them, by chance.
    The tolerance is at least half a tick, so a coarse resolution counts as quantised.

    Returns:
        The share (0..1), or None for an empty table.
    """
    if len(notes) == 0:
        return None
    tpb = notes.ticks_per_beat
    tolerance = max(GRID_TOLERANCE_BEATS * tpb, 0.5)
    phase = (notes.onset_ticks % tpb).astype(np.float64)
    distance = np.full(len(notes), np.inf)
    for per_beat in GRIDS_PER_BEAT:
        step = tpb / per_beat
        distance = np.minimum(distance, np.abs(phase - np.round(phase / step) * step))
    return float((distance > tolerance + 1e-9).mean())


def _tempo_line(notes: Notes) -> str:
    if not len(notes.tempo_qpm):
        return "tempo: not stated (120 qpm assumed)"
    qpm = notes.tempo_qpm
    tempo = f"{qpm[0]:.1f} qpm"
    if len(qpm) > 1:
        tempo += f" ({len(qpm)} tempo marks, {qpm.min():.1f}-{qpm.max():.1f} qpm)"
    return f"tempo: {tempo}"


def _meter_line(notes: Notes) -> str:
    if not len(notes.timesig_ticks):
        return "meter: not stated (4/4 assumed)"
    meters = [
        f"{n}/{d}" for n, d in zip(notes.timesig_numerator, notes.timesig_denominator, strict=True)
    ]
    shown = ", ".join(dict.fromkeys(meters))
    return f"meter: {shown}" + (f" ({len(meters)} changes)" if len(meters) > 1 else "")


def _key_line(notes: Notes) -> str:
    if len(notes.key_ticks):
        return f"key: {key_name(int(notes.key_fifths[0]), int(notes.key_mode[0]))}"
    estimate = estimate_key(notes)
    if estimate is None:
        return "key: not stated"
    fifths, mode, r = estimate
    return (
        f"key: {key_name(fifths, mode)} (estimate): the file states no key; its pitches fit "
        f"this one best (r = {r:.2f})"
    )


def _timing_line(notes: Notes) -> str | None:
    """A line when the onsets look played rather than quantised, else None."""
    share = off_grid_share(notes)
    if share is None or len(notes) < MIN_NOTES_TO_JUDGE or share <= PERFORMANCE_SHARE:
        return None
    tempo = "" if len(notes.tempo_qpm) else "; no tempo is stated either"
    return (
        f"timing: looks like an unquantised performance: {share:.0%} of onsets lie off the "
        f"1/12- and 1/16-beat grids{tempo}, so its beats and bars need not follow the music"
    )


def _track_lines(notes: Notes, track_names: Sequence[str] | None) -> list[str]:
    lines = ["tracks:"]
    width = max((len(n) for n in track_names or ()), default=0)
    width = min(max(width, 4), 24)
    for track in np.unique(notes.track):
        sel = notes.track == track
        program = int(notes.program[sel][0])
        drum = bool(notes.is_drum[sel][0])
        pitches = notes.pitch[sel]
        named = ""
        if track_names is not None and 0 <= track < len(track_names):
            name = track_names[int(track)] or "-"
            named = f"{name[:width]:<{width}}  "
        lines.append(
            f"  {int(track):>3}  {named}{program_name(program, drum):<28} "
            f"{'ch10' if drum else f'prog {program:>3}'}  {int(sel.sum()):>6} notes  "
            f"pitch {int(pitches.min())}-{int(pitches.max())}"
        )
    return lines


def describe_notes(notes: Notes, name: str = "", track_names: Sequence[str] | None = None) -> str:
    """Tracks, instruments, note counts, length in beats, bars and seconds, tempo, meter, key.

    Args:
        notes: The table.
        name: A title line (e.g. the file name); omitted when empty.
        track_names: The file's own name of each track (entry ``i`` for track ``i``), shown
            beside its instrument; None to leave them out.

    Returns:
        Several lines of text, no trailing newline.
    """
    lines = [name] if name else []
    n_tracks = len(np.unique(notes.track)) if len(notes) else 0
    lines.append(
        f"notes: {len(notes)} in {n_tracks} track(s); resolution {notes.ticks_per_beat} ticks/beat"
    )
    lines.append(
        f"length: {notes.length_beats:.2f} beats in {bar_count(notes)} bar(s), "
        f"{notes.length_seconds:.2f} s"
    )
    lines += [_tempo_line(notes), _meter_line(notes), _key_line(notes)]
    timing = _timing_line(notes)
    if timing:
        lines.append(timing)
    return "\n".join(lines + _track_lines(notes, track_names))
