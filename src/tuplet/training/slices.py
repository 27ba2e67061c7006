"""Slices of a piece as extra training examples: N-bar loops and single parts.

A musician's catalog is small, and what they will ask of their model is often short: a loop,
a part over the others, a few bars to continue. So a piece also teaches in slices:

* **loops**: consecutive spans of ``bars`` bars, from the piece's bar lines (its time-signature
  map; 4/4 where it states none), that cover the piece once from its first bar to its last
  note (the last span may be shorter). Each is taken with the full texture and, where the piece
  has more than one track, one track at a time;
* **parts**: each track alone over the whole piece (pieces of more than one track).

:func:`slice_specs` lists a piece's slices; :func:`cut` makes one as a note table that starts
at beat 0 with the tempo, meter and key in force there. :class:`tuplet.training.dataset.
SequenceDataset` draws them (``slice_rate``) besides the pieces' random windows.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from tuplet.io.pianoroll import bar_lines_beats
from tuplet.notes import Notes, maps_before, shift_ticks


@dataclass(frozen=True)
class SliceSpec:
    """One slice of a piece.

    Attributes:
        start_beat: Where it starts (a bar line for loops, 0 for parts).
        end_beat: Where it ends (exclusive); None for the piece's end.
        track: The one track it keeps; None for every track.
    """

    start_beat: float
    end_beat: float | None
    track: int | None

    @property
    def kind(self) -> str:
        """``loop`` (a span of bars) or ``part`` (one track over the whole piece)."""
        return "part" if self.end_beat is None else "loop"


def loop_spans(notes: Notes, bars: int) -> list[tuple[float, float]]:
    """Consecutive spans of ``bars`` bars covering the piece once (start, end in beats).

    The spans start on bar lines, from the first bar line at or before the first note to
    the last note's end; the last span may hold fewer bars. An empty piece has none.
    """
    if bars < 1:
        raise ValueError(f"bars must be at least 1, got {bars}")
    if len(notes) == 0:
        return []
    tpb = notes.ticks_per_beat
    end = float((notes.onset_ticks + notes.duration_ticks).max()) / tpb
    last_onset = float(notes.onset_ticks.max()) / tpb
    lines = bar_lines_beats(notes, max(end, last_onset + 1e-6))
    first = float(notes.onset_ticks.min()) / tpb
    lines = lines[np.searchsorted(lines, first, side="right") - 1 :] if len(lines) else lines
    if len(lines) == 0:
        return []
    starts = lines[::bars]
    ends = np.append(starts[1:], max(end, starts[-1] + 1e-6))
    return [
        (float(s), float(e))
        for s, e in zip(starts, ends, strict=True)
        if ((notes.onset_ticks >= s * tpb) & (notes.onset_ticks < e * tpb)).any()
    ]


def slice_specs(notes: Notes, bars: int) -> list[SliceSpec]:
    """Every slice of a piece: its loops (full texture, then per track) and its parts."""
    tracks = np.unique(notes.track).tolist() if len(notes) else []
    spans = loop_spans(notes, bars)
    specs = [SliceSpec(s, e, None) for s, e in spans]
    if len(tracks) > 1:
        for t in tracks:
            on_track = notes.track == t
            for s, e in spans:
                inside = (notes.onset_ticks >= s * notes.ticks_per_beat) & (
                    notes.onset_ticks < e * notes.ticks_per_beat
                )
                if (on_track & inside).any():
                    specs.append(SliceSpec(s, e, int(t)))
        specs += [SliceSpec(0.0, None, int(t)) for t in tracks]
    return specs


def cut(notes: Notes, spec: SliceSpec) -> Notes:
    """The slice as a note table starting at beat 0.

    Notes whose onsets fall inside the span are kept, their durations cut at its end; the
    tempo, meter and key in force at its start are stated at beat 0.
    """
    tpb = notes.ticks_per_beat
    start = round(spec.start_beat * tpb)
    keep = notes.onset_ticks >= start
    if spec.end_beat is not None:
        end = round(spec.end_beat * tpb)
        keep &= notes.onset_ticks < end
    if spec.track is not None:
        keep &= notes.track == spec.track
    out = notes.select(keep)
    if spec.end_beat is not None:
        out = replace(out, duration_ticks=np.minimum(out.duration_ticks, end - out.onset_ticks))
        out = maps_before(out, end)
    return shift_ticks(out, -start)
