"""tuplet personalize: a catalog in, a fine-tuned model with its card out."""

import json
import subprocess
import sys

import pytest

from tuplet.cli import main
from tuplet.corpus import prepare
from tuplet.corpus.store import read_jsonl
from tuplet.errors import UsageError
from tuplet.io.score import music21_corpus_paths
from tuplet.personalize import PersonalizeOptions, hold_out, personalize
from tuplet.training.train import TrainConfig, train

FAST = PersonalizeOptions(
    steps=12, lr=3e-3, warmup_steps=2, batch_size=4, max_seq_len=128, valid_every=4,
    early_stop=0, slice_rate=0.5, loop_bars=2,
)  # fmt: skip


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    """Ten fiddle tunes of Ryan's Mammoth Collection (1883), as a musician's folder."""
    folder = tmp_path_factory.mktemp("tunes")
    for path in music21_corpus_paths("ryansMammoth")[:10]:
        (folder / path.name).write_bytes(path.read_bytes())
    return folder


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A tiny model trained for a few steps on four chorales."""
    src = tmp_path_factory.mktemp("bach")
    for path in music21_corpus_paths("bach")[:4]:
        (src / path.name).write_bytes(path.read_bytes())
    data = tmp_path_factory.mktemp("bach-data") / "ds"
    prepare([src], data, jobs=1, progress=False, filters=None, split=(1, 0, 0),
            rights="owned", holder="Test Choir")  # fmt: skip
    run = tmp_path_factory.mktemp("base") / "run"
    config = TrainConfig(
        preset="tiny", steps=4, batch_size=4, lr=1e-3, warmup_steps=1, decay_steps=4,
        valid_every=4, max_seq_len=128, max_beat=64, seed=1,
    )  # fmt: skip
    train(data, run, config, progress=False, use="personal")
    return run / "best"


def test_hold_out_keeps_one_piece_of_two_and_repeats(tmp_path, catalog):
    files = sorted(catalog.iterdir())[:2]
    prepare(files, tmp_path / "ds", jobs=1, progress=False, filters=None, split=(1, 0, 0))
    assert hold_out(tmp_path / "ds", 0.15) == {"train": 1, "valid": 1, "test": 0}
    assert hold_out(tmp_path / "ds", 0.15) == {"train": 1, "valid": 1, "test": 0}
    index = read_jsonl(tmp_path / "ds" / "index.jsonl")
    held = min(index, key=lambda e: e["hash"])
    assert held["split"] == "valid"  # the smallest content hash
    records = {r["item"]: r for r in read_jsonl(tmp_path / "ds" / "provenance.jsonl")}
    assert records[held["item"]]["split"] == "valid"
    info = json.loads((tmp_path / "ds" / "dataset.json").read_text())
    assert info["counts"]["valid"] == 1 and "held_out" in info["split"]


def test_personalize_writes_a_model_that_fits_the_catalog_better(
    tmp_path, catalog, base, monkeypatch
):
    import tuplet.training.train as training

    out = tmp_path / "mine"
    real = training.train
    # interrupted after 4 steps (as Ctrl-C or a kill would): what was learned is kept
    monkeypatch.setattr(training, "train", lambda *a, **k: real(*a, stop_after=4, **k))
    with pytest.raises(KeyboardInterrupt):
        personalize([catalog], out, rights="owned", holder="The Test Band", base=base,
                    options=FAST, progress=False)  # fmt: skip
    assert (out / "run" / "last" / "config.json").is_file()
    assert not (out / "config.json").exists()  # no model until the fine-tune is done
    monkeypatch.undo()
    result = personalize([catalog], out, rights="owned", holder="The Test Band", base=base,
                         options=FAST, resume=True, progress=False)  # fmt: skip
    assert result.pieces["valid"] >= 1 and result.pieces["train"] >= 5
    assert result.steps == 12
    # the fine-tune lowers the NLL of the held-out pieces of the catalog
    assert result.valid_nll < result.base_valid_nll - 0.5
    config = json.loads((out / "config.json").read_text())
    assert config["scope"]["instruments"]  # the scope travels with the model
    assert config["extra"]["base"]["checkpoint_id"] == json.loads(
        (base / "config.json").read_text()
    )["checkpoint_id"]
    assert (out / "originality.npz").is_file()
    card = (out / "MODEL_CARD.md").read_text()
    assert "The Test Band" in card and "held out to validate" in card
    assert (out / "DATA_STATEMENT.md").is_file()
    assert (out / "run" / "energy.json").is_file()
    # the model generates, and its samples are scored against the catalog
    gen = tmp_path / "gen"
    args = ["--n", "1", "--max-events", "40", "--out", str(gen), "--seed", "1", "--quiet"]
    assert main(["generate", "--model", str(out), *args]) == 0
    report = json.loads(next(gen.glob("*.json")).read_text())
    assert "originality" in report
    # a second run on the same folder refuses; --resume with nothing to resume refuses
    with pytest.raises(UsageError, match="holds a fine-tune already"):
        personalize([catalog], out, rights="owned", holder="The Test Band", base=base,
                    options=FAST, progress=False)  # fmt: skip
    with pytest.raises(UsageError, match="nothing to resume"):
        personalize([catalog], tmp_path / "other", rights="owned", holder="B", base=base,
                    options=FAST, resume=True, progress=False)  # fmt: skip


def test_rights_are_required_and_owned_needs_a_holder(tmp_path, catalog):
    with pytest.raises(UsageError, match="whose music"):
        personalize([catalog], tmp_path / "a", rights=None, progress=False)
    with pytest.raises(UsageError, match="--holder"):
        personalize([catalog], tmp_path / "b", rights="owned", progress=False)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
    # on the command line without a terminal, nothing is asked: the error says what to give
    run = subprocess.run(
        [sys.executable, "-m", "tuplet", "personalize", str(catalog), "--out", str(tmp_path / "c")],
        capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60,
    )  # fmt: skip
    assert run.returncode == 1
    assert "whose music is this? give --rights" in run.stderr
