"""Faults: kills at a chosen point, a full disk, two processes on one folder.

The campaigns that kill at random points and fill a real disk are in
scripts/kill_campaign.py (docs/reliability.md); these are their fast, deterministic cases.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tuplet.cli import main
from tuplet.corpus import prepare, store
from tuplet.errors import UsageError, WriteError
from tuplet.io.score import music21_corpus_paths
from tuplet.model.checkpoint import load_checkpoint
from tuplet.training.losslog import truncate_losses
from tuplet.training.train import TrainConfig, load_losses, train

MIDI = ("bwv66.6.mid", "bwv84.5.mid", "lascia_chio_pianga.mid", "multitrack_drums.mid")
TINY = TrainConfig(preset="tiny", model_overrides={"dropout": 0.1, "n_layer": 1}, steps=8,
                   batch_size=2, lr=3e-3, warmup_steps=2, decay_steps=8, valid_every=4,
                   valid_batches=1, early_stop=0, max_seq_len=48, max_beat=16, seed=3,
                   augment=False)  # fmt: skip
COLUMNS = ("step", "split", "loss", "nll_per_note", "lr")
UNVERIFIED = {"allow_unverified": True, "reason": "test data: fixtures, rights not declared"}
NO_SPACE = OSError(errno.ENOSPC, "No space left on device")


def _content(folder: Path) -> dict:
    info = json.loads((folder / store.INFO_FILE).read_text())
    info.pop("updated")
    reader = store.CodesReader(folder)
    index = reader.entries()
    return {
        "info": info,
        "index": index,
        "codes": [reader.codes(e["offset"], e["length"]).tolist() for e in index],
        "files": store.read_jsonl(folder / store.FILES_FILE),
        "skipped": store.read_skipped(folder / store.SKIPPED_FILE),
        "provenance": store.read_jsonl(folder / store.PROVENANCE_FILE),
        "codes_bytes": (folder / store.CODES_FILE).stat().st_size,
    }


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("src")
    for name in MIDI:
        shutil.copy2(Path(__file__).parent / "data" / name, src / name)
    (src / "broken.mid").write_bytes(b"MThd\x00\x00\x00\x06\x00\x01\x00\x02\x01\xe0MTrk\xff")
    return src


@pytest.fixture(scope="module")
def reference(sources, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("ref") / "ds"
    prepare([sources], out, jobs=1, progress=False, filters=None)
    return _content(out)


@pytest.fixture(scope="module")
def chorales(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("chorales")
    for path in music21_corpus_paths("bach")[:4]:
        shutil.copy2(path, src / path.name)
    out = tmp_path_factory.mktemp("chorale-data") / "ds"
    prepare([src], out, jobs=1, progress=False, filters=None, split=(1.0, 0.0, 0.0))
    return out


@pytest.fixture(scope="module")
def full_run(chorales, tmp_path_factory, one_thread) -> Path:
    """An uninterrupted run: what every interrupted one must end up equal to."""
    out = tmp_path_factory.mktemp("full") / "run"
    train(chorales, out, TINY, progress=False, **UNVERIFIED)
    return out


def _losses(run: Path) -> list[list[str]]:
    return [[r[c] for c in COLUMNS] for r in load_losses(run)]


# ------------------------------------------------------------------------ kills
KILLER = textwrap.dedent(
    """
    import os, signal, sys
    from tuplet.corpus import prepare

    def hook(path):
        if path.endswith(sys.argv[3]):
            os.kill(os.getpid(), signal.SIGKILL)

    prepare([sys.argv[1]], sys.argv[2], jobs=1, progress=False, filters=None, worker_hook=hook)
    """
)


@pytest.mark.parametrize("victim", ["bwv84.5.mid", "multitrack_drums.mid"])
def test_prepare_killed_mid_run_then_run_again_equals_an_uninterrupted_run(
    sources, reference, tmp_path, victim
):
    out = tmp_path / "ds"
    killed = subprocess.run([sys.executable, "-c", KILLER, str(sources), str(out), victim])
    assert killed.returncode == -9
    info = json.loads((out / store.INFO_FILE).read_text())
    assert info["complete"] is False  # a reader of the folder can tell it is unfinished
    with pytest.raises(UsageError, match="did not finish"):
        train(out, tmp_path / "run", TINY, progress=False, **UNVERIFIED)
    prepare([sources], out, jobs=1, progress=False, filters=None)
    assert _content(out) == reference
    assert not [p for p in out.iterdir() if ".tmp" in p.name]


def test_a_fresh_run_after_a_kill_before_the_first_save_starts_a_clean_loss_log(
    chorales, full_run, tmp_path
):
    out = tmp_path / "run"
    out.mkdir()
    # what a run killed before it first saved leaves: rows of steps nothing can continue
    shutil.copy(full_run / "losses.csv", out / "losses.csv")
    with (out / "losses.csv").open("a") as f:
        f.write("13,train,2.5")  # torn by the kill
    again = train(chorales, out, TINY, progress=False, **UNVERIFIED)
    assert again.steps == TINY.steps
    assert _losses(out) == _losses(full_run)


def test_resume_after_a_kill_between_the_two_renames_of_a_save(chorales, full_run, tmp_path):
    out = tmp_path / "run"
    train(chorales, out, TINY, progress=False, stop_after=5, **UNVERIFIED)
    # a save killed after moving the old last/ aside and before moving the new one in
    os.replace(out / "last", out / ".last.old")
    result = train(chorales, out, TINY, resume=True, progress=False)
    assert result.steps == TINY.steps and not (out / ".last.old").exists()
    assert _losses(out) == _losses(full_run)


def test_a_torn_or_half_written_loss_log_is_cleaned_when_cut(tmp_path):
    path = tmp_path / "losses.csv"
    path.write_text("step,split,loss\r\n1,train,3.0\r\n2,train\r\n3,train,2.0\r\n9,train,1.")
    truncate_losses(path, 5)
    assert path.read_bytes() == b"step,split,loss\r\n1,train,3.0\r\n3,train,2.0\r\n"
    path.write_text("step,spl")  # the header itself torn: nothing left, the file goes
    truncate_losses(path, 5)
    assert not path.exists()


# ------------------------------------------------------------------- a full disk
def test_a_full_disk_during_prepare_stops_clearly_and_the_next_run_completes(
    sources, reference, tmp_path, monkeypatch, capsys
):
    out = tmp_path / "ds"
    real_add = store.StoreWriter.add_file
    calls = {"n": 0}

    def add_file(self, file_record, sequences, skipped, provenance):
        calls["n"] += 1
        if calls["n"] == 3:  # half a file's codes reach the disk, then it is full
            self._codes.write(b"\1\2" * 100)
            self._codes.flush()
            raise NO_SPACE
        return real_add(self, file_record, sequences, skipped, provenance)

    monkeypatch.setattr(store.StoreWriter, "add_file", add_file)
    args = ["data", "prepare", str(sources), "--out", str(out), "--jobs", "1", "--quiet"]
    assert main([*args, "--no-filter"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"tuplet: error: {out}: cannot write: No space left on device; free some space and "
        "run the same command again: it carries on"
    ]
    assert json.loads((out / store.INFO_FILE).read_text())["complete"] is False
    monkeypatch.setattr(store.StoreWriter, "add_file", real_add)
    assert main([*args, "--no-filter"]) == 0
    assert _content(out) == reference


def test_a_full_disk_during_training_keeps_the_last_save_and_resume_matches(
    chorales, full_run, tmp_path, monkeypatch
):
    from tuplet.model import checkpoint

    out = tmp_path / "run"
    real_write = checkpoint._write_bytes
    calls = {"n": 0}

    def write_bytes(path, data):
        calls["n"] += 1
        if calls["n"] > 6:  # best/ and last/ of the first validation fit (6 files), no more
            path.write_bytes(data[: len(data) // 2])
            raise NO_SPACE
        real_write(path, data)

    monkeypatch.setattr(checkpoint, "_write_bytes", write_bytes)
    with pytest.raises(WriteError, match=r"cannot write: No space left on device; free some"):
        train(chorales, out, TINY, progress=False, **UNVERIFIED)
    _model, info = load_checkpoint(out / "last")  # the last save that fitted, whole
    assert info["extra"]["trainer"]["dataset"] == str(chorales)
    assert not [p.name for p in out.iterdir() if ".tmp" in p.name or p.name.endswith(".old")]
    monkeypatch.setattr(checkpoint, "_write_bytes", real_write)
    train(chorales, out, TINY, resume=True, progress=False)
    assert _losses(out) == _losses(full_run)


def test_a_full_disk_while_writing_midi_leaves_no_file_and_names_it(
    tmp_path, monkeypatch, capsys, data_dir
):
    from tuplet.encoding import codes_to_csv, encode, get_encoding, shift_to_first_beat
    from tuplet.io import read_notes

    config = get_encoding("tuplet")
    codes = encode(shift_to_first_beat(read_notes(data_dir / "bwv84.5.mid"), config), config)
    codes_to_csv(codes, config, tmp_path / "codes.csv")
    real = Path.write_bytes

    def half_then_full(self, data):
        real(self, data[: len(data) // 2])
        raise NO_SPACE

    monkeypatch.setattr(Path, "write_bytes", half_then_full)
    out = tmp_path / "back.mid"
    assert main(["decode", str(tmp_path / "codes.csv"), "--out", str(out)]) == 1
    assert capsys.readouterr().err.strip() == f"tuplet: error: {out}: No space left on device"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["codes.csv"]


# ---------------------------------------------------------- two processes, one folder
HOLDER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from tuplet.corpus import store

    with store.lock_folder(Path(sys.argv[1]), shared=sys.argv[2] == "shared",
                           holder="tuplet data prepare", busy="is being read"):
        print("locked", flush=True)
        time.sleep(60)
    """
)


