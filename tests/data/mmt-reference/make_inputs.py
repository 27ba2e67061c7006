"""Write the MIDI inputs of the MMT pipeline fixtures (run with the project's venv).

Two files built message by message with mido from the Bach chorales in ``tests/data`` (music21
corpus), so that each holds, on purpose, what makes MIDI readers and the MMT pipeline
disagree (see README.md):

* ``piano_performance.mid``: a long, slow piano performance (uneven onsets and velocities)
  whose first note comes after 7.5 beats of rest and whose last notes lie past beat 1024 of
  the file, but not past beat 1024 of the piece;
* ``pop_band.mid``: a band arrangement: lead, three guitar tracks of one instrument (guitars
  1 and 3 on program 29, guitar 2 on 27 then 29), bass re-striking each note before the
  previous one ends, drums; guitar 2 doubles guitar 1's chord while its program changes from
  27 to 29, the lead's program change comes after its first note-on at the same tick, the
  lead's last note never ends.

    python tests/data/mmt-reference/make_inputs.py
"""

from __future__ import annotations

from pathlib import Path

import mido
import numpy as np

from tuplet.io.midi import read_midi

HERE = Path(__file__).resolve().parent
DATA = HERE.parent
TPQ = 480
REST_TICKS = 3600  # 7.5 beats before the first note


def voices(name: str) -> list[list[tuple[int, int, int]]]:
    """The four voices of a chorale in tests/data: ``(onset, end, pitch)`` at 480 per beat."""
    notes = read_midi(DATA / f"{name}.mid")
    scale = TPQ / notes.ticks_per_beat
    out = []
    for track in range(4):
        sel = np.flatnonzero(notes.track == track)
        sel = sel[np.argsort(notes.onset_ticks[sel], kind="stable")]
        onset = np.round(notes.onset_ticks[sel] * scale).astype(int)
        end = np.round((notes.onset_ticks[sel] + notes.duration_ticks[sel]) * scale).astype(int)
        out.append(list(zip(onset.tolist(), end.tolist(), notes.pitch[sel].tolist(), strict=True)))
    return out


def track(events: list[tuple[int, int, mido.Message]], end_tick: int) -> mido.MidiTrack:
    """A track from ``(tick, order, message)`` events: sorted by tick, then order, then as given."""
    out = mido.MidiTrack()
    now = 0
    for tick, _, msg in sorted(events, key=lambda e: (e[0], e[1])):
        out.append(msg.copy(time=tick - now))
        now = tick
    out.append(mido.MetaMessage("end_of_track", time=max(end_tick - now, 0)))
    return out


def note(events: list, ch: int, onset: int, end: int, pitch: int, velocity: int = 90) -> None:
    """Add a note-on and a note-off; at one tick, note-offs come before note-ons."""
    events.append((onset, 1, mido.Message("note_on", channel=ch, note=pitch, velocity=velocity)))
    events.append((end, 0, mido.Message("note_off", channel=ch, note=pitch, velocity=0)))


def program(ch: int, prog: int) -> mido.Message:
    return mido.Message("program_change", channel=ch, program=prog)


def conductor(qpm: float, end_tick: int) -> mido.MidiTrack:
    return track(
        [
            (0, 0, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(qpm))),
            (0, 0, mido.MetaMessage("time_signature", numerator=4, denominator=4)),
        ],
        end_tick,
    )


def piano_performance(path: Path) -> None:
    """BWV 66.6, soprano and bass, played 7 times at a quarter of the speed, after a rest."""
    rng = np.random.default_rng(66)
    soprano, _, _, bass = voices("bwv66.6")
    stretch, loop_ticks = 4, 147 * TPQ  # each pass lasts 144 beats, then 3 beats of silence
    events: list = [(0, 0, program(0, 0))]
    for loop in range(7):
        start = REST_TICKS + loop * loop_ticks
        for onset, end, pitch in soprano + bass:
            jitter = int(rng.integers(-25, 26))
            on = start + onset * stretch + jitter
            off = start + end * stretch - int(rng.integers(10, 80))
            note(events, 0, on, max(off, on + 1), pitch, int(rng.integers(40, 100)))
    end = max(e[0] for e in events) + TPQ
    midi = mido.MidiFile(type=1, ticks_per_beat=TPQ)
    midi.tracks += [conductor(72, end), track(events, end)]
    midi.save(path)


