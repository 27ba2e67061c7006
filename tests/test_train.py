import json
import math
import os
import socket
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from tuplet.corpus import prepare
from tuplet.errors import UsageError
from tuplet.io.score import music21_corpus_paths
from tuplet.model.checkpoint import load_checkpoint
from tuplet.training.lineage import SAME_ITEMS, shared_items
from tuplet.training.train import (
    TrainConfig,
    learning_rate,
    load_losses,
    train,
)

TINY = TrainConfig(
    preset="tiny",
    model_overrides={"dropout": 0.1},
    steps=24,
    batch_size=4,
    lr=3e-3,
    warmup_steps=4,
    decay_steps=24,
    valid_every=8,
    valid_batches=2,
    early_stop=0,
    max_seq_len=128,
    max_beat=64,
    fim_rate=0.25,
    seed=3,
)
# the fixtures are music21's chorales copied into folders, with no rights declared: their
# basis is unknown and every training run here goes on past the rights gate, saying why
REASON = "test data: music21 chorales copied into a folder, rights not declared"
UNVERIFIED = {"allow_unverified": True, "reason": REASON}
UNVERIFIED_ARGS = ["--allow-unverified", "--reason", REASON]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bach-data")
    src = tmp_path_factory.mktemp("bach-src")
    for path in music21_corpus_paths("bach")[:14]:
        (src / path.name).write_bytes(path.read_bytes())
    prepare([str(src)], folder / "ds", jobs=1, progress=False, filters=None)
    return folder / "ds"


def _weights(run_dir, which="last"):
    model, _ = load_checkpoint(run_dir / which)
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_schedule_warms_up_then_decays_to_the_floor():
    c = TrainConfig(lr=1.0, warmup_steps=10, decay_steps=110, final_lr_ratio=0.1)
    assert learning_rate(0, c) == pytest.approx(0.1)
    assert learning_rate(9, c) == pytest.approx(1.0)
    assert learning_rate(60, c) == pytest.approx(0.55)
    assert learning_rate(110, c) == pytest.approx(0.1)
    assert learning_rate(10_000, c) == pytest.approx(0.1)


def test_short_run_lowers_the_loss_and_writes_everything(dataset, tmp_path):
    result = train(dataset, tmp_path / "run", TINY, progress=False, **UNVERIFIED)
    assert result.stopped == "finished" and result.steps == TINY.steps
    rows = load_losses(tmp_path / "run")
    valid = [float(r["nll_per_note"]) for r in rows if r["split"] == "valid"]
    assert len(valid) == 3 and valid[-1] < valid[0] - 1.0
    for name in (
        "best/config.json",
        "best/model.safetensors",
        "last/trainer.safetensors",
        "loss_curve.png",
        "energy.json",
    ):
        assert (tmp_path / "run" / name).exists(), name
    energy = json.loads((tmp_path / "run" / "energy.json").read_text())
    assert energy["kwh"] > 0 and energy["total_kwh"] >= energy["kwh"]
    info = json.loads((tmp_path / "run" / "best" / "config.json").read_text())
    assert info["encoding"]["max_beat"] == TINY.max_beat
    assert info["training"]["seed"] == TINY.seed
    # best/ names its dataset, so its training corpus can be found (originality)
    assert info["extra"]["trainer"]["dataset"] == str(dataset)
    # a second run into the same folder is refused, not silently mixed
    with pytest.raises(UsageError, match="--resume"):
        train(dataset, tmp_path / "run", TINY, progress=False, **UNVERIFIED)


def test_resume_matches_an_uninterrupted_run(dataset, tmp_path):
    train(dataset, tmp_path / "full", TINY, progress=False, **UNVERIFIED)
    interrupted = train(
        dataset, tmp_path / "part", TINY, progress=False, stop_after=11, **UNVERIFIED
    )
    assert interrupted.stopped == "interrupted" and interrupted.steps == 11
    resumed = train(dataset, tmp_path / "part", TINY, resume=True, progress=False)
    assert resumed.steps == TINY.steps
    full, part = _weights(tmp_path / "full"), _weights(tmp_path / "part")
    for name, value in full.items():
        torch.testing.assert_close(part[name], value, rtol=0, atol=1e-6, msg=name)
    rows = [r for r in load_losses(tmp_path / "part") if r["split"] == "valid"]
    assert [int(r["step"]) for r in rows] == [8, 16, 24]


