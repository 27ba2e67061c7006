"""Run the official MMT code on the MIDI inputs and save what it produces (see README.md).

Run with a Python that has MusPy installed and the official ``representation.py`` and
``utils.py`` of salu133445/mmt in the folder given by ``--official`` (never in this
repository)::

    python tests/data/mmt_reference/make_reference.py --official /tmp/mmt_official

For every ``NAME.mid`` next to this script it writes:

* ``NAME.notes.csv.gz``: the notes MusPy reads (at the file's resolution), for checking readers;
* ``NAME.codes.csv.gz``: ``representation.encode`` after the official resolution adjustment;
* ``NAME.decoded.csv.gz``: ``representation.decode_notes`` of those codes;
* ``NAME.shifted.csv.gz``: the dataset pipeline's codes (first note moved to beat 0);
* ``NAME.max_beat_64.csv.gz``: ``encode_notes`` with ``max_beat`` set to 64;

``verdicts.csv`` with the official corpus filters' decision for each piece, and the official
tables: ``programs.csv`` (program -> instrument code, 0 = dropped), ``instruments.csv``
(code -> name and decoding program), ``durations.csv`` (ticks 0..384 -> duration code).
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import muspy
import numpy as np

HERE = Path(__file__).resolve().parent
RESOLUTION = 12
CODE_HEADER = "type,beat,position,pitch,duration,instrument"


def save(path: Path, rows: np.ndarray, header: str) -> None:
    """Save integer rows as a gzipped CSV file with a header line."""
    np.savetxt(
        path,
        np.asarray(rows).reshape(-1, header.count(",") + 1),
        fmt="%d",
        delimiter=",",
        header=header,
        comments="",
    )


def muspy_notes(music: muspy.Music) -> np.ndarray:
    """Rows of (onset, duration, pitch, velocity, program, is_drum, track) as MusPy read them."""
    rows = [
        (n.time, n.duration, n.pitch, n.velocity, t.program, int(t.is_drum), i)
        for i, t in enumerate(music.tracks)
        for n in t.notes
    ]
    return np.array(rows, dtype=np.int64).reshape(-1, 7)


def save_tables(encoding: dict) -> None:
    """Save the official program, instrument and duration tables."""
    code_of = encoding["instrument_code_map"]
    programs = [(p, code_of[encoding["program_instrument_map"][p]]) for p in range(128)]
    save(HERE / "programs.csv", programs, "program,instrument")
    with open(HERE / "instruments.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["instrument", "name", "program"])
        for name, program in encoding["instrument_program_map"].items():
            writer.writerow([code_of[name], name, program])
    durations = [(d, encoding["duration_code_map"][d]) for d in range(encoding["max_duration"] + 1)]
    save(HERE / "durations.csv", durations, "ticks,duration")


def main() -> None:
    """Write the reference files for every MIDI file next to this script."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--official", type=Path, required=True, help="folder of the MMT modules")
    args = parser.parse_args()
    sys.path.insert(0, str(args.official))
    import representation  # the official module, from --official

    encoding = representation.get_encoding()
    save_tables(encoding)
    verdicts = []
    for midi in sorted(HERE.glob("*.mid")):
        name = midi.stem
        music = muspy.read(midi)
        save(
            HERE / f"{name}.notes.csv.gz",
            muspy_notes(music),
            "onset,duration,pitch,velocity,program,is_drum,track",
        )

        # the official conversion step (mmt/convert_*.py): resolution 12, zero durations
        # become 1, duplicate notes removed, then the length filter on the end time
        music.adjust_resolution(RESOLUTION)
        for track in music.tracks:
            for note in track.notes:
                note.duration = max(note.duration, 1)
        music.remove_duplicate()
        end_time = music.get_end_time()
        kept_by_length = RESOLUTION * 4 * 10 <= end_time <= RESOLUTION * 4 * 2000

        codes = representation.encode(music, encoding)
        save(HERE / f"{name}.codes.csv.gz", codes, CODE_HEADER)
        decoded = np.array(representation.decode_notes(codes, encoding))
        save(HERE / f"{name}.decoded.csv.gz", decoded, "beat,position,pitch,duration,program")

        # the official extraction step (mmt/extract.py): at least 50 notes, first beat -> 0
        notes = representation.extract_notes(music, RESOLUTION)
        kept_by_count = len(notes) >= 50
        shifted = notes.copy()
        shifted[:, 0] -= shifted[0, 0]
        save(
            HERE / f"{name}.shifted.csv.gz",
            representation.encode_notes(shifted, encoding),
            CODE_HEADER,
        )
        short = dict(encoding, max_beat=64)
        save(
            HERE / f"{name}.max_beat_64.csv.gz",
            representation.encode_notes(notes, short),
            CODE_HEADER,
        )
        verdicts.append((name, end_time, len(notes), int(kept_by_length), int(kept_by_count)))

    with open(HERE / "verdicts.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["name", "end_ticks", "n_notes", "kept_by_length", "kept_by_count"])
        writer.writerows(verdicts)


if __name__ == "__main__":
    main()
