"""The ``mmt`` path, file to codes, against the MMT authors' own pipeline on whole MIDI files.

The reference codes in tests/data/mmt-reference/ were produced by MMT's code (``extract.py``,
then ``representation.encode_notes``) reading the files with MusPy 0.5.0; see its README.
``tuplet encode --encoding mmt`` and ``tuplet data prepare --encoding mmt`` must give them row
for row.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from tuplet.cli import main
from tuplet.corpus.store import iter_sequences
from tuplet.encoding import codes_from_csv, encode, get_encoding
from tuplet.errors import BadFileError, UsageError
from tuplet.io import read_notes
from tuplet.io.midi import read_midi

DATA = Path(__file__).parent / "data"
REF = DATA / "mmt-reference"
MIDI = {
    "piano_performance": REF / "piano_performance.mid",
    "pop_band": REF / "pop_band.mid",
    "bwv84.5": DATA / "bwv84.5.mid",
    "lascia_chio_pianga": DATA / "lascia_chio_pianga.mid",
    "multitrack_drums": DATA / "multitrack_drums.mid",
}
MMT = get_encoding("mmt")


def reference(name: str) -> np.ndarray:
    return codes_from_csv(REF / f"{name}.codes.csv.gz", MMT)


def mismatch(name: str, mine: np.ndarray, official: np.ndarray) -> str | None:
    """None if the codes are equal, else a line saying how they differ."""
    if mine.shape == official.shape and (mine == official).all():
        return None
    shared = Counter(map(tuple, mine.tolist())) & Counter(map(tuple, official.tolist()))
    same = sum(shared.values()) / len(official)
    n = min(len(mine), len(official))
    first = int(np.flatnonzero((mine[:n] != official[:n]).any(axis=1))[0]) if n else 0
    return (
        f"{name}: {len(mine)} rows against MMT's {len(official)}, {same:.1%} of MMT's rows "
        f"identical, first difference at row {first}"
    )


def test_encode_gives_mmts_codes(tmp_path, capsys) -> None:
    assert sorted(p.name.split(".codes")[0] for p in REF.glob("*.codes.csv.gz")) == sorted(MIDI)
    problems = []
    for name, midi in MIDI.items():
        out = tmp_path / f"{name}.csv"
        assert main(["encode", str(midi), "--encoding", "mmt", "--out", str(out)]) == 0
        problems.append(mismatch(name, codes_from_csv(out, MMT), reference(name)))
    assert [p for p in problems if p] == []
    capsys.readouterr()


def test_data_prepare_gives_mmts_codes(tmp_path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for midi in MIDI.values():
        shutil.copy(midi, src / midi.name)
    out = tmp_path / "ds"
    args = ["data", "prepare", str(src), "--out", str(out), "--encoding", "mmt"]
    assert main([*args, "--jobs", "1", "--quiet"]) == 0
    stored = {Path(entry["item"]).stem: codes for entry, codes in iter_sequences(out)}
    assert sorted(stored) == sorted(MIDI)  # MMT's filters keep every one
    problems = [mismatch(name, stored[name], reference(name)) for name in MIDI]
    assert [p for p in problems if p] == []


@pytest.mark.parametrize("name", ["piano_performance", "pop_band"])
def test_muspy_reader_reads_the_notes_muspy_reads(name: str) -> None:
    official = np.loadtxt(REF / f"{name}.notes.csv.gz", dtype=np.int64, delimiter=",", skiprows=1)
    notes = read_midi(REF / f"{name}.mid", reader="muspy")
    columns = [notes.onset_ticks, notes.duration_ticks, notes.pitch, notes.program, notes.is_drum]
    mine = np.stack(columns, axis=1).astype(np.int64)
    np.testing.assert_array_equal(mine[np.lexsort(mine.T[::-1])], official)


def test_where_the_readers_differ_on_the_band() -> None:
    path = REF / "pop_band.mid"
    muspy, symusic = read_midi(path, reader="muspy"), read_midi(path, reader="symusic")
    # guitar 2 (channel 3) doubles guitar 1's chord at beat 15.5 while its program changes
    # from 27 to 29: the chord ends on 29 (MusPy), it started on 27 (symusic)
    chord = (muspy.onset_ticks == 3600 + 8 * 480) & (muspy.program == 29)
    assert chord.sum() == 12  # guitar 1's six notes and guitar 2's, the same notes
    guitars = (symusic.onset_ticks == 3600 + 8 * 480) & np.isin(symusic.program, (27, 29))
    assert Counter(symusic.program[guitars].tolist()) == {27: 6, 29: 6}
    # the lead's program change (80) follows its first note-on at the same tick: symusic
    # puts that note on program 0 (a piano, which MMT's codes do not have)
    piano = ~symusic.is_drum & (symusic.program == 0)
    assert symusic.onset_ticks[piano].tolist() == [3600] and symusic.pitch[piano].tolist() == [66]
    assert not (~muspy.is_drum & (muspy.program == 0)).any()
    # the lead's last note never ends: MusPy ends it with its track, symusic drops it
    assert len(muspy) == len(symusic) + 1
    assert muspy.end_ticks > symusic.end_ticks


def test_keep_beats_keeps_the_files_beats(tmp_path, capsys) -> None:
    midi = REF / "piano_performance.mid"
    out = tmp_path / "kept.csv"
    assert main(["encode", str(midi), "--encoding", "mmt", "--out", str(out), "--keep-beats"]) == 0
    kept = codes_from_csv(out, MMT)
    notes = read_notes(midi, midi_reader="muspy")
    np.testing.assert_array_equal(kept, encode(notes, MMT))
    assert kept[kept[:, 0] == 3][0, 1:3].tolist() == [8, 7]  # the first note: beat 7.5
    assert "moved" not in capsys.readouterr().out
    # by default the first note lies in beat 0 and the notes past beat 1024 of the file stay
    assert main(["encode", str(midi), "--encoding", "mmt", "--out", str(tmp_path / "x.csv")]) == 0
    assert "moved 7 beats earlier" in capsys.readouterr().out
    shifted = codes_from_csv(tmp_path / "x.csv", MMT)
    assert shifted[shifted[:, 0] == 3][0, 1:3].tolist() == [1, 7]
    assert (shifted[:, 0] == 3).sum() > (kept[:, 0] == 3).sum()


def test_muspy_reader_refuses_what_it_cannot_read(tmp_path) -> None:
    import mido

    # a note-on that never ends, in a track that ends 2.8 million beats later: symusic drops
    # the note (and finds none), MusPy ends it with the track
    midi = mido.MidiFile(type=1, ticks_per_beat=96)
    midi.tracks.append(
        mido.MidiTrack(
            [
                mido.Message("note_on", note=60, velocity=64, time=0),
                mido.MetaMessage("end_of_track", time=0x0FFFFFFF),
            ]
        )
    )
    path = tmp_path / "endless.mid"
    midi.save(path)
    for reader, problem in [("symusic", "no notes"), ("muspy", "absurd tick values")]:
        with pytest.raises(BadFileError, match=problem):
            read_midi(path, reader=reader)
    with pytest.raises(UsageError, match="unknown MIDI reader 'pretty_midi'"):
        read_midi(path, reader="pretty_midi")


def test_a_dataset_prepared_with_symusics_reading_is_started_over(tmp_path, capsys) -> None:
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(MIDI["pop_band"], src / "pop_band.mid")
    out = tmp_path / "ds"
    args = ["data", "prepare", str(src), "--out", str(out), "--encoding", "mmt", "--jobs", "1"]
    assert main([*args, "--quiet"]) == 0
    info_path = out / "dataset.json"
    info = json.loads(info_path.read_text())
    assert info["midi_reader"] == "muspy"
    # a folder prepared before the mmt path read MIDI as MusPy does records no reader: its
    # codes for the band were symusic's, so the run reads every file again
    del info["midi_reader"]
    info_path.write_text(json.dumps(info))
    capsys.readouterr()
    assert main([*args, "--quiet"]) == 0
    assert "started over: MIDI files are read otherwise now" in capsys.readouterr().out
    [(_, codes)] = list(iter_sequences(out))
    assert mismatch("pop_band", codes, reference("pop_band")) is None
    assert json.loads(info_path.read_text())["midi_reader"] == "muspy"
