"""The piece as the page draws it: notes in beats, tracks, bars, tempo and meter maps."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

import numpy as np

from tuplet.notes import Notes, track_keys

if TYPE_CHECKING:
    from tuplet.encoding import EncodingConfig

MAX_BAR_LINES = 4000


def bar_starts(notes: Notes, end_beat: float) -> list[float]:
    """Beats where bars start, up to ``end_beat``, following the time-signature map."""
    tpb = notes.ticks_per_beat
    sig_beats = (notes.timesig_ticks / tpb).tolist() if len(notes.timesig_ticks) else [0.0]
    nums = notes.timesig_numerator.tolist() if len(notes.timesig_ticks) else [4]
    dens = notes.timesig_denominator.tolist() if len(notes.timesig_ticks) else [4]
    starts: list[float] = []
    beat, i = 0.0, 0
    while beat < end_beat and len(starts) < MAX_BAR_LINES:
        while i + 1 < len(sig_beats) and sig_beats[i + 1] <= beat + 1e-9:
            i += 1
        starts.append(round(beat, 4))
        beat += max(nums[i] * 4 / dens[i], 0.25)
    return starts


def beats_per_bar(meter: tuple[int, int]) -> float:
    """Beats (quarter notes) in one bar of ``meter``."""
    return meter[0] * 4 / meter[1]


def piece_json(notes: Notes, encoding: EncodingConfig | None = None) -> dict[str, Any]:
    """The piece as the page draws it: notes in beats, tracks, tempo and meter maps, bars."""
    tpb = notes.ticks_per_beat
    keys, tracks = track_keys(notes)
    meter = (4, 4)
    if len(notes.timesig_ticks):
        meter = int(notes.timesig_numerator[0]), int(notes.timesig_denominator[0])
    length = notes.end_ticks / tpb
    shown = max(length, 8 * beats_per_bar(meter))
    rows = (
        np.stack(
            [
                np.round(notes.onset_ticks / tpb, 4),
                np.round(notes.duration_ticks / tpb, 4),
                notes.pitch,
                notes.velocity,
                keys,
            ],
            axis=1,
        ).tolist()
        if len(notes)
        else []
    )
    instruments = []
    for name, program, is_drum in tracks:
        instruments.append(
            {
                "name": name,
                "program": program,
                "is_drum": is_drum,
                "instrument": track_instrument(program, is_drum, encoding),
            }
        )
    return {
        "notes": [[r[0], r[1], int(r[2]), int(r[3]), int(r[4])] for r in rows],
        "tracks": instruments,
        "length_beats": round(length, 4),
        "shown_beats": round(shown, 4),
        "bars": bar_starts(notes, shown + 1e-6),
        "meter": list(meter),
        "tempo": [
            [round(t / tpb, 4), round(q, 3)]
            for t, q in zip(notes.tempo_ticks.tolist(), notes.tempo_qpm.tolist(), strict=True)
        ]
        or [[0.0, 120.0]],
        "seconds": round(notes.length_seconds, 3) if len(notes) else 0.0,
    }


def track_instrument(program: int, is_drum: bool, encoding: EncodingConfig | None) -> str | None:
    """The encoding's instrument name for a track (None where the encoding has none)."""
    from tuplet.encoding import instrument_of_program, vocab

    if encoding is None:
        return None
    names = encoding.instrument_names
    if is_drum:
        code = vocab.DRUMS_CODE if encoding.name == "tuplet" else 0
    else:
        code = int(instrument_of_program(program, encoding))
    return names[code - 1] if 0 < code <= len(names) else None


def notes_key(notes: Notes, loop_seconds: float | None = None) -> str:
    """A content hash of a piece (names its render in the cache)."""
    h = hashlib.sha1(usedforsecurity=False)
    for name in ("onset_ticks", "duration_ticks", "pitch", "velocity", "program", "is_drum",
                 "tempo_ticks", "tempo_qpm"):  # fmt: skip
        h.update(np.ascontiguousarray(getattr(notes, name)).tobytes())
    h.update(f"{notes.ticks_per_beat}:{loop_seconds}".encode())
    return h.hexdigest()[:20]


__all__ = [
    "bar_starts",
    "beats_per_bar",
    "notes_key",
    "piece_json",
    "track_instrument",
    "track_keys",
]
