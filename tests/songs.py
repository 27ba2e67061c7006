"""A 10-track song written with mido as a sequencer writes it, for the tests of a file's shape.

Two vocal parts of one program, two guitars of one program, three drum tracks, bass, keys and
pad, each on a channel of its own (not the one symusic would choose), after a conductor
track; a tempo, meter and key map whose last entries lie past the last note.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tuplet.notes import Notes

TPB = 480
BEATS = 32
# (name, channel, program, is_drum) of each track, in file order
SONG_TRACKS = (
    ("Lead Vox", 3, 53, False),
    ("Harmony Vox", 4, 53, False),
    ("Gtr L", 0, 25, False),
    ("Gtr R", 1, 25, False),
    ("Kick", 9, 0, True),
    ("Snare", 9, 0, True),
    ("Hats", 9, 0, True),
    ("Bass", 5, 33, False),
    ("Keys", 6, 0, False),
    ("Pad", 7, 48, False),
)
# (beat, qpm) and (beat, numerator, denominator): the last of each lies past the last note
SONG_TEMPI = ((0, 96.0), (12, 104.0), (40, 80.0))
SONG_METERS = ((0, 4, 4), (24, 3, 4), (44, 4, 4))


def song_notes(index: int) -> list[tuple[float, float, int, int]]:
    """(onset beat, duration beats, pitch, velocity) of track ``index`` of the song."""
    rng = np.random.default_rng(index)
    if index in (4, 5, 6):  # kick on 0 and 2, snare on 1 and 3, hats on every eighth
        key, step, offset = [(36, 2.0, 0.0), (38, 2.0, 1.0), (42, 0.5, 0.0)][index - 4]
        times = np.arange(offset, BEATS, step)
        return [(float(t), 0.25, key, 90 + index) for t in times]
    low, step, length = {
        0: (67, 1.0, 1.0),  # lead: high
        1: (55, 2.0, 2.0),  # harmony: low
        2: (52, 2.0, 1.5),
        3: (57, 2.0, 0.5),
        7: (36, 1.0, 1.0),
        8: (60, 4.0, 3.0),
        9: (48, 8.0, 8.0),
    }[index]
    times = np.arange(0.0, BEATS, step) + (0.5 if index == 3 else 0.0)
    pitches = low + rng.integers(0, 8, len(times))
    return [(float(t), length, int(p), 60 + index) for t, p in zip(times, pitches, strict=True)]


def write_song(path: Path) -> Path:
    """The 10-track song as a sequencer writes it: a conductor track, then one per part."""
    mido = pytest.importorskip("mido")
    conductor = [mido.MetaMessage("track_name", name="Conductor", time=0)]
    events = [(b * TPB, mido.MetaMessage("set_tempo", tempo=round(6e7 / q))) for b, q in SONG_TEMPI]
    events += [
        (b * TPB, mido.MetaMessage("time_signature", numerator=n, denominator=d))
        for b, n, d in SONG_METERS
    ]
    events.append((0, mido.MetaMessage("key_signature", key="G")))
    midi = mido.MidiFile(type=1, ticks_per_beat=TPB)
    midi.tracks.append(mido.MidiTrack(conductor + _timed(sorted(events, key=lambda e: e[0]))))
    for index, (name, channel, program, _) in enumerate(SONG_TRACKS):
        timed = []
        for onset, duration, pitch, velocity in song_notes(index):
            start, end = round(onset * TPB), round((onset + duration) * TPB)
            on = mido.Message("note_on", channel=channel, note=pitch, velocity=velocity)
            timed.append((start, 1, on))  # at one tick, note-offs before note-ons
            timed.append((end, 0, mido.Message("note_off", channel=channel, note=pitch)))
        timed.sort(key=lambda e: (e[0], e[1]))
        head = [
            mido.MetaMessage("track_name", name=name, time=0),
            mido.Message("program_change", channel=channel, program=program, time=0),
        ]
        midi.tracks.append(mido.MidiTrack(head + _timed([(t, m) for t, _, m in timed])))
    midi.save(str(path))
    return path


def _timed(events: list) -> list:
    """Absolute-tick (tick, message) pairs as messages with delta times."""
    out, now = [], 0
    for tick, message in events:
        out.append(message.copy(time=tick - now))
        now = tick
    return out


def shape(notes: Notes) -> list[tuple[str, int, int, bool]]:
    """(name, channel, program, is_drum) of each track."""
    return [(t.name, t.channel, t.program, t.is_drum) for t in notes.tracks]