def _hold(folder: Path, mode: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder), mode],
                            stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert proc.stdout is not None and proc.stdout.readline() == "locked\n"
    return proc


def _stop(proc: subprocess.Popen) -> None:
    proc.kill()
    proc.communicate()


def test_a_second_prepare_is_refused_while_one_writes_and_not_after_it_is_killed(
    sources, reference, tmp_path
):
    out = tmp_path / "ds"
    prepare([sources], out, jobs=1, progress=False, filters=None)
    before = _content(out)
    other = _hold(out, "exclusive")  # another prepare, in the middle of its run
    try:
        with pytest.raises(UsageError) as refused:
            prepare([sources], out, jobs=1, progress=False, filters=None)
        assert str(refused.value) == (
            f"{out}: is being written by tuplet data prepare (process {other.pid}); "
            "try again when it has finished"
        )
        with pytest.raises(UsageError, match="is being written by tuplet data prepare"):
            train(out, tmp_path / "run", TINY, progress=False, **UNVERIFIED)
        assert _content(out) == before  # neither refusal touched the folder
    finally:
        _stop(other)
    # a killed holder leaves no lock behind
    prepare([sources], out, jobs=1, progress=False, filters=None)
    assert _content(out) == reference


def test_prepare_is_refused_while_a_training_run_reads_the_folder(sources, tmp_path):
    out = tmp_path / "ds"
    prepare([sources], out, jobs=1, progress=False, filters=None)
    reader = _hold(out, "shared")  # a training run reading it
    try:
        with pytest.raises(UsageError, match="is in use by another process"):
            prepare([sources], out, jobs=1, progress=False, filters=None)
        # readers do not exclude each other
        with store.lock_folder(out, shared=True, holder="test", busy="busy"):
            pass
    finally:
        _stop(reader)


def test_two_training_runs_into_one_folder_the_second_is_refused(chorales, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    other = _hold(out, "exclusive")
    try:
        with pytest.raises(UsageError, match="run: is being written by"):
            train(chorales, out, TINY, progress=False, **UNVERIFIED)
    finally:
        _stop(other)
