"""Corpus preparation: every input accounted for, dedup, splits, re-runs, crashes, kill -9."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from tuplet.corpus import SplitRule, discover, format_inspect, inspect, prepare
from tuplet.corpus.store import CodesReader
from tuplet.errors import UsageError

DATA = Path(__file__).parent / "data"
MIDI_FIXTURES = ["bwv66.6.mid", "bwv84.5.mid", "lascia_chio_pianga.mid", "multitrack_drums.mid"]


# ------------------------------------------------------------------ worker hooks
# module-level, so spawned workers can import them by name
def crash_or_hang(path: str) -> None:
    name = Path(path).name
    if name.startswith("crash"):
        os.kill(os.getpid(), signal.SIGSEGV)
    if name.startswith("hang"):
        time.sleep(60)


def slow(path: str) -> None:
    time.sleep(0.1)


# ---------------------------------------------------------------------- helpers
def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def outputs(out: Path) -> dict[str, bytes]:
    names = ["codes.bin", "index.jsonl", "skipped.csv", "provenance.jsonl", "files.jsonl"]
    return {name: (out / name).read_bytes() for name in names}


def transposed_midis(folder: Path, n: int) -> list[Path]:
    """``n`` distinct real pieces: BWV 84.5 transposed by 0..n-1 semitones (mod 24)."""
    from tuplet.io import read_notes
    from tuplet.io.midi import write_midi

    notes = read_notes(DATA / "bwv84.5.mid")
    paths = []
    for k in range(n):
        shifted = replace(notes, pitch=notes.pitch + (k % 24) - 12)
        paths.append(write_midi(shifted, folder / f"piece{k:02d}.mid"))
    return paths


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of real files: 4 chorales (MusicXML), the MIDI fixtures, a multi-song ABC,
    a duplicate, a bad file, an empty file and a text file."""
    from tuplet.io.score import music21_corpus_paths

    folder = tmp_path_factory.mktemp("corpus")
    for p in music21_corpus_paths("bach")[:4]:
        shutil.copy(p, folder / p.name)
    sub = folder / "midi"
    sub.mkdir()
    for name in MIDI_FIXTURES:
        shutil.copy(DATA / name, sub / name)
    shutil.copy(DATA / "reelsa-c.abc", folder / "reelsa-c.abc")
    shutil.copy(DATA / "bwv84.5.mid", sub / "zz_copy_of_84.mid")  # same bytes, later in order
    (folder / "bad.mid").write_bytes(b"this is not a MIDI file")
    (folder / "empty.mid").write_bytes(b"")
    (folder / "notes.txt").write_text("not music")
    return folder


