"""A short, human description of a note table (what ``tuplet show`` prints)."""

from __future__ import annotations

import numpy as np

from tuplet.gm import program_name
from tuplet.notes import Notes


def describe_notes(notes: Notes, name: str = "") -> str:
    """Tracks, instruments, note counts, length in beats and seconds, tempo and meter.

    Args:
        notes: The table.
        name: A title line (e.g. the file name); omitted when empty.

    Returns:
        Several lines of text, no trailing newline.
    """
    lines = [name] if name else []
    n_tracks = len(np.unique(notes.track)) if len(notes) else 0
    lines.append(
        f"notes: {len(notes)} in {n_tracks} track(s); resolution {notes.ticks_per_beat} ticks/beat"
    )
    lines.append(f"length: {notes.length_beats:.2f} beats, {notes.length_seconds:.2f} s")
    if len(notes.tempo_qpm):
        qpm = notes.tempo_qpm
        tempo = f"{qpm[0]:.1f} qpm"
        if len(qpm) > 1:
            tempo += f" ({len(qpm)} tempo marks, {qpm.min():.1f}-{qpm.max():.1f} qpm)"
    else:
        tempo = "not stated (120 qpm assumed)"
    lines.append(f"tempo: {tempo}")
    if len(notes.timesig_ticks):
        meters = [
            f"{n}/{d}"
            for n, d in zip(notes.timesig_numerator, notes.timesig_denominator, strict=True)
        ]
        shown = ", ".join(dict.fromkeys(meters))
        lines.append(f"meter: {shown}" + (f" ({len(meters)} changes)" if len(meters) > 1 else ""))
    else:
        lines.append("meter: not stated")
    if len(notes.key_ticks):
        names = ["C", "G", "D", "A", "E", "B", "F#", "C#", "Cb", "Gb", "Db", "Ab", "Eb", "Bb", "F"]
        fifths, mode = int(notes.key_fifths[0]), int(notes.key_mode[0])
        tonic = names[fifths % 15] if fifths >= 0 else names[15 + fifths]
        if mode == 1:  # relative minor: three fifths further on
            minors = [
                "A",
                "E",
                "B",
                "F#",
                "C#",
                "G#",
                "D#",
                "A#",
                "Ab",
                "Eb",
                "Bb",
                "F",
                "C",
                "G",
                "D",
            ]
            tonic = minors[fifths % 15] if fifths >= 0 else minors[15 + fifths]
        lines.append(f"key: {tonic} {'minor' if mode == 1 else 'major'}")
    lines.append("tracks:")
    for track in np.unique(notes.track):
        sel = notes.track == track
        program = int(notes.program[sel][0])
        drum = bool(notes.is_drum[sel][0])
        pitches = notes.pitch[sel]
        lines.append(
            f"  {int(track):>3}  {program_name(program, drum):<28} "
            f"{'ch10' if drum else f'prog {program:>3}'}  {int(sel.sum()):>6} notes  "
            f"pitch {int(pitches.min())}-{int(pitches.max())}"
        )
    return "\n".join(lines)
