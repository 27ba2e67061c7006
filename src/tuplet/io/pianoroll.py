"""Piano-roll pictures of note tables (PNG, through matplotlib's Agg renderer; no screen)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from tuplet.errors import UsageError
from tuplet.gm import program_name
from tuplet.notes import Notes

DRUM_COLOUR = "#3a3a3a"
MIN_NOTE_WIDTH_BEATS = 0.08
"""Zero-length and very short notes are drawn this wide, so they stay visible."""
MAX_GRID_LINES = 2000
"""Beat (then bar) lines are left out when there would be more of them than this."""
_DPI = 100


def _colours(count: int) -> list[str]:
    """``count`` distinct colours for melodic instruments (tab10, then tab20, then cycled)."""
    from matplotlib import colormaps, colors

    tab10 = [colors.to_hex(c) for c in colormaps["tab10"].colors]  # type: ignore[attr-defined]
    tab20 = [colors.to_hex(c) for c in colormaps["tab20"].colors]  # type: ignore[attr-defined]
    palette = tab10 + [c for c in tab20 if c not in tab10]
    return [palette[i % len(palette)] for i in range(count)]


def bar_lines_beats(notes: Notes, end_beats: float) -> np.ndarray:
    """Where bars start, in beats, from the time-signature map (4/4 where none is stated).

    A bar starts at each time-signature change and then every ``numerator * 4 / denominator``
    beats until the next change.

    Args:
        notes: The table (only its time-signature map and resolution are used).
        end_beats: Stop before this beat.

    Returns:
        Bar start positions in beats, ascending.
    """
    tpb = notes.ticks_per_beat
    starts = notes.timesig_ticks / tpb
    bar_beats = notes.timesig_numerator * 4.0 / np.maximum(notes.timesig_denominator, 1)
    if len(starts) == 0 or starts[0] > 0:
        starts = np.concatenate([[0.0], starts])
        bar_beats = np.concatenate([[4.0], bar_beats])
    ends = np.append(starts[1:], max(end_beats, starts[-1]))
    segments = [
        np.arange(start, stop, length)
        for start, stop, length in zip(starts, ends, bar_beats, strict=True)
        if length > 0 and (stop - start) / length <= MAX_GRID_LINES
    ]
    bars = np.concatenate(segments) if segments else np.zeros(0)
    return bars[bars < end_beats]


def draw_pianoroll(
    notes: Notes,
    out_path: str | os.PathLike[str],
    title: str | None = None,
    beats: float | tuple[float, float] | None = None,
) -> Path:
    """Draw a piano roll: beats across, pitch up, one colour per instrument.

    Instruments are told apart by ``(program, is_drum)`` and named in the legend by their
    General MIDI names (drums in dark grey). Thin lines mark beats, thicker lines bars (from
    the time-signature map; 4/4 where none is stated). The PNG is written to a temporary name
    in the output folder and renamed when complete.

    Args:
        notes: The table.
        out_path: The ``.png`` file to write (overwritten if present).
        title: A title above the roll.
        beats: Which stretch to draw: a number ``b`` draws beats ``0..b``; a pair ``(a, b)``
            draws beats ``a..b``; None draws the whole piece.

    Returns:
        ``out_path`` as a :class:`~pathlib.Path`.

    Raises:
        UsageError: The output folder does not exist, or ``beats`` is an empty stretch.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from tuplet.io import atomic_output

    out = Path(out_path)
    if not out.parent.is_dir():
        raise UsageError(f"{out}: cannot write the piano roll: its folder does not exist")
    tpb = notes.ticks_per_beat
    onset = notes.onset_ticks / tpb
    end = onset + np.maximum(notes.duration_ticks / tpb, MIN_NOTE_WIDTH_BEATS)
    start_beats, stop_beats = _stretch(notes, beats, end)
    shown = (end > start_beats) & (onset < stop_beats)

    span = stop_beats - start_beats
    fig = Figure(figsize=(float(np.clip(4 + 0.12 * span, 8, 30)), 5.0), dpi=_DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()

    pitch = notes.pitch[shown]
    low, high = (int(pitch.min()) - 2, int(pitch.max()) + 2) if len(pitch) else (58, 72)
    _draw_grid(ax, notes, start_beats, stop_beats, low, high)
    instruments = _draw_notes(ax, notes, shown, onset, end)
    ax.set_xlim(start_beats, stop_beats)
    ax.set_ylim(low, high)
    ax.set_xlabel("beat")
    ax.set_ylabel("pitch (MIDI)")
    if title:
        ax.set_title(title)
    if instruments:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)
    fig.tight_layout()
    with atomic_output(out, ".png") as tmp:
        fig.savefig(tmp, format="png", dpi=_DPI)
    return out


def _stretch(notes: Notes, beats: Any, end: np.ndarray) -> tuple[float, float]:
    """The beats ``(start, stop)`` a roll shows (see :func:`draw_pianoroll`'s ``beats``)."""
    if beats is None:
        start_beats, stop_beats = 0.0, max(float(np.ceil(end.max())) if len(notes) else 4.0, 1.0)
    elif isinstance(beats, tuple):
        start_beats, stop_beats = float(beats[0]), float(beats[1])
    else:
        start_beats, stop_beats = 0.0, float(beats)
    if stop_beats <= start_beats:
        raise UsageError(f"beats must be a non-empty stretch, got {beats!r}")
    return start_beats, stop_beats


def _draw_grid(ax: Any, notes: Notes, start: float, stop: float, low: int, high: int) -> None:
    """Thin lines at the beats, thicker ones at the bars (none where they would crowd)."""
    beat_grid = np.arange(np.ceil(start), stop)
    if len(beat_grid) <= MAX_GRID_LINES:
        ax.vlines(beat_grid, low, high, colors="#dddddd", linewidths=0.5, zorder=0)
    bars = bar_lines_beats(notes, stop)
    bars = bars[bars >= start]
    if len(bars) <= MAX_GRID_LINES:
        ax.vlines(bars, low, high, colors="#999999", linewidths=1.2, zorder=0)


def _draw_notes(
    ax: Any, notes: Notes, shown: np.ndarray, onset: np.ndarray, end: np.ndarray
) -> list[tuple[bool, int]]:
    """The shown notes as rectangles, one collection and colour per instrument.

    Returns the instruments drawn, as ``(is_drum, program)``.
    """
    from matplotlib.collections import PolyCollection

    instruments = sorted(
        {(bool(d), int(p)) for d, p in zip(notes.is_drum[shown], notes.program[shown], strict=True)}
    )
    palette = iter(_colours(sum(1 for d, _ in instruments if not d)))
    for is_drum, program in instruments:
        rows = shown & (notes.is_drum == is_drum) & (notes.program == program)
        x0, x1 = onset[rows], end[rows]
        y0, y1 = notes.pitch[rows] - 0.4, notes.pitch[rows] + 0.4
        # one (n, 4, 2) array of rectangle corners: the whole instrument is one collection
        corners = np.stack(
            [
                np.stack([x0, y0], 1),
                np.stack([x1, y0], 1),
                np.stack([x1, y1], 1),
                np.stack([x0, y1], 1),
            ],
            axis=1,
        )
        colour = DRUM_COLOUR if is_drum else next(palette)
        ax.add_collection(
            PolyCollection(
                list(corners),
                facecolors=colour,
                edgecolors="none",
                label=program_name(program, is_drum),
                zorder=2,
            )
        )
    return instruments