@pytest.fixture(scope="module")
def prepared(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("prepared") / "ds"
    prepare([str(corpus)], out, encoding="tuplet", jobs=2, progress=False)
    return out


# ------------------------------------------------------------------------ tests
def test_every_input_ends_in_exactly_one_place(corpus: Path, prepared: Path) -> None:
    inputs, ignored = discover([str(corpus)])
    assert ignored == {".txt": 1}
    keys = {inp.key for inp in inputs}
    files = read_jsonl(prepared / "files.jsonl")
    assert {f["file"] for f in files} == keys and len(files) == len(keys)
    index = read_jsonl(prepared / "index.jsonl")
    skipped = read_csv(prepared / "skipped.csv")
    kept_items = [e["item"] for e in index]
    skipped_items = [r["item"] for r in skipped]
    assert not set(kept_items) & set(skipped_items)
    assert len(set(kept_items + skipped_items)) == len(kept_items) + len(skipped_items)
    # a file that yields no song is skipped as a whole; every other file has its songs placed
    for f in files:
        placed = [i for i in kept_items + skipped_items if i.split("#")[0] == f["file"]]
        assert len(placed) == max(1, f["items"]), f
    # the two reels of the ABC file are two items named by their X: numbers
    abc = str(corpus / "reelsa-c.abc")
    assert {i for i in kept_items + skipped_items if i.startswith(abc)} == {
        abc + "#80",
        abc + "#81",
    }
    # one provenance record per item
    records = read_jsonl(prepared / "provenance.jsonl")
    assert sorted(r["item"] for r in records) == sorted(kept_items + skipped_items)
    assert all(r["basis"] == "unknown" and r["status"] in ("kept", "skipped") for r in records)


def test_skip_reasons(corpus: Path, prepared: Path) -> None:
    import symusic

    rows = {r["item"]: r for r in read_csv(prepared / "skipped.csv")}
    assert rows[str(corpus / "bad.mid")]["reason"] == "unreadable"
    assert "MThd" in rows[str(corpus / "bad.mid")]["detail"]
    assert rows[str(corpus / "empty.mid")]["detail"] == "empty file"
    copy = rows[str(corpus / "midi" / "zz_copy_of_84.mid")]
    assert copy["reason"] == "duplicate"
    assert copy["detail"] == f"duplicate of {corpus / 'midi' / 'bwv84.5.mid'}"
    # BWV 66.6 lasts under 40 beats (measured here with symusic alone)
    score = symusic.Score(str(DATA / "bwv66.6.mid"))
    assert score.end() / score.ticks_per_quarter < 40
    short = rows[str(corpus / "midi" / "bwv66.6.mid")]
    assert short["reason"] == "filtered" and short["detail"].startswith("shorter than 40 beats")


def test_stored_codes_hashes_and_splits(corpus: Path, prepared: Path) -> None:
    from tuplet.encoding import encode, get_encoding, shift_to_first_beat
    from tuplet.io import read_notes

    config = get_encoding("tuplet")
    reader = CodesReader(prepared)
    entries = {e["item"]: e for e in reader.entries()}
    path = corpus / "midi" / "multitrack_drums.mid"
    entry = entries[str(path)]
    expected = encode(shift_to_first_beat(read_notes(path), config), config)
    stored = reader.codes(entry["offset"], entry["length"])
    np.testing.assert_array_equal(stored, expected)
    rule = SplitRule()
    for e in entries.values():
        codes = reader.codes(e["offset"], e["length"])
        raw = f"{codes.shape[1]}:".encode() + codes.astype("<i2").tobytes()
        assert e["hash"] == hashlib.sha256(raw).hexdigest()
        assert e["split"] == rule.split_of(e["hash"])
    info = json.loads((prepared / "dataset.json").read_text())
    assert info["complete"] and info["encoding"]["name"] == "tuplet"
    assert info["counts"]["kept"] == len(entries)
    assert sum(info["counts"][s] for s in ("train", "valid", "test")) == len(entries)
    assert info["counts"]["skipped"] == len(read_csv(prepared / "skipped.csv"))


def test_inspect_counts(prepared: Path) -> None:
    summary = inspect(prepared)
    index = read_jsonl(prepared / "index.jsonl")
    assert summary["sequences"] == len(index)
    assert sum(summary["splits"].values()) == len(index)
    assert summary["rights"] == {"unknown": len(index)}  # an undeclared folder
    assert summary["skipped"] == {"unreadable": 2, "duplicate": 1, "filtered": 1}
    assert summary["instruments"]["Drums"] == 1
    assert summary["instruments"]["Flute"] == 1
    assert sum(summary["length_beats"].values()) == len(index)
    text = format_inspect(summary)
    assert "unreadable" in text and "Drums" in text and "rights basis" in text


def test_rerun_grow_and_shrink(corpus: Path, tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(corpus / "midi", src)
    out = tmp_path / "ds"
    first = prepare([str(src)], out, jobs=1, progress=False)
    assert first.processed == 5 and first.kept == 3  # 66.6 filtered, the copy a duplicate
    before = outputs(out)
    again = prepare([str(src)], out, jobs=1, progress=False)
    assert again.processed == 0 and again.unchanged == 5
    assert outputs(out) == before
    # touched but identical bytes: not read again
    os.utime(src / "bwv84.5.mid", ns=(1, 1))
    assert prepare([str(src)], out, jobs=1, progress=False).processed == 0
    # a new file is read, alone
    shutil.copy(DATA / "bwv277.krn", src / "bwv277.krn")
    grown = prepare([str(src)], out, jobs=1, progress=False)
    assert grown.processed == 1 and grown.kept == 1
    # removing the original of a duplicate: the copy is read again and kept in its place
    (src / "bwv84.5.mid").unlink()
    shrunk = prepare([str(src)], out, jobs=1, progress=False)
    assert shrunk.removed == 1 and shrunk.redone == 1 and shrunk.processed == 1
    assert shrunk.kept == 1
    items = {e["item"] for e in read_jsonl(out / "index.jsonl")}
    assert str(src / "zz_copy_of_84.mid") in items
    assert str(src / "bwv84.5.mid") not in items
    assert not [r for r in read_csv(out / "skipped.csv") if r["reason"] == "duplicate"]
    assert json.loads((out / "dataset.json").read_text())["dead_rows"] > 0


def test_jobs_do_not_change_the_result(corpus: Path, prepared: Path, tmp_path: Path) -> None:
    out = tmp_path / "ds"
    prepare([corpus], out, jobs=1, progress=False)  # a Path works as well as a str
    assert outputs(out)["codes.bin"] == outputs(prepared)["codes.bin"]
    assert outputs(out)["index.jsonl"] == outputs(prepared)["index.jsonl"]
    assert outputs(out)["skipped.csv"] == outputs(prepared)["skipped.csv"]


def test_crashing_and_hanging_readers_cost_only_their_file(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for name in ("bwv84.5.mid", "lascia_chio_pianga.mid", "multitrack_drums.mid"):
        shutil.copy(DATA / name, src / name)
    shutil.copy(DATA / "bwv84.5.mid", src / "crash.mid")
    shutil.copy(DATA / "lascia_chio_pianga.mid", src / "hang.mid")
    report = prepare(
        [str(src)],
        tmp_path / "ds",
        jobs=2,
        timeout_s=1.5,
        worker_hook=crash_or_hang,
        progress=False,
    )
    rows = {Path(r["item"]).name: r for r in read_csv(tmp_path / "ds" / "skipped.csv")}
    assert rows["crash.mid"]["reason"] == "crashed" and "SIGSEGV" in rows["crash.mid"]["detail"]
    assert rows["hang.mid"]["reason"] == "timeout"
    assert report.kept == 3 and report.processed == 5
    assert report.seconds < 30


def test_files_queued_behind_a_crash_are_read_by_a_new_worker(tmp_path: Path) -> None:
    # each worker holds DEPTH files at a time: those sent after the one it died on are read
    # again by another worker, not lost and not blamed
    from tuplet.corpus.workers import DEPTH

    src = tmp_path / "src"
    src.mkdir()
    paths = transposed_midis(src, 4 * DEPTH + 2)
    crash = paths[1].with_name("crash.mid")
    paths[1].rename(crash)

    def lost(signum: int, frame: object) -> None:
        raise TimeoutError("prepare never finished: a queued file was lost")

    before = signal.signal(signal.SIGALRM, lost)
    signal.alarm(30)
    try:
        report = prepare(
            [str(src)], tmp_path / "ds", jobs=2, worker_hook=crash_or_hang, progress=False
        )
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, before)
    rows = read_csv(tmp_path / "ds" / "skipped.csv")
    assert [(Path(r["item"]).name, r["reason"]) for r in rows] == [("crash.mid", "crashed")]
    assert report.kept == len(paths) - 1 and report.processed == len(paths)


def test_recovery_from_torn_writes(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    transposed_midis(src, 4)
    out = tmp_path / "ds"
    prepare([str(src)], out, jobs=1, progress=False)
    good = outputs(out)
    # what a run killed mid-file leaves: rows of an uncommitted file, and torn last lines
    with open(out / "codes.bin", "ab") as f:
        f.write(b"\x01\x00" * 10 * 7 + b"\x05")
    with open(out / "index.jsonl", "a") as f:
        f.write(
            '{"item": "x", "file": "/nowhere.mid", "offset": 9999, "length": 7}\n{"item": "y", '
        )
    with open(out / "skipped.csv", "a") as f:
        f.write("/nowhere.mid,unreadable,torn")
    with open(out / "files.jsonl", "a") as f:
        f.write('{"file": "/nowh')
    report = prepare([str(src)], out, jobs=1, progress=False)
    assert report.processed == 0
    assert outputs(out) == good


def test_kill_9_then_rerun_equals_an_uninterrupted_run(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    transposed_midis(src, 20)
    reference = tmp_path / "reference"
    prepare([str(src)], reference, jobs=1, progress=False)

    out = tmp_path / "ds"
    script = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_corpus import slow
        from tuplet.corpus import prepare
        prepare([{str(src)!r}], {str(out)!r}, jobs=2, progress=False, worker_hook=slow)
        """
    )
    child = subprocess.Popen([sys.executable, "-c", script], start_new_session=True)
    deadline = time.monotonic() + 60
    log = out / "files.jsonl"
    while time.monotonic() < deadline:
        if log.exists() and log.read_bytes().count(b"\n") >= 6:
            break
        assert child.poll() is None, "the run ended before it could be killed"
        time.sleep(0.02)
    os.killpg(child.pid, signal.SIGKILL)  # the run and its workers
    child.wait()
    done = log.read_bytes().count(b"\n")
    assert 6 <= done < 20
    assert not json.loads((out / "dataset.json").read_text())["complete"]

    report = prepare([str(src)], out, jobs=1, progress=False)  # any jobs: same result
    assert report.processed == 20 - done
    assert outputs(out) == outputs(reference)
    assert (
        json.loads((out / "dataset.json").read_text())["counts"]
        == json.loads((reference / "dataset.json").read_text())["counts"]
    )


def test_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such folder"):
        prepare([str(tmp_path / "missing")], tmp_path / "ds", progress=False)
    with pytest.raises(UsageError, match="unknown music21 corpus"):
        prepare(["music21:nosuchcorpus"], tmp_path / "ds", progress=False)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "thesis.tex").write_text("mine")
    with pytest.raises(UsageError, match="not empty"):
        prepare([str(DATA)], busy, progress=False)
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(DATA / "bwv84.5.mid", src)
    prepare([str(src)], tmp_path / "ds", encoding="mmt", jobs=1, progress=False)
    with pytest.raises(UsageError, match="holds a mmt dataset"):
        prepare([str(src)], tmp_path / "ds", encoding="tuplet", jobs=1, progress=False)
    with pytest.raises(UsageError, match="add up to 1"):
        prepare([str(src)], tmp_path / "ds2", split=(0.5, 0.1, 0.1), progress=False)


def test_changed_filters_start_over(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(DATA / "bwv66.6.mid", src)
    out = tmp_path / "ds"
    assert prepare([str(src)], out, jobs=1, progress=False).kept == 0
    report = prepare([str(src)], out, jobs=1, filters=None, progress=False)
    assert report.reset == "the filters changed" and report.kept == 1
    assert json.loads((out / "dataset.json").read_text())["filters"] is None


def test_music21_corpus_provenance(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    sources = ["music21:luca", "music21:johnson_j_r", "music21:webern"]
    prepare(sources, out, jobs=1, filters=None, progress=False)
    records = {r["item"]: r for r in read_jsonl(out / "provenance.jsonl")}
    assert set(records) == {
        "music21:luca/gloria.xml",
        "music21:johnson_j_r/lift_every_voice.mxl",
        "music21:webern/webern_dormi_jesu_op_16_no_2.mxl",
    }
    luca = records["music21:luca/gloria.xml"]  # <rights>...CC-BY-SA 3.0 license</rights>
    assert luca["encoding"]["spdx"] == "CC-BY-SA-3.0" and luca["basis"] == "open_license"
    assert "share_alike" in luca["flags"] and "commercial_use_may_be_restricted" in luca["flags"]
    lift = records["music21:johnson_j_r/lift_every_voice.mxl"]  # "Encoding by MSAC: CC0"
    assert lift["encoding"]["spdx"] == "CC0-1.0"
    webern = records["music21:webern/webern_dormi_jesu_op_16_no_2.mxl"]  # "CC-BY-SA", no version
    assert webern["encoding"]["basis"] == "unknown" and "share_alike" in webern["flags"]
    assert webern["encoding"]["spdx"] == "LicenseRef-music21-corpus"
    for r in records.values():
        assert "music21 corpus/license.txt" in r["evidence"]
    info = json.loads((out / "dataset.json").read_text())
    assert "distributed with the permission" in info["terms"]["music21 corpus/license.txt"]


def test_rights_sidecar_is_applied_on_every_run(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(DATA / "bwv84.5.mid", src)
    sidecar = src / "tuplet-rights.json"
    sidecar.write_text(json.dumps({"basis": "owned", "holder": "Jane Roe"}))
    out = tmp_path / "ds"
    prepare([str(src)], out, jobs=1, progress=False)
    (record,) = read_jsonl(out / "provenance.jsonl")
    assert record["basis"] == "owned" and record["holder"] == "Jane Roe"
    assert inspect(out)["rights"] == {"owned": 1}
    # a changed declaration takes effect without reading the file again
    sidecar.write_text(json.dumps({"encoding": {"basis": "contract", "holder": "Label"}}))
    assert prepare([str(src)], out, jobs=1, progress=False).processed == 0
    (record,) = read_jsonl(out / "provenance.jsonl")
    assert record["encoding"]["basis"] == "contract" and record["basis"] == "unknown"


def test_splits_from_another_dataset_pins_its_items(corpus: Path, tmp_path: Path) -> None:
    # items of `old` (all test there) keep their split in `new`, whose own rule says train
    old, new = tmp_path / "old", tmp_path / "new"
    prepare([corpus / "midi"], old, jobs=1, progress=False, split=(0.0, 0.0, 1.0))
    prepare([corpus], new, jobs=1, progress=False, split=(1.0, 0.0, 0.0), splits_from=old)
    before = {e["item"]: e["split"] for e in read_jsonl(old / "index.jsonl")}
    after = {e["item"]: e["split"] for e in read_jsonl(new / "index.jsonl")}
    assert set(before.values()) == {"test"} and len(before) == 3
    assert {k: after[k] for k in before} == before
    assert {v for k, v in after.items() if k not in before} == {"train"}
    kept = [r for r in read_jsonl(new / "provenance.jsonl") if r.get("status") == "kept"]
    assert {r["item"]: r["split"] for r in kept} == after
    assert json.loads((new / "dataset.json").read_text())["splits_from"]["items"] == 3
    # without it, a re-run splits by hash again
    prepare([corpus], new, jobs=1, progress=False, split=(1.0, 0.0, 0.0))
    assert {e["split"] for e in read_jsonl(new / "index.jsonl")} == {"train"}
    with pytest.raises(UsageError, match="not a prepared dataset"):
        prepare([corpus], tmp_path / "x", progress=False, splits_from=tmp_path)
