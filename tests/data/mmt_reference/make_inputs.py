"""Write the MIDI inputs of the MMT reference fixtures (run with the project's venv).

Two pieces from the music21 corpus, exported to MIDI by music21, and one piece derived from
one of them with symusic so that it exercises every rule of the MMT encoder: two programs for
one instrument, a dropped program, a drum track, and durations from 1 to 500 ticks at 12 ticks
per beat (duration ties and clipping). See README.md.

    python tests/data/mmt_reference/make_inputs.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import symusic
from music21 import corpus

HERE = Path(__file__).resolve().parent
PIECES = {
    "bach_bwv66_6": "bach/bwv66.6",
    "schumann_clara_opus17_mvt3": "schumann_clara/opus17/movement3",
}


def export(work: str, path: Path) -> None:
    """Write a music21 corpus work to a MIDI file: music21's export, then a symusic load + save.

    music21's export can leave overlapping notes of one pitch on one channel, which MIDI
    readers pair differently (MusPy closes a leftover note at the end of the track, symusic
    drops it); saved again by symusic, every note-on has its own note-off.
    """
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.mid"
        corpus.parse(work).write("midi", fp=str(raw))
        symusic.Score(raw).dump_midi(path)


def make_mixed(path: Path) -> None:
    """Mozart K.80/1 with reassigned programs, a drum track and a sweep of durations."""
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "k80.mid"
        export("mozart/k80/movement1", source)
        score = symusic.Score(source)
    tpq = score.ticks_per_quarter
    violin1, violin2, viola, cello = score.tracks[:4]
    violin1.program = 40  # violin
    fiddle = violin1.copy()
    fiddle.program = 110  # fiddle: also MMT's "violin", so every note is doubled
    fiddle.name = "Fiddle"
    violin2.program = 77  # shakuhachi: no MMT instrument, dropped
    viola.program = 44  # tremolo strings: MMT "strings"
    cello.program = 49  # string ensemble 2: also MMT "strings"
    score.tracks.append(fiddle)

    # a drum track on the cello's rhythm: bass drum on its notes, closed hi-hat on every beat
    cello_notes = cello.notes.numpy()
    n_beats = int(cello_notes["time"].max() // tpq) + 1
    time = np.concatenate([cello_notes["time"], np.arange(n_beats) * tpq])
    pitch = np.concatenate([np.full(len(cello_notes["time"]), 36), np.full(n_beats, 42)])
    drums = symusic.Track(name="Drums", program=0, is_drum=True)
    drums.notes = symusic.Note.from_numpy(
        time.astype(np.int32),
        np.full(len(time), tpq // 4, np.int32),
        pitch.astype(np.int8),
        np.full(len(time), 100, np.int8),
    )
    score.tracks.append(drums)

    # a flute plays one note per 4 beats with durations 1..500 ticks at 12 ticks per beat
    durations_12 = np.arange(1, 501)
    flute = symusic.Track(name="Flute", program=73, is_drum=False)
    flute.notes = symusic.Note.from_numpy(
        (np.arange(len(durations_12)) * 48 * tpq // 12).astype(np.int32),
        (durations_12 * tpq // 12).astype(np.int32),
        (60 + np.arange(len(durations_12)) % 24).astype(np.int8),
        np.full(len(durations_12), 80, np.int8),
    )
    score.tracks.append(flute)
    score.dump_midi(path)


def main() -> None:
    """Write every input MIDI file next to this script."""
    for name, work in PIECES.items():
        export(work, HERE / f"{name}.mid")
    make_mixed(HERE / "mozart_k80_mvt1_mixed.mid")


if __name__ == "__main__":
    main()