def test_a_finished_run_can_be_extended(dataset, tmp_path):
    short = replace(TINY, steps=8, decay_steps=8, valid_every=4)
    first = train(dataset, tmp_path / "run", short, progress=False, **UNVERIFIED)
    assert first.stopped == "finished"
    before = _weights(tmp_path / "run")
    # resuming a finished run without more steps changes nothing
    again = train(dataset, tmp_path / "run", short, resume=True, progress=False)
    assert again.steps == 8
    with pytest.raises(UsageError, match="only extend"):
        train(dataset, tmp_path / "run", short, resume=True, progress=False, extend_to=4)
    longer = train(dataset, tmp_path / "run", short, resume=True, progress=False, extend_to=12)
    assert longer.stopped == "finished" and longer.steps == 12
    after = _weights(tmp_path / "run")
    assert any(not torch.equal(before[k], after[k]) for k in before)
    info = json.loads((tmp_path / "run" / "last" / "config.json").read_text())
    assert info["training"]["steps"] == 12 and info["training"]["decay_steps"] == 12
    steps = [int(r["step"]) for r in load_losses(tmp_path / "run") if r["split"] == "valid"]
    assert steps == [4, 8, 12]


def test_fine_tune_from_checkpoint(dataset, tmp_path):
    train(dataset, tmp_path / "base", TINY, progress=False, **UNVERIFIED)
    ft = replace(TINY, steps=8, lr=1e-3, valid_every=4, fim_rate=0.0)
    result = train(
        dataset,
        tmp_path / "ft",
        ft,
        from_checkpoint=tmp_path / "base" / "best",
        progress=False,
        **UNVERIFIED,
    )
    assert result.steps == 8
    base, tuned = _weights(tmp_path / "base", "best"), _weights(tmp_path / "ft")
    assert any(not torch.equal(base[k], tuned[k]) for k in base)
    # the base is recorded in every save, with its dataset and the energy it took, and kept
    # when the run is resumed
    base_info = json.loads((tmp_path / "base" / "best" / "config.json").read_text())
    energy = json.loads((tmp_path / "base" / "energy.json").read_text())
    assert not (tmp_path / "base" / "best" / "energy.json").exists()  # the run folder holds it
    for folder in ("last", "best"):
        record = json.loads((tmp_path / "ft" / folder / "config.json").read_text())["extra"]
        assert record["base"]["checkpoint_id"] == base_info["checkpoint_id"]
        assert record["base"]["weights_sha256"] == base_info["weights_sha256"]
        assert record["base"]["energy_kwh"] == energy.get("total_kwh", energy["kwh"])
        # the base's gate record, its failing items named once: the same as this run's
        gate, base_gate = record["base"]["rights_gate"], base_info["extra"]["rights_gate"]
        assert {**gate, "items": None} == {**base_gate, "items": None}
        assert base_gate["items"] == record["rights_gate"]["items"]
        assert gate["items"] == SAME_ITEMS
    train(dataset, tmp_path / "ft", ft, resume=True, progress=False, extend_to=10)
    record = json.loads((tmp_path / "ft" / "last" / "config.json").read_text())["extra"]["base"]
    assert record["checkpoint_id"] == base_info["checkpoint_id"]
    # a base that carries its energy record passes it on; a fine-tune may change the order of
    # the fields' predictions (no weight changes shape), and a resumed run keeps it
    reordered = replace(
        ft, model_overrides={"field_order": "instrument-first", "onset_order": "instrument"}
    )
    again = train(dataset, tmp_path / "ft2", reordered,
                  from_checkpoint=tmp_path / "base" / "best", progress=False,
                  **UNVERIFIED)  # fmt: skip
    assert again.steps == 8
    model, _ = load_checkpoint(tmp_path / "ft2" / "best")
    order = model.config.field_order
    assert order is not None and order.index("instrument") < order.index("pitch")
    assert model.config.onset_order == "instrument"
    train(dataset, tmp_path / "ft2", reordered, resume=True, progress=False, extend_to=9)
    resumed = load_checkpoint(tmp_path / "ft2" / "last")[0].config
    assert resumed.field_order == order and resumed.onset_order == "instrument"
    record = json.loads((tmp_path / "ft2" / "last" / "config.json").read_text())["extra"]["base"]
    assert record["energy_kwh"] == energy.get("total_kwh", energy["kwh"])
    from tuplet.responsibility.card import model_card_text

    card = model_card_text(tmp_path / "ft2" / "best", dataset)
    assert "## Started from" in card and base_info["checkpoint_id"] in card
    assert "the notes of one onset by instrument" in card
    assert "with the training of the model it started from" in card
    assert "## Started from" not in model_card_text(tmp_path / "base" / "best", dataset)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_two_process_ddp_on_cpu(dataset, tmp_path):
    out = tmp_path / "ddp"
    env = {
        **os.environ,
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(_free_port()),
        "OMP_NUM_THREADS": "1",
    }
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_addr",
        "127.0.0.1",
        "--master_port",
        env["MASTER_PORT"],
        "-m",
        "tuplet",
        "train",
        str(dataset),
        "--preset",
        "tiny",
        "--steps",
        "6",
        "--batch-size",
        "2",
        "--max-seq-len",
        "64",
        "--max-beat",
        "32",
        "--valid-every",
        "3",
        "--valid-batches",
        "1",
        "--quiet",
        "--out",
        str(out),
        *UNVERIFIED_ARGS,
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "finished after 6 steps" in proc.stdout
    info = json.loads((out / "last" / "config.json").read_text())
    assert info["extra"]["trainer"]["world_size"] == 2
    assert len([r for r in load_losses(out) if r["split"] == "valid"]) == 2


