"""The file commands as a user runs them: ``tuplet show``, ``render``, ``encode``, ``decode``,
``data prepare`` and ``data inspect`` write what they say, round-trip, refuse to overwrite,
and answer bad input with one line and status 1."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from tuplet.cli import main
from tuplet.encoding import get_encoding, quantise, shift_to_first_beat
from tuplet.io import read_notes
from tuplet.io.midi import write_midi

DATA = Path(__file__).parent / "data"
QUARTET = DATA / "multitrack_drums.mid"  # flute, clarinet, cello, bass and drums


def one_line_error(capsys: pytest.CaptureFixture[str], *needles: str) -> None:
    err = capsys.readouterr().err
    assert err.startswith("tuplet: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err, err


def test_show_lists_tracks_length_tempo_and_meter(capsys) -> None:
    assert main(["show", str(QUARTET)]) == 0
    out = capsys.readouterr().out
    for needle in ("Flute", "Cello", "Drums", "386", "56.00 beats", "96.0 qpm", "4/4, 2/4"):
        assert needle in out, needle


def test_show_says_when_an_abc_file_holds_more_tunes(capsys) -> None:
    assert main(["show", str(DATA / "reelsa-c.abc")]) == 0
    assert "(the first of 2 tunes; tuplet data prepare reads them all)" in capsys.readouterr().out


@pytest.mark.parametrize("name", ["mmt", "tuplet"])
@pytest.mark.parametrize("kind", ["csv", "npy"])
def test_encode_then_decode_gives_the_quantised_piece(tmp_path, capsys, name, kind) -> None:
    codes = tmp_path / f"codes.{kind}"
    assert main(["encode", str(QUARTET), "--encoding", name, "--out", str(codes)]) == 0
    assert main(["decode", str(codes), "--encoding", name, "--out", str(tmp_path / "x.mid")]) == 0
    back = read_notes(tmp_path / "x.mid")
    expected = quantise(read_notes(QUARTET), get_encoding(name))
    assert len(back) == len(expected) > 0
    assert np.array_equal(np.sort(back.pitch), np.sort(expected.pitch))
    out = capsys.readouterr().out
    assert f"wrote {tmp_path / 'x.mid'}: {len(back)} notes" in out
    if name == "mmt":  # it has no drums: the 168 drum notes are left out, and it says so
        assert f"{len(expected)} of the file's 386 notes are encoded" in out


@pytest.mark.parametrize(("name", "moved"), [("mmt", 7), ("tuplet", 4)])
def test_encode_moves_a_late_first_note_to_the_start_unless_told(
    tmp_path, capsys, name: str, moved: int
) -> None:
    # the quartet's notes 7.5 beats later, its 4/4 map where it was: the first note is in
    # beat 7 (mmt moves by whole beats, as MMT's extract.py) and in the bar from beat 4
    notes = read_notes(QUARTET)
    late = replace(notes, onset_ticks=notes.onset_ticks + 15 * notes.ticks_per_beat // 2)
    write_midi(late, tmp_path / "late.mid")
    config = get_encoding(name)
    for keep, expected in [([], shift_to_first_beat(late, config)), (["--keep-beats"], late)]:
        codes = tmp_path / "codes.csv"
        argv = ["encode", str(tmp_path / "late.mid"), "--encoding", name, "--out", str(codes)]
        assert main([*argv, *keep, "--force"]) == 0
        out = capsys.readouterr().out
        assert (f"moved {moved} beats earlier" in out) == (not keep), out
        decoded = tmp_path / "x.mid"
        argv = ["decode", str(codes), "--encoding", name, "--out", str(decoded), "--force"]
        assert main(argv) == 0
        back, want = read_notes(decoded), quantise(expected, config)
        assert back.ticks_per_beat == want.ticks_per_beat == 12
        assert sorted(zip(back.onset_ticks.tolist(), back.pitch.tolist(), strict=True)) == sorted(
            zip(want.onset_ticks.tolist(), want.pitch.tolist(), strict=True)
        )
        first_beat = 7.5 if keep else 7.5 - moved
        assert back.onset_ticks.min() == first_beat * 12


def test_decode_says_how_many_rows_it_skipped(tmp_path, capsys) -> None:
    codes = tmp_path / "codes.npy"
    assert main(["encode", str(QUARTET), "--encoding", "mmt", "--out", str(codes)]) == 0
    rows = np.load(codes)
    notes = np.flatnonzero(rows[:, 0] == get_encoding("mmt").type_codes["note"])
    rows[notes[:3], 3] = 999  # pitch out of range
    np.save(codes, rows)
    capsys.readouterr()
    assert main(["decode", str(codes), "--encoding", "mmt", "--out", str(tmp_path / "x.mid")]) == 0
    out = capsys.readouterr().out
    assert f"{len(notes) - 3} notes" in out and "3 note row(s) with a code out of range" in out


def test_outputs_are_not_overwritten_without_force(tmp_path, capsys) -> None:
    out = tmp_path / "codes.csv"
    assert main(["encode", str(QUARTET), "--out", str(out)]) == 0
    before = out.read_bytes()
    capsys.readouterr()
    assert main(["encode", str(DATA / "bwv84.5.mid"), "--out", str(out)]) == 1
    one_line_error(capsys, "--force")
    assert out.read_bytes() == before
    assert main(["encode", str(DATA / "bwv84.5.mid"), "--out", str(out), "--force"]) == 0
    assert out.read_bytes() != before


def test_render_writes_audio_and_a_piano_roll(tmp_path) -> None:
    assert main(["render", str(DATA / "bwv84.5.mid"), "--out", str(tmp_path / "a.wav")]) == 0
    assert main(["render", str(DATA / "bwv84.5.mid"), "--out", str(tmp_path / "a.png")]) == 0
    assert (tmp_path / "a.wav").read_bytes()[:4] == b"RIFF"
    assert (tmp_path / "a.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["show", "{empty}"], ["empty.mid", "empty"]),
        (["show", "{text}"], ["text.mid"]),
        (["show", "{folder}"], ["folder"]),
        (["show", "{missing}"], ["missing.mid"]),
        (["encode", "{quartet}", "--out", "{out}/x.txt"], ["x.txt"]),
        (["decode", "{codes}", "--out", "{out}/x.wav"], ["x.wav", "give a .mid file"]),
        (["render", "{quartet}", "--out", "{out}/x.wav", "--soundfont", "{text}"], ["SoundFont"]),
        (["data", "inspect", "{folder}"], ["folder"]),
    ],
)
def test_bad_input_gets_one_line_and_status_1(tmp_path, capsys, args, needles) -> None:
    files = {
        "empty": tmp_path / "empty.mid",
        "text": tmp_path / "text.mid",
        "folder": tmp_path / "folder",
        "missing": tmp_path / "missing.mid",
        "quartet": QUARTET,
        "codes": tmp_path / "codes.csv",
        "out": tmp_path,
    }
    files["empty"].write_bytes(b"")
    files["text"].write_text("not a midi file\n")
    files["folder"].mkdir()
    assert main(["encode", str(QUARTET), "--out", str(files["codes"])]) == 0
    capsys.readouterr()
    assert main([a.format(**files) for a in args]) == 1
    one_line_error(capsys, *needles)


def test_data_prepare_and_inspect_on_a_folder_with_bad_files(tmp_path, capsys) -> None:
    src = tmp_path / "my music"
    src.mkdir()
    for name in ("bwv66.6.mid", "bwv84.5.mid", "multitrack_drums.mid"):
        shutil.copy(DATA / name, src / name)
    shutil.copy(DATA / "bwv84.5.mid", src / "Bärenlied.mid")  # a duplicate, non-ASCII name
    (src / "broken.mid").write_bytes(b"MThd\x00\x00\x00\x06\x00\x01")  # truncated
    (src / "empty.mid").write_bytes(b"")
    out = tmp_path / "ds"
    args = ["data", "prepare", str(src), "--out", str(out), "--jobs", "1", "--quiet"]
    assert main([*args, "--rights", "owned", "--holder", "Me"]) == 0
    skipped = (out / "skipped.csv").read_text()
    assert "broken.mid" in skipped and "empty.mid" in skipped and "duplicate" in skipped
    records = [json.loads(x) for x in (out / "provenance.jsonl").read_text().splitlines()]
    assert [(r["basis"], r["holder"]) for r in records if r["status"] == "kept"] == [
        ("owned", "Me")
    ] * 2  # multitrack_drums.mid and one of the two identical chorales (the other: duplicate)
    assert "Bärenlied.mid" in (out / "provenance.jsonl").read_text(encoding="utf-8")
    capsys.readouterr()
    assert main(["data", "inspect", str(out)]) == 0
    report = capsys.readouterr().out
    assert "owned" in report and "duplicate" in report
