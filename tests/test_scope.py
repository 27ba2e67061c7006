"""A model knows what it saw: a prompt in its style is judged OK, one on instruments it never
heard makes it abstain, and tuplet generate refuses such a prompt unless told to go on."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from tuplet.cli import main
from tuplet.corpus import prepare
from tuplet.generation.generate import load_model
from tuplet.io import read_notes
from tuplet.notes import from_rows
from tuplet.responsibility.scope import Scope, judge, measure_scope, write_scope
from tuplet.training.train import TrainConfig, train

DATA = Path(__file__).parent / "data"
FOREIGN = DATA / "multitrack_drums.mid"  # flute, clarinet, cello, bass and drums


pytestmark = pytest.mark.usefixtures("one_thread")


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
    # its doubts, bar by bar: after random notes it is less sure than in its own piece
    from tuplet.responsibility.scope import bar_entropy

    mine = bar_entropy(lm, read_notes(DATA / "bwv84.5.mid"), 16)
    theirs = bar_entropy(lm, from_rows(rows, ticks_per_beat=480), 16)
    assert sorted(mine) == [0, 1, 2, 3] and scope.entropy_warn is not None
    assert np.mean(list(theirs.values())) > np.mean(list(mine.values()))


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
    capsys.readouterr()
    assert main(ok) == 0
    report = json.loads((tmp_path / "ok" / "sample-01.json").read_text())
    assert report["prompt_judged"]["level"] in ("ok", "warn")
    # the model's doubts as it wrote, bar by bar, against its scope's threshold
    unsure = report["unsure_bars"]
    assert unsure["threshold"] == pytest.approx(
        json.loads((model / "config.json").read_text())["scope"]["entropy_warn"], abs=1e-4)
    assert set(unsure["bars"]) <= {int(b) for b in unsure["entropy"]} and unsure["entropy"]
    said = "the model was unsure in bar(s)" in capsys.readouterr().out
    assert said == bool(unsure["bars"])  # named when there are any, and only then


# ------------------------------------------------------------------ candidates, picked
def test_each_score_punishes_its_case(run: tuple[Path, Path]) -> None:
    from dataclasses import replace

    from tuplet.generation.pick import score_candidates
    from tuplet.responsibility.originality import OriginalityIndex

    data, model = run
    lm = load_model(model)
    scope = measure_scope(lm, data, split="train")
    chorale = read_notes(DATA / "bwv84.5.mid")
    tpb = chorale.ticks_per_beat
    other = read_notes(DATA / "lascia_chio_pianga.mid")
    index = OriginalityIndex.from_pieces(["other"], [other])  # the corpus: not the chorale
    copy = other.select((other.onset_ticks < 16 * other.ticks_per_beat) & ~other.is_drum)
    copy = replace(copy, program=np.zeros(len(copy), dtype=np.int64))
    constant = from_rows([(i * tpb, tpb, 60, 90, 0, False, 0) for i in range(32)], tpb)
    rng = np.random.default_rng(1)
    noise = from_rows([(int(o), tpb // 2, int(p), 90, 0, False, 0) for o, p in
                       zip(np.sort(rng.integers(0, 32 * tpb, 200)), rng.integers(30, 100, 200),
                           strict=True)], tpb)  # fmt: skip
    own, copied, const, rand = score_candidates(
        lm, [chorale.select(chorale.onset_ticks < 32 * tpb), copy, constant, noise], scope,
        index=index)  # fmt: skip
    assert copied.novelty == 0.0 and own.novelty > 0.3
    assert const.value < own.value and "pitch_class_entropy" in const.outside
    assert rand.surprise < own.surprise and rand.surprise < 0.05
    assert own.total > max(copied.total, const.total, rand.total)


def test_generate_keeps_the_best_candidates(run: tuple[Path, Path], tmp_path: Path) -> None:
    data, model = run
    base = ["generate", "--model", str(model), "--n", "4", "--seed", "0", "--max-beats", "16",
            "--quiet", "--originality", "off"]  # fmt: skip
    if "scope" in json.loads((model / "config.json").read_text()):
        config = json.loads((model / "config.json").read_text())
        del config["scope"]
        (model / "config.json").write_text(json.dumps(config))
    assert main([*base, "--keep", "2", "--out", str(tmp_path / "no-scope")]) != 0
    write_scope(model, measure_scope(load_model(model), data, split="train"))
    assert main([*base, "--keep", "5", "--out", str(tmp_path / "too-many")]) != 0
    assert main([*base, "--keep", "2", "--out", str(tmp_path / "kept")]) == 0
    reports = [json.loads((tmp_path / "kept" / f"sample-0{i}.json").read_text()) for i in (1, 2)]
    assert not (tmp_path / "kept" / "sample-03.mid").exists()
    assert [r["pick"]["rank"] for r in reports] == [1, 2]
    assert reports[0]["pick"]["total"] >= reports[1]["pick"]["total"]
    assert all(r["pick"]["of"] == 4 and 0 <= r["pick"]["value"] <= 1 for r in reports)
    # the kept are the best of all four: drawing all four shows the others score no higher
    assert main([*base, "--keep", "4", "--out", str(tmp_path / "all")]) == 0
    totals = sorted((json.loads((tmp_path / "all" / f"sample-0{i}.json").read_text())["pick"]
                     ["total"] for i in range(1, 5)), reverse=True)  # fmt: skip
    assert [r["pick"]["total"] for r in reports] == totals[:2]


def test_card_writes_a_data_statement(run: tuple[Path, Path], tmp_path: Path) -> None:
    data, model = run
    audit = tmp_path / "audit.json"
    audit.write_text(json.dumps({"rates": {"1": {"train": 0.5, "heldout": 0.0,
                                                 "difference": 0.5}}}))  # fmt: skip
    assert main(["card", str(model), "--data", str(data), "--extraction", str(audit)]) == 0
    statement = (model / "DATA_STATEMENT.md").read_text()
    assert "## Not covered" in statement and "East Asia" in statement
    assert "12-tone equal temperament" in statement and "piano" in statement.lower()
    assert "passed for research use" in statement  # its data is declared owned
    assert "50.0% of training pieces and 0.0% of held-out" in statement
    assert (model / "MODEL_CARD.md").read_text().startswith("# Model card:")
    assert main(["card", str(model), "--data", str(tmp_path)]) != 0