def test_sigterm_saves_last_and_kill_9_leaves_a_loadable_checkpoint(dataset, tmp_path):
    import signal
    import time

    out = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "tuplet",
        "train",
        str(dataset),
        "--preset",
        "tiny",
        "--steps",
        "100000",
        "--batch-size",
        "2",
        "--max-seq-len",
        "64",
        "--max-beat",
        "32",
        "--valid-every",
        "5",
        "--valid-batches",
        "1",
        "--quiet",
        "--out",
        str(out),
        *UNVERIFIED_ARGS,
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}

    def start_and_wait_for_checkpoint():
        proc = subprocess.Popen(
            cmd + (["--resume"] if (out / "last").exists() else []),
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        deadline = time.time() + 120
        first = (out / "last" / "config.json").stat().st_mtime if (out / "last").exists() else 0
        while time.time() < deadline:
            cfg = out / "last" / "config.json"
            if cfg.exists() and cfg.stat().st_mtime > first:
                return proc
            time.sleep(0.2)
        proc.kill()
        proc.communicate()
        raise AssertionError("no checkpoint written")

    proc = start_and_wait_for_checkpoint()
    proc.send_signal(signal.SIGTERM)
    stdout, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0 and b"interrupted after" in stdout
    load_checkpoint(out / "last")  # loadable after the clean stop
    proc = start_and_wait_for_checkpoint()  # resumes from it
    time.sleep(0.5)
    proc.kill()  # kill -9, possibly in the middle of a save
    proc.communicate(timeout=30)
    _model, info = load_checkpoint(out / "last")
    assert info["training"]["steps"] == 100000


def test_a_run_killed_before_its_first_validation_resumes_from_a_timed_save(dataset, tmp_path):
    import time

    from tuplet.model.checkpoint import load_state

    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "tuplet", "train", str(dataset), "--preset", "tiny"]
    cmd += ["--steps", "100000", "--batch-size", "2", "--max-seq-len", "64", "--max-beat", "32"]
    cmd += ["--valid-every", "100000", "--save-every", "0.5", "--quiet", "--out", str(out)]
    cmd += UNVERIFIED_ARGS
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and not (out / "last" / "trainer.safetensors").exists():
        time.sleep(0.2)
    time.sleep(1.0)
    proc.kill()  # kill -9: no validation has run, so only a timed save can have written last/
    proc.communicate(timeout=30)
    assert proc.returncode != 0
    _tensors, meta = load_state(out / "last", "trainer")
    step = meta["state"]["step"]
    assert 0 < step < 100000
    assert not (out / "best").exists()  # it really was before the first validation
    result = train(dataset, out, TINY, resume=True, stop_after=step + 2, progress=False)
    assert result.steps == step + 2 and result.stopped == "interrupted"


