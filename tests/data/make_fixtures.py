"""Rebuild the MIDI fixtures in this folder from music21's bundled corpus (run once, by hand).

    python tests/data/make_fixtures.py

Needs music21 and symusic only (not tuplet), so the fixtures do not depend on the code they
test. See README.md for what each file is.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import symusic
from music21 import common, converter

HERE = Path(__file__).parent
CORPUS = Path(common.getCorpusFilePath())

# music21's own MIDI export of real pieces (10080 ticks per quarter note)
EXPORTS = {
    "bwv66.6.mid": "bach/bwv66.6.mxl",
    "bwv84.5.mid": "bach/bwv84.5.mxl",
    "lascia_chio_pianga.mid": "handel/rinaldo/Lascia_chio_pianga.mxl",
}
# score files copied as they are
COPIES = {
    "bwv66.6.mxl": "bach/bwv66.6.mxl",
    "bwv277.krn": "bach/bwv277.krn",
    "reelsa-c.abc": "nottingham-dataset/reelsa-c.abc",
}


def export_midi(source: str, target: Path) -> None:
    converter.parse(CORPUS / source, forceSource=True).write("midi", fp=target)


def make_multitrack(chorale_midi: Path, target: Path) -> None:
    """The chorale's four voices on four instruments, a drum track, tempo and metre changes."""
    score = symusic.Score(chorale_midi, ttype="tick").resample(480, min_dur=0)
    voices = [track for track in score.tracks if track.note_num() > 0]
    score.tracks = voices
    for track, program in zip(score.tracks, (73, 71, 42, 32), strict=True):  # flute, clarinet,
        track.program, track.is_drum = program, False  # cello, acoustic bass
    end_beats = int(np.ceil(score.end() / 480))
    beats = np.arange(end_beats)
    kick_snare = np.where(beats % 2 == 0, 36, 38)  # bass drum on odd beats, snare on even
    hat_times = np.arange(0, end_beats * 480, 240)  # closed hi-hat on every eighth
    times = np.concatenate([beats * 480, hat_times]).astype(np.int32)
    pitches = np.concatenate([kick_snare, np.full(len(hat_times), 42)]).astype(np.int8)
    velocities = np.concatenate([np.full(len(beats), 100), np.full(len(hat_times), 70)])
    order = np.lexsort((pitches, times))
    drums = symusic.Track(name="Drums", program=0, is_drum=True)
    drums.notes = symusic.Note.from_numpy(
        times[order],
        np.full(len(times), 120, np.int32),
        pitches[order],
        velocities[order].astype(np.int8),
    )
    score.tracks.append(drums)
    # 96 qpm, slower (72) from beat 16, faster (110) from beat 24; 4/4, 2/4 from beat 16,
    # back to 4/4 from beat 18
    score.tempos = symusic.Tempo.from_numpy(
        np.array([0, 16 * 480, 24 * 480], np.int32),
        np.array([625000, 833333, 545455], np.int32),
    )
    score.time_signatures = symusic.TimeSignature.from_numpy(
        np.array([0, 16 * 480, 18 * 480], np.int32),
        np.array([4, 2, 4], np.uint8),
        np.array([4, 4, 4], np.uint8),
    )
    score.key_signatures = symusic.KeySignature.from_numpy(
        np.array([0], np.int32), np.array([2], np.int8), np.array([1], np.uint8)
    )
    score.dump_midi(target)


def main() -> None:
    for name, source in EXPORTS.items():
        export_midi(source, HERE / name)
    for name, source in COPIES.items():
        shutil.copyfile(CORPUS / source, HERE / name)
    make_multitrack(HERE / "bwv84.5.mid", HERE / "multitrack_drums.mid")


if __name__ == "__main__":
    main()