def chords(parts: list[list[tuple[int, int, int]]], every: int) -> list[tuple[int, list[int]]]:
    """Six-note chords every ``every`` ticks: the sounding voices, doubled in octaves and fifths."""
    length = max(e for part in parts for _, e, _ in part)
    out = []
    for tick in range(0, length, every):
        sounding = {p for part in parts for o, e, p in part if o <= tick < e}
        if not sounding:
            continue
        low, high = min(sounding), max(sounding)
        for extra in (low + 12, high - 12, low + 19, high - 24, low + 7, high - 5, low - 12):
            if len(sounding) == 6:
                break
            sounding.add(extra)
        out.append((tick, sorted(sounding)))
    return out


def pop_band(path: Path) -> None:
    """BWV 84.5 as a band; see the module docstring for what each track tests."""
    parts = voices("bwv84.5")
    soprano, alto, _, bass = parts
    r = REST_TICKS
    chord_ticks = 2 * TPQ

    lead: list = []  # channel 0, program 80; the program change follows the first note-on
    for i, (onset, end, pitch) in enumerate(soprano):
        if i == len(soprano) - 1:  # the last note: a note-on with no note-off
            lead.append((r + onset, 1, mido.Message("note_on", channel=0, note=pitch, velocity=90)))
        else:
            note(lead, 0, r + onset, r + end, pitch)
    lead.append((r + soprano[0][0], 2, program(0, 80)))

    guitar1: list = [(0, 0, program(1, 29))]  # channel 1, program 29: every chord
    guitar2: list = [(0, 0, program(2, 27))]  # channel 2, program 27, then 29: bars 3-4
    progression = chords(parts, chord_ticks)
    for i, (tick, pitches) in enumerate(progression):
        for p in pitches:
            note(guitar1, 1, r + tick, r + tick + chord_ticks - 60, p, 70)
            if 4 <= i < 8:
                note(guitar2, 2, r + tick, r + tick + chord_ticks - 60, p, 60)
    # the change to 29 comes while guitar 2's first chord sounds: MusPy gives that chord
    # program 29 (the program when its notes end), symusic 27 (when they start)
    guitar2.append((r + progression[4][0] + TPQ // 2, 2, program(2, 29)))

    guitar3: list = [(0, 0, program(3, 29))]  # channel 3, also program 29: the alto line
    for onset, end, pitch in alto:
        note(guitar3, 3, r + onset, r + end, pitch - 12, 75)

    bass_events: list = [(0, 0, program(4, 33))]  # channel 4: eighths, each outlasting the next
    for onset, end, pitch in bass:
        for tick in range(onset, end, TPQ // 2):
            note(bass_events, 4, r + tick, r + tick + TPQ // 2 + 60, pitch - 12, 95)

    drums: list = []  # channel 10: kick on 1 and 3, snare on 2 and 4, closed hi-hat on eighths
    length = max(e for _, e, _ in bass)
    for tick in range(0, length, TPQ // 2):
        note(drums, 9, r + tick, r + tick + 60, 42, 70)
        if tick % TPQ == 0:
            note(drums, 9, r + tick, r + tick + 60, 36 if tick % (2 * TPQ) == 0 else 38, 100)

    end = r + length + 2 * TPQ
    midi = mido.MidiFile(type=1, ticks_per_beat=TPQ)
    midi.tracks.append(conductor(110, end))
    for events in (lead, guitar1, guitar2, guitar3, bass_events, drums):
        midi.tracks.append(track(events, end))
    midi.save(path)


def main() -> None:
    """Write both MIDI files next to this script."""
    piano_performance(HERE / "piano_performance.mid")
    pop_band(HERE / "pop_band.mid")


if __name__ == "__main__":
    main()
