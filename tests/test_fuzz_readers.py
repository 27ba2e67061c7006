"""Every reader, fed mutated real files: it reads them or refuses in one line naming the file.

A small fixed-seed share of the campaign in scripts/fuzz_readers.py (the same Hypothesis
strategies; docs/reliability.md has the 10,000-case runs). Cases run in this process, so a
hang would show as a slow test rather than be cut at a deadline: the campaign has the
deadlines and the memory limit.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "fuzz_readers.py"
spec = importlib.util.spec_from_file_location("fuzz_readers", SCRIPT)
assert spec is not None and spec.loader is not None
fuzz = importlib.util.module_from_spec(spec)
sys.modules["fuzz_readers"] = fuzz
spec.loader.exec_module(fuzz)

# cases per target: cheap readers get more
CASES = {"midi": 60, "midi-synth": 40, "musicxml": 6, "kern": 6, "abc": 4, "dataset": 10,
         "checkpoint": 12, "codes": 12, "audio": 12}  # fmt: skip


@pytest.fixture(scope="module")
def seeds(tmp_path_factory, one_thread):
    return fuzz.make_seeds(tmp_path_factory.mktemp("seeds"))


@pytest.mark.parametrize("target", list(CASES))
def test_a_reader_reads_a_mutated_file_or_refuses_in_one_line_naming_it(
    target, seeds, tmp_path
):
    source = seeds["dataset"][0].parent / "dataset-src" if target == "dataset" else None
    outcomes = []

    @settings(max_examples=CASES[target], derandomize=True, database=None, deadline=None,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(case=fuzz.case_strategy(target, seeds, max_repeat=8))
    def one(case):
        path = fuzz.write_case(target, case, seeds, tmp_path / "case")
        error = None
        try:
            fuzz.read_case(target, path, source)
        except Exception as exc:
            error = exc
        outcome, detail = fuzz.judge(target, path, error)
        assert outcome in ("ok", "refused"), f"{case!r}: {outcome}: {detail}"
        outcomes.append(outcome)

    one()
    assert len(outcomes) == CASES[target]
    if target not in ("kern", "abc", "dataset"):  # these readers forgive most mutations
        assert "refused" in outcomes  # the mutations do reach the readers' checks


def test_the_judge_tells_a_good_refusal_from_a_bad_one(tmp_path):
    from tuplet.errors import BadFileError, UsageError

    path = tmp_path / "piece.mid"
    assert fuzz.judge("midi", path, None) == ("ok", "")
    assert fuzz.judge("midi", path, BadFileError(path, "no notes"))[0] == "refused"
    assert fuzz.judge("midi", path, UsageError("something is wrong"))[0] == "bad-message"
    assert fuzz.judge("midi", path, UsageError(f"{path}: one\ntwo"))[0] == "bad-message"
    assert fuzz.judge("midi", path, KeyError("tracks"))[0] == "uncaught"


def test_mutations_change_files_as_documented():
    data = bytes(range(20))
    assert fuzz.apply_byte_op(data, ("truncate", 0.5)) == data[:10]
    assert fuzz.apply_byte_op(data, ("flip", 0.0, 0))[0] == 1
    repeated = data[:10] + data[10:12] * 3 + data[10:]
    assert fuzz.apply_byte_op(data, ("repeat", 0.5, 2, 3)) == repeated
    midi = b"MThd" + (6).to_bytes(4, "big") + b"\0\1\0\1\1\xe0" + b"MTrk\0\0\0\4\0\xff\x2f\0"
    assert fuzz.apply_midi_op(midi, ("chunk_length", 0.99, 0xFFFFFFFF))[18:22] == b"\xff" * 4
    assert fuzz.apply_midi_op(midi, ("ntracks", 1000))[10:12] == (1000).to_bytes(2, "big")
    text = b"<duration>4</duration>\n<divisions>8</divisions>\n"
    assert fuzz.apply_text_op(text, ("number", 0.9, "0")) == text.replace(b">8<", b">0<")
    assert fuzz.apply_text_op(text, ("line_repeat", 0.0, 3)).count(b"duration") == 6


# ---------------------------------------------- defects the campaign found, kept fixed
def test_a_time_signature_of_millions_of_beats_is_refused_at_once(tmp_path, data_dir):
    import zipfile

    from tuplet.errors import BadFileError
    from tuplet.io.score import read_score

    with zipfile.ZipFile(data_dir / "bwv66.6.mxl") as z:
        name = next(n for n in z.namelist() if n.endswith(".xml") and "META" not in n)
        xml = z.read(name).replace(b"<beats>4</beats>", b"<beats>99999999</beats>", 1)
    path = tmp_path / "huge-meter.musicxml"
    path.write_bytes(xml)
    # music21 would build 99,999,999 beat objects (minutes, gigabytes) before failing
    with pytest.raises(BadFileError, match=r"huge-meter.musicxml: .*99999999/4"):
        read_score(path)


def test_an_abc_bar_of_millions_of_beats_is_read(tmp_path):
    from tuplet.io.score import read_score_all

    path = tmp_path / "long.abc"
    path.write_text("X:1\nT:Long\nM:4/4\nL:1/4\nK:C\nCDEF|GABc|G99999999|cBAG|\n")
    # music21 guesses a meter of the long bar to re-bar it (99999995/4): now skipped
    [(song, notes)] = read_score_all(path)
    assert song == "long.abc" and len(notes) == 13


def test_a_dataset_description_that_is_not_text_is_refused_in_one_line(tmp_path):
    from tuplet.corpus import inspect
    from tuplet.errors import UsageError

    (tmp_path / "dataset.json").write_bytes(b'{"format": "\xff\xfe"}')
    with pytest.raises(UsageError, match=r"dataset.json: unreadable dataset description"):
        inspect(tmp_path)


# numpy raises EOFError (empty), ValueError (cut header), TokenError (a bracket left open)
@pytest.mark.parametrize("damage", ["empty", "cut", "bracket"])
def test_decode_refuses_a_damaged_npy_in_one_line(tmp_path, capsys, damage):
    import numpy as np

    from tuplet.cli import main

    np.save(tmp_path / "codes.npy", np.ones((10, 8), dtype=np.int64))
    data = (tmp_path / "codes.npy").read_bytes()
    data = {"empty": b"", "cut": data[:100], "bracket": data.replace(b"}", b" ", 1)}[damage]
    (tmp_path / "codes.npy").write_bytes(data)
    assert main(["decode", str(tmp_path / "codes.npy"), "--out", str(tmp_path / "o.mid")]) == 1
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"tuplet: error: {tmp_path / 'codes.npy'}: not a readable .npy array")


MIDI = ("bwv84.5.mid", "multitrack_drums.mid", "lascia_chio_pianga.mid")


@pytest.fixture
def small_dataset(tmp_path, data_dir):
    import shutil

    from tuplet.corpus import prepare

    src = tmp_path / "src"
    src.mkdir()
    for name in MIDI:
        shutil.copy2(data_dir / name, src / name)
    prepare([src], tmp_path / "ds", jobs=1, progress=False, filters=None, split=(0.5, 0.5, 0))
    return src, tmp_path / "ds"


def _sequences(folder):
    from tuplet.corpus.store import iter_sequences

    return [(e["item"], e["split"], e["hash"], c.tolist()) for e, c in iter_sequences(folder)]


@pytest.mark.parametrize(
    "damage",
    [{"offset": "12"}, {"offset": -5}, {"length": 10**9}, {"item": None}, {"hash": 7}],
)
def test_a_damaged_index_line_is_refused_by_readers_and_repaired_by_prepare(
    small_dataset, damage
):
    import json

    from tuplet.corpus import prepare
    from tuplet.errors import UsageError
    from tuplet.training.dataset import SequenceDataset

    src, folder = small_dataset
    before = _sequences(folder)
    index = folder / "index.jsonl"
    lines = index.read_text().splitlines()
    entry = json.loads(lines[1])
    entry.update(damage)
    lines[1] = json.dumps({k: v for k, v in entry.items() if v is not None})
    index.write_text("\n".join(lines) + "\n")
    if damage.get("length") is None:  # a line that is whole but wrong is caught when read
        with pytest.raises(UsageError, match=r"index.jsonl: entry 2 is damaged; run the same"):
            SequenceDataset(folder, "train", max_seq_len=64, max_beat=32)
    # prepare takes the file's commit back and reads it again (it used to raise, or drop it)
    prepare([src], folder, jobs=1, progress=False, filters=None, split=(0.5, 0.5, 0))
    assert sorted(_sequences(folder)) == sorted(before)


@pytest.mark.parametrize(
    "damage",
    [
        ("fields", ["meter", "key"]),  # the encoding's fields
        ("tempo_max_qpm", float("nan")),  # its tempo bins
        ("codes_dtype", "<inan"),
    ],
)
def test_a_damaged_dataset_description_is_refused_in_one_line_and_prepare_starts_over(
    small_dataset, damage
):
    import json

    from tuplet.corpus import inspect, prepare
    from tuplet.corpus.store import DamagedDatasetError

    src, folder = small_dataset
    before = _sequences(folder)
    info = json.loads((folder / "dataset.json").read_text())
    key, value = damage
    (info if key == "codes_dtype" else info["encoding"])[key] = value
    (folder / "dataset.json").write_text(json.dumps(info))
    with pytest.raises(DamagedDatasetError, match=r"dataset.json: damaged dataset description"):
        inspect(folder)
    report = prepare([src], folder, jobs=1, progress=False, filters=None, split=(0.5, 0.5, 0))
    assert report.reset == "its dataset.json was damaged"
    assert sorted(_sequences(folder)) == sorted(before)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("d_model", 99999998, r"model.safetensors: does not fit the model in config.json"),
        ("d_model", 32.0, r"config.json: invalid model config \(d_model is 32.0"),
        ("n_layer", 0, r"config.json: invalid model config"),
    ],
)
def test_a_damaged_model_config_is_refused_before_the_model_is_built(
    seeds, tmp_path, field, value, message
):
    import json
    import shutil

    from tuplet.errors import BadFileError
    from tuplet.model.checkpoint import load_checkpoint

    folder = tmp_path / "ck"
    shutil.copytree(seeds["checkpoint"][0], folder)
    config = json.loads((folder / "config.json").read_text())
    config["model"][field] = value  # 99999999 wide would ask for terabytes
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(BadFileError, match=message):
        load_checkpoint(folder)
