"""Checkpoint folders: save -> load round trips, bad files, atomic replacement, trainer state."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from tuplet.errors import BadFileError, UsageError
from tuplet.model.checkpoint import (
    load_checkpoint,
    load_checkpoint_info,
    load_state,
    optimizer_state_from_tensors,
    optimizer_state_to_tensors,
    save_checkpoint,
    save_state,
)
from tuplet.model.transformer import MusicTransformer, preset

FIELDS = ("type", "beat", "position", "pitch", "duration", "instrument")
VOCAB = (5, 257, 13, 129, 33, 65)
ENCODING = {"name": "mmt", "resolution": 12, "max_beat": 256, "fields": list(FIELDS)}


def make_model(**overrides: object) -> MusicTransformer:
    torch.manual_seed(0)
    return MusicTransformer(preset("tiny", FIELDS, VOCAB, **overrides))


def codes(batch: int = 2, length: int = 12, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    cols = [torch.randint(0, v, (batch, length, 1), generator=g) for v in VOCAB]
    return torch.cat(cols, dim=-1)


def test_save_then_load_gives_identical_logits_and_the_saved_config(tmp_path: Path) -> None:
    # a config no preset gives: loading must rebuild it from config.json, not from defaults
    model = make_model(n_layer=3, position="hybrid-rotary", cascade=True, max_seq_len=40)
    x = codes()
    with torch.no_grad():
        model.eval()
        expected, _ = model(x[:, :-1], targets=x[:, 1:])
    folder = save_checkpoint(
        tmp_path / "ck", model, encoding=ENCODING, training={"lr": 5e-4}, extra={"step": 7}
    )
    loaded, info = load_checkpoint(folder)
    assert not loaded.training
    assert loaded.config == model.config
    assert info["encoding"] == ENCODING
    assert info["training"] == {"lr": 5e-4}
    assert info["extra"] == {"step": 7}
    assert set(info["versions"]) >= {"tuplet", "torch", "python"}
    assert info["created"].endswith("+00:00")
    with torch.no_grad():
        got, _ = loaded(x[:, :-1], targets=x[:, 1:])
    for a, b in zip(expected, got, strict=True):
        assert torch.equal(a, b)
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]
    assert [p.name for p in tmp_path.iterdir()] == ["ck"]  # no temp folders left behind


def test_config_json_is_plain_readable_json(tmp_path: Path) -> None:
    folder = save_checkpoint(tmp_path / "ck", make_model(), encoding=ENCODING)
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    assert config["model"]["field_names"] == list(FIELDS)
    assert config["model"]["vocab_sizes"] == list(VOCAB)
    assert config["training"] is None
    assert load_checkpoint_info(folder)["checkpoint_id"] == config["checkpoint_id"]


def test_missing_folder_and_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(BadFileError, match="nowhere: no such checkpoint folder"):
        load_checkpoint(tmp_path / "nowhere")
    folder = save_checkpoint(tmp_path / "ck", make_model(), encoding=ENCODING)
    (folder / "model.safetensors").unlink()
    with pytest.raises(BadFileError, match=r"model\.safetensors: missing"):
        load_checkpoint(folder)
    (folder / "config.json").unlink()
    with pytest.raises(BadFileError, match=r"config\.json: missing"):
        load_checkpoint(folder)


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage"])
def test_corrupted_weights_are_refused(tmp_path: Path, damage: str) -> None:
    folder = save_checkpoint(tmp_path / "ck", make_model(), encoding=ENCODING)
    path = folder / "model.safetensors"
    data = bytearray(path.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "flip":
        data[-100] ^= 0x01
    else:
        data = bytearray(b"not a safetensors file")
    path.write_bytes(bytes(data))
    with pytest.raises(BadFileError) as err:
        load_checkpoint(folder)
    assert err.value.path == str(path)


def test_a_corrupted_or_foreign_config_is_refused(tmp_path: Path) -> None:
    folder = save_checkpoint(tmp_path / "ck", make_model(), encoding=ENCODING)
    config_path = folder / "config.json"
    good = config_path.read_text(encoding="utf-8")
    config_path.write_text(good[:50], encoding="utf-8")
    with pytest.raises(BadFileError, match=r"config\.json: not valid JSON"):
        load_checkpoint(folder)
    config_path.write_text(json.dumps({"hello": 1}), encoding="utf-8")
    with pytest.raises(BadFileError, match="not a tuplet checkpoint"):
        load_checkpoint(folder)
    # weights that do not fit the config (same checksum, other architecture)
    config = json.loads(good)
    config["model"]["d_model"] = 64
    config_path.write_text(json.dumps(config), encoding="utf-8")
    with pytest.raises(BadFileError, match=r"model\.safetensors: does not fit"):
        load_checkpoint(folder)
    config["model"] = {**json.loads(good)["model"], "n_layer": "many"}
    config_path.write_text(json.dumps(config), encoding="utf-8")
    with pytest.raises(BadFileError, match="invalid model config"):
        load_checkpoint(folder)


def test_encoding_fields_must_match_the_model(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="fields"):
        save_checkpoint(tmp_path / "ck", make_model(), encoding={"fields": ["type", "pitch"]})


def test_replacing_a_checkpoint_keeps_other_files_and_drops_old_states(tmp_path: Path) -> None:
    folder = save_checkpoint(tmp_path / "ck", make_model(), encoding=ENCODING)
    (folder / "MODEL_CARD.md").write_text("my model", encoding="utf-8")
    save_state(folder, "trainer", {"x": torch.ones(2)}, {"step": 1})
    model = make_model(d_model=64)
    save_checkpoint(folder, model, encoding=ENCODING)
    loaded, _ = load_checkpoint(folder)
    assert loaded.config.d_model == 64
    assert (folder / "MODEL_CARD.md").read_text(encoding="utf-8") == "my model"
    assert not (folder / "trainer.safetensors").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["ck"]


def test_a_failed_save_leaves_the_previous_checkpoint_intact(tmp_path: Path) -> None:
    folder = save_checkpoint(tmp_path / "ck", make_model(), encoding=ENCODING)
    before = (folder / "model.safetensors").read_bytes()
    with pytest.raises(UsageError, match="JSON-safe"):
        save_checkpoint(folder, make_model(d_model=64), encoding=ENCODING, extra={"x": object()})
    assert (folder / "model.safetensors").read_bytes() == before
    load_checkpoint(folder)


def test_a_save_killed_between_its_renames_is_recovered(tmp_path: Path) -> None:
    # the state a kill leaves between "folder -> .folder.old" and ".folder.tmp-* -> folder"
    folder = save_checkpoint(tmp_path / "ck", make_model(), encoding=ENCODING)
    os.replace(folder, tmp_path / ".ck.old")
    half_written = tmp_path / ".ck.tmp-dead"
    half_written.mkdir()
    (half_written / "model.safetensors").write_bytes(b"partial")
    model, _ = load_checkpoint(folder)  # the previous checkpoint is put back
    assert (folder / "config.json").exists()
    save_checkpoint(folder, model, encoding=ENCODING)  # and the debris is cleaned up
    assert [p.name for p in tmp_path.iterdir()] == ["ck"]


# ---------------------------------------------------------------------------- states
def test_state_round_trips_with_its_meta(tmp_path: Path) -> None:
    tensors = {"a": torch.arange(6.0).view(2, 3), "b.step": torch.tensor(3.0)}
    meta = {"step": 12, "best": float("inf"), "nested": {"k": [1, 2]}}
    save_state(tmp_path, "trainer", tensors, meta)
    got, got_meta = load_state(tmp_path, "trainer")
    assert got_meta == meta
    assert set(got) == set(tensors)
    for key, value in tensors.items():
        assert torch.equal(got[key], value)
    with pytest.raises(BadFileError, match=r"other\.safetensors: missing"):
        load_state(tmp_path, "other")
    (tmp_path / "trainer.safetensors").write_bytes(b"\x00" * 20)
    with pytest.raises(BadFileError, match=r"trainer\.safetensors"):
        load_state(tmp_path, "trainer")
    with pytest.raises(UsageError):
        save_state(tmp_path, "../escape", tensors, meta)


def test_a_state_from_an_earlier_save_is_refused(tmp_path: Path) -> None:
    folder = save_checkpoint(tmp_path / "ck", make_model(), encoding=ENCODING)
    save_state(folder, "trainer", {"x": torch.ones(1)}, {"step": 1})
    stale = (folder / "trainer.safetensors").read_bytes()
    save_checkpoint(folder, make_model(), encoding=ENCODING)
    (folder / "trainer.safetensors").write_bytes(stale)  # as if the new state never came
    with pytest.raises(BadFileError, match="earlier save"):
        load_state(folder, "trainer")


def _train_steps(model: MusicTransformer, optimizer: torch.optim.Optimizer, steps: range) -> None:
    model.train()
    for step in steps:
        batch = codes(seed=100 + step)
        loss = model.loss(batch).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def test_adamw_state_round_trips_and_a_resumed_run_equals_an_uninterrupted_one(
    tmp_path: Path,
) -> None:
    model = make_model(cascade=True, position="onset-rotary")
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.1)
    _train_steps(model, optimizer, range(3))
    tensors, meta = optimizer_state_to_tensors(optimizer.state_dict())
    save_checkpoint(
        tmp_path / "last",
        model,
        encoding=ENCODING,
        states={"trainer": (tensors, {**meta, "step": 3})},
    )
    _train_steps(model, optimizer, range(3, 6))  # the uninterrupted run

    resumed, _ = load_checkpoint(tmp_path / "last")
    saved_tensors, saved_meta = load_state(tmp_path / "last", "trainer")
    assert saved_meta["step"] == 3
    state = optimizer_state_from_tensors(saved_tensors, saved_meta)
    original = torch.optim.AdamW(make_model().parameters()).state_dict()  # for the layout
    assert set(state) == set(original)
    assert state["param_groups"][0]["betas"] == (0.9, 0.999)
    assert all(isinstance(k, int) for k in state["state"])
    optimizer2 = torch.optim.AdamW(resumed.parameters(), lr=1e-3, weight_decay=0.1)
    optimizer2.load_state_dict(state)
    _train_steps(resumed, optimizer2, range(3, 6))
    for (name, a), b in zip(model.state_dict().items(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


def test_optimizer_state_with_unstorable_values_is_refused() -> None:
    with pytest.raises(UsageError, match="cannot store"):
        optimizer_state_to_tensors({"state": {}, "param_groups": [{"fn": len}]})
