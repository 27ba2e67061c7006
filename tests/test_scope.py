"""A model knows what it saw: a prompt in its style is judged OK, one on instruments it never
heard makes it abstain, and tuplet generate refuses such a prompt unless told to go on."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from tuplet.cli import main
from tuplet.corpus import prepare
from tuplet.generate import load_model
from tuplet.io import read_notes
from tuplet.notes import from_rows
from tuplet.scope import Scope, judge, measure_scope, write_scope
from tuplet.train import TrainConfig, train

DATA = Path(__file__).parent / "data"
FOREIGN = DATA / "multitrack_drums.mid"  # flute, clarinet, cello, bass and drums


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(dataset, checkpoint): a small model trained 150 steps on two chorales (piano)."""
    root = tmp_path_factory.mktemp("scope")
    src = root / "src"
    src.mkdir()
    for name in ("bwv84.5.mid", "bwv66.6.mid"):
        shutil.copy(DATA / name, src / name)
    prepare([src], root / "ds", rights="owned", holder="Me", jobs=1, progress=False,
            filters=None, split=(1.0, 0.0, 0.0))  # fmt: skip
    config = TrainConfig(
        preset="tiny", model_overrides={"dropout": 0.0, "d_model": 64}, steps=150,
        batch_size=4, lr=3e-3, warmup_steps=10, decay_steps=150, valid_every=1000,
        max_seq_len=256, max_beat=64, augment=False, fim_rate=0.0, seed=0,
    )  # fmt: skip
    train(root / "ds", root / "run", config, progress=False)
    return root / "ds", root / "run" / "last"


def test_in_style_prompts_pass_and_foreign_ones_abstain(run: tuple[Path, Path]) -> None:
    data, model = run
    lm = load_model(model)
    scope = measure_scope(lm, data, split="train")
    assert scope.instruments == {"piano": scope.instruments["piano"]} and "4/4" in scope.meters
    assert scope.nll_abstain >= scope.nll_warn > 0
    own = judge(lm, scope, read_notes(DATA / "bwv84.5.mid"), 16)
    assert own.level == "ok" and own.reasons == [], own
    foreign = judge(lm, scope, read_notes(FOREIGN), 16)
    assert foreign.level == "abstain"
    assert any("never heard" in r and "drums" in r for r in foreign.reasons)
    # random notes on its own instrument: far more surprising than its style
    rng = np.random.default_rng(0)
    onsets = np.sort(rng.integers(0, 16 * 480, 150))
    rows = [(int(o), 120, int(p), 64, 0, False, 0)
            for o, p in zip(onsets, rng.integers(30, 100, 150), strict=True)]  # fmt: skip
    noise = judge(lm, scope, from_rows(rows, ticks_per_beat=480), 16)
    assert noise.level != "ok" and noise.nll_per_note > scope.nll_abstain
    assert Scope.from_dict(json.loads(json.dumps(scope.to_dict()))) == scope


def test_generate_abstains_on_a_foreign_prompt_unless_forced(
    run: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, model = run
    # no valid split to judge: the command fails, and writes nothing
    assert main(["audit", "scope", "--model", str(model), "--data", str(data), "--heldout",
                 "valid", "--write", "--quiet"]) != 0  # fmt: skip
    assert "scope" not in json.loads((model / "config.json").read_text())
    write_scope(model, measure_scope(load_model(model), data, split="train"))
    assert "scope" in json.loads((model / "config.json").read_text())
    base = ["generate", "--model", str(model), "--prompt", str(FOREIGN), "--prompt-beats", "8",
            "--max-beats", "12", "--seed", "0", "--quiet", "--originality", "off"]  # fmt: skip
    capsys.readouterr()
    assert main([*base, "--out", str(tmp_path / "refused")]) != 0
    err = capsys.readouterr().err
    assert "out of its depth" in err and "never heard" in err and "--force-prompt" in err
    assert not (tmp_path / "refused").exists()
    assert main([*base, "--out", str(tmp_path / "forced"), "--force-prompt"]) == 0
    report = json.loads((tmp_path / "forced" / "sample-01.json").read_text())
    assert report["prompt_judged"]["level"] == "abstain" and report["prompt_judged"]["forced"]
    # an in-style prompt goes through, judged OK
    ok = ["generate", "--model", str(model), "--prompt", str(DATA / "bwv84.5.mid"),
          "--prompt-beats", "8", "--max-beats", "12", "--seed", "0", "--quiet",
          "--originality", "off", "--out", str(tmp_path / "ok")]  # fmt: skip
    assert main(ok) == 0
    assert json.loads((tmp_path / "ok" / "sample-01.json").read_text())["prompt_judged"][
        "level"] in ("ok", "warn")  # fmt: skip