def test_model_card_reports_data_rights_energy_and_results(dataset, tmp_path):
    from tuplet.responsibility.card import write_model_card

    config = replace(TINY, steps=8, valid_every=4)
    train(dataset, tmp_path / "run", config, progress=False, **UNVERIFIED)
    card = write_model_card(
        tmp_path / "run" / "best", dataset, evaluation={"test split": {"NLL per note": 3.25}}
    ).read_text()
    from tuplet.corpus import inspect

    summary = inspect(dataset)
    n = summary["sequences"]
    # a user's folder with no declaration: the card says unknown, and claims nothing more
    assert summary["rights"] == {"unknown": n}
    assert f"| unknown | {n} | 100.0% |" in card
    assert REASON in card and "This model makes no licensed-data claim" in card
    assert f"{n} pieces" in card and "provenance.jsonl" in card
    assert "g CO2eq" in card and "codecarbon" in card
    assert "| NLL per note | 3.25 |" in card
    assert card.startswith("# Model card: run/best\n")
    named = write_model_card(tmp_path / "run" / "best", dataset, name="my model").read_text()
    assert named.startswith("# Model card: my model\n")
    assert "tuplet train data-out/mine --from" in card


def test_the_card_names_each_modes_own_sampling_knobs():
    from tuplet.responsibility.card import _sampling_lines

    sampling = {"top_k_frac": 0.2, "chosen_on": "whole valid pieces",
                "modes": {"continuation": {"per_field": {"pitch": {"temperature": 0.9}},
                                           "chosen_on": "valid continuations"}}}  # fmt: skip
    text = "\n".join(_sampling_lines(sampling))
    assert '`{"top_k_frac": 0.2}`' in text and "chosen whole valid pieces." in text
    assert ('In continuation mode it lays these knobs over them: '
            '`{"per_field": {"pitch": {"temperature": 0.9}}}`; chosen valid continuations.'
            in text)  # fmt: skip
    assert "modes" not in text.split("In continuation")[0]


def test_without_a_valid_split_the_run_says_it_validates_on_train(tmp_path, capsys):
    src = tmp_path / "src"
    src.mkdir()
    for name in ("bwv66.6.mid", "bwv84.5.mid"):
        (src / name).write_bytes((Path(__file__).parent / "data" / name).read_bytes())
    prepare([src], tmp_path / "ds", jobs=1, progress=False, filters=None, split=(1.0, 0.0, 0.0))
    config = replace(TINY, steps=2, decay_steps=2, warmup_steps=1, valid_every=2)
    train(tmp_path / "ds", tmp_path / "run", config, progress=True, **UNVERIFIED)
    assert "has no valid split: validating on the train split" in capsys.readouterr().err


def test_an_unknown_field_order_is_refused_before_training(dataset, tmp_path):
    bad = replace(TINY, model_overrides={"field_order": "backwards"})
    with pytest.raises(UsageError, match="unknown field order 'backwards'"):
        train(dataset, tmp_path / "bad", bad, progress=False, **UNVERIFIED)
    assert not (tmp_path / "bad" / "last").exists()


