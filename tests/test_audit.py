"""The extraction audit separates a model that memorised its training piece from one that did
not: the overfitted model reproduces the training piece from a one-bar prompt, not the held-out
one; an untrained model reproduces neither."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tuplet.cli import main
from tuplet.corpus import prepare
from tuplet.generation.generate import load_model
from tuplet.io import read_notes
from tuplet.responsibility.audit import audit_extraction, cardinality_score
from tuplet.training.train import TrainConfig, train

DATA = Path(__file__).parent / "data"


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """BWV 84.5 to train on, BWV 66.6 held out (its split pinned with splits_from)."""
    root = tmp_path_factory.mktemp("audit")
    src = root / "src"
    src.mkdir()
    for name in ("bwv84.5.mid", "bwv66.6.mid"):
        shutil.copy(DATA / name, src / name)
    owned = {"rights": "owned", "holder": "Me", "jobs": 1, "progress": False, "filters": None}
    prepare([str(src / "bwv66.6.mid")], root / "held", split=(0.0, 0.0, 1.0), **owned)
    prepare([src], root / "ds", split=(1.0, 0.0, 0.0), splits_from=root / "held", **owned)
    return root / "ds"


@pytest.fixture(scope="module")
def overfitted(dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small model trained 400 steps on one chorale: it learns it by heart (8-15 s).

    Its loss ends near 0.001 nats per note, so a 4-bar continuation of 50 notes comes out
    whole in about 95% of draws (after 200 steps, 0.006: only about 74%, too few for a test).
    """
    out = tmp_path_factory.mktemp("overfit") / "run"
    config = TrainConfig(
        preset="tiny", model_overrides={"dropout": 0.0, "d_model": 64}, steps=400,
        batch_size=4, lr=3e-3, warmup_steps=10, decay_steps=400, valid_every=1000,
        max_seq_len=256, max_beat=64, augment=False, fim_rate=0.0, seed=0,
    )  # fmt: skip
    train(dataset, out, config, progress=False)
    return out / "last"


def test_cardinality_score_is_exact_and_moves_with_the_music() -> None:
    piece = read_notes(DATA / "bwv84.5.mid")
    tpb = piece.ticks_per_beat
    early = piece.select(piece.onset_ticks < 8 * tpb)
    moved = early.select(early.pitch > 0)
    moved = type(moved)(**{**moved.__dict__, "onset_ticks": moved.onset_ticks + 3 * tpb,
                           "pitch": moved.pitch - 5})  # fmt: skip
    assert cardinality_score(early, moved) == 1.0
    half = early.select(early.onset_ticks < 4 * tpb)
    assert cardinality_score(half, early) == pytest.approx(len(half) / len(early), abs=0.05)
    assert cardinality_score(early, early.select(early.pitch < 0)) == 0.0


def test_the_audit_separates_a_memorising_model_from_an_untrained_one(
    dataset: Path, overfitted: Path, tmp_path: Path
) -> None:
    kwargs = {"prefix_bars": (1, 2), "continuation_bars": 4, "n_pieces": 1}
    memorised = audit_extraction(load_model(overfitted), dataset, **kwargs)
    assert memorised.rates["1"]["train"] == 1.0 and memorised.rates["1"]["heldout"] == 0.0
    assert all(r["difference"] >= 0.5 for r in memorised.rates.values())
    # the same architecture, untrained: it reproduces nothing
    untrained = tmp_path / "untrained"
    train(dataset, untrained, TrainConfig(preset="tiny", steps=1, max_seq_len=256, max_beat=64,
                                          model_overrides={"d_model": 64}, valid_every=1000),
          progress=False)  # fmt: skip
    control = audit_extraction(load_model(untrained / "last"), dataset, **kwargs)
    assert all(r["train"] == 0.0 and r["difference"] == 0.0 for r in control.rates.values())
    assert {p["group"] for p in control.pieces} == {"train", "heldout"}


def test_the_cli_prints_and_writes_the_rates(dataset: Path, overfitted: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "audit.json"
    assert main(["audit", "extraction", "--model", str(overfitted), "--data", str(dataset),
                 "--pieces", "1", "--prefix-bars", "1", "--bars", "4", "--out", str(out),
                 "--quiet"]) == 0  # fmt: skip
    printed = capsys.readouterr().out
    assert "100.0% of 1" in printed and "+100.0 points" in printed
    assert json.loads(out.read_text())["rates"]["1"]["train"] == 1.0
    assert main(["audit", "extraction", "--data", str(dataset), "--prefix-bars", "0"]) != 0
    assert "--prefix-bars '0': each at least 1" in capsys.readouterr().err