def test_the_range_term_is_trained_on_and_kept_out_of_the_reported_nll(dataset, tmp_path):
    config = replace(TINY, steps=3, decay_steps=3, warmup_steps=1, valid_every=3,
                     range_loss=50.0, ensemble_shift=True, choir_rate=1.0)  # fmt: skip
    train(dataset, tmp_path / "run", config, progress=False, **UNVERIFIED)
    rows = load_losses(tmp_path / "run")
    trained = [r for r in rows if r["split"] == "train"]
    # the objective holds the term (a tiny model's pitch head spreads over every pitch, many
    # outside the voices' ranges); the NLL beside it, and validation, do not
    assert all(float(r["loss"]) > float(r["nll_per_note"]) + 0.1 for r in trained)
    valid = [r for r in rows if r["split"] == "valid"]
    assert valid and all(float(r["loss"]) == pytest.approx(float(r["nll_per_note"])) for r in valid)
    saved = json.loads((tmp_path / "run" / "last" / "config.json").read_text())["training"]
    assert saved["range_loss"] == 50.0 and saved["ensemble_shift"] is True
    # "auto" is recorded as the head it meant: the tiny model predicts the pitch first
    assert saved["range_head"] == "instrument"
    from tuplet.responsibility.card import model_card_text

    card = model_card_text(tmp_path / "run" / "best", dataset)
    assert "a training term for instruments' ranges on the instrument head, weight 50" in card
    assert "choirs scored for instrumental ensembles in 100% of examples, transposed" in card
    assert "instrument swaps" not in card  # not used: not claimed
    with pytest.raises(UsageError, match="range_loss"):
        train(dataset, tmp_path / "bad", replace(config, range_loss=-1.0), progress=False,
              **UNVERIFIED)  # fmt: skip
    with pytest.raises(UsageError, match="range_head"):
        train(dataset, tmp_path / "bad", replace(config, range_head="duration"), progress=False,
              **UNVERIFIED)  # fmt: skip
    # a run saved before the option resumes with the head it was trained with
    for folder in ("last", "best"):
        path = tmp_path / "run" / folder / "config.json"
        ck = json.loads(path.read_text())
        del ck["training"]["range_head"]
        path.write_text(json.dumps(ck))
    train(dataset, tmp_path / "run", config, resume=True, extend_to=4, progress=False,
          **UNVERIFIED)  # fmt: skip
    resumed = json.loads((tmp_path / "run" / "last" / "config.json").read_text())["training"]
    assert resumed["range_head"] == "pitch" and resumed["steps"] == 4
    assert "ranges on the pitch head" in model_card_text(tmp_path / "run" / "last", dataset)
    # the instrument head among each piece's own instruments, as the sampler keeps them
    train(dataset, tmp_path / "tuned", replace(config, range_head="ensemble", steps=2),
          from_checkpoint=tmp_path / "run" / "last", progress=False, **UNVERIFIED)  # fmt: skip
    last = tmp_path / "tuned" / "last"
    assert json.loads((last / "config.json").read_text())["training"]["range_head"] == "ensemble"
    assert "the instrument head, among each piece's own instruments, weight 50" in (
        model_card_text(last, dataset)
    )
    assert all(math.isfinite(float(r["loss"])) for r in load_losses(tmp_path / "tuned"))


def test_a_chain_of_bases_names_each_list_of_failing_items_once() -> None:
    a, b = {"x.mid": ["unknown_basis"]}, {"y.mid": ["unknown_basis"]}
    gate = {"outcome": "unverified", "failing": 1}
    chain = {"rights_gate": {**gate, "items": a},
             "base": {"rights_gate": {**gate, "items": a},
                      "base": {"rights_gate": {**gate, "items": b},
                               "base": {"rights_gate": {**gate, "items": b}}}}}  # fmt: skip
    out = shared_items(chain, a)
    items = [out["rights_gate"]["items"], out["base"]["rights_gate"]["items"],
             out["base"]["base"]["rights_gate"]["items"],
             out["base"]["base"]["base"]["rights_gate"]["items"]]  # fmt: skip
    assert items == [SAME_ITEMS, SAME_ITEMS, b, SAME_ITEMS]
    assert out["base"]["base"]["rights_gate"]["failing"] == 1
    assert shared_items(out, a) == out and chain["rights_gate"]["items"] == a  # no change in place
