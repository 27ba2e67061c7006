"""int8 weights for generation on a CPU: close logits, the original model untouched, and
every path that offers them (loading, scoring, the generate command) really runs them."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import torch
from torch import nn

from tuplet.cli import main
from tuplet.encoding import get_encoding
from tuplet.errors import UsageError
from tuplet.generation.constraints import check_sequence
from tuplet.generation.generate import load_model
from tuplet.generation.sample import Limits, sample_codes
from tuplet.model.checkpoint import save_checkpoint
from tuplet.model.quantize import halve_products, int8_bytes, quantize_int8
from tuplet.model.transformer import MusicTransformer, preset


def small_model(cascade: bool = True) -> tuple[MusicTransformer, object]:
    enc = get_encoding("tuplet", max_beat=64)
    torch.manual_seed(0)
    config = preset(
        "tiny",
        enc.fields,
        enc.vocab_sizes,
        d_model=64,
        max_seq_len=128,
        cascade=cascade,
        defined_fields=tuple(map(tuple, enc.defined_fields.tolist())),
    )
    return MusicTransformer(config).eval(), enc


def song(enc, n: int = 40, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.stack([torch.randint(0, v, (1, n), generator=g) for v in enc.vocab_sizes], dim=-1)


@pytest.mark.parametrize("cascade", [False, True])
def test_int8_logits_stay_close_and_the_original_is_untouched(cascade: bool) -> None:
    model, enc = small_model(cascade)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    q = quantize_int8(model)
    # the blocks' linear layers are int8 now; the original keeps its fp32 ones
    block_linears = [m for m in model.blocks.modules() if isinstance(m, nn.Linear)]
    assert block_linears and not any(isinstance(m, nn.Linear) for m in q.blocks.modules())
    assert int8_bytes(q) == sum(m.weight.numel() for m in block_linears)
    assert int8_bytes(model) == 0
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    codes = song(enc)
    with torch.inference_mode():
        exact = model(codes)[0]
        approx = q(codes)[0]
    for a, b in zip(exact, approx, strict=True):
        relative = ((a - b).norm() / a.norm()).item()
        assert 0 < relative < 0.03  # changed, but only slightly (about 0.008 here)
        assert (a.argmax(-1) == b.argmax(-1)).float().mean() > 0.95


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_halved_products_keep_the_rest_fp32_and_the_logits_close(dtype: str) -> None:
    model, enc = small_model()
    half = halve_products(model, dtype)
    halved = [m.weight for b in half.blocks for m in (b.attn.qkv, b.attn.out, b.ff_in, b.ff_out)]
    assert all(w.dtype == getattr(torch, dtype) for w in halved)
    rest = [p for p in half.parameters() if p.dtype == torch.float32]
    assert len(rest) + len(halved) == len(list(half.parameters())) and rest
    assert all(p.dtype == torch.float32 for p in model.parameters())  # the original untouched
    codes = song(enc)
    with torch.inference_mode():
        exact, approx = model(codes)[0], half(codes)[0]
    for a, b in zip(exact, approx, strict=True):
        assert b.dtype == torch.float32
        relative = ((a - b).norm() / a.norm()).item()
        assert 0 < relative < 0.03
    if dtype == "bfloat16":  # the whole model in bf16 is further off: the residual stream too
        with torch.inference_mode():
            rounded = copy.deepcopy(model).to(torch.bfloat16)(codes)[0]
        ours = sum((a - b).norm().item() for a, b in zip(exact, approx, strict=True))
        off = sum((a - c.float()).norm().item() for a, c in zip(exact, rounded, strict=True))
        assert ours < off
    g = torch.Generator().manual_seed(3)
    prompt = torch.zeros(1, len(enc.fields), dtype=torch.long).numpy()
    for seq in sample_codes(half, enc, prompt, n=2, limits=Limits(max_events=60), generator=g):
        assert check_sequence(seq, enc) == []
    with pytest.raises(UsageError, match="bfloat16 or float16"):
        halve_products(model, "int4")


def test_int8_sampling_keeps_every_constraint() -> None:
    model, enc = small_model()
    q = quantize_int8(model)
    prompt = torch.zeros(1, len(enc.fields), dtype=torch.long).numpy()
    g = torch.Generator().manual_seed(3)
    outs = sample_codes(q, enc, prompt, n=4, limits=Limits(max_events=100), generator=g)
    for codes in outs:
        assert len(codes) > 1
        assert check_sequence(codes, enc) == []


def test_int8_through_load_generate_and_evaluate(tmp_path: Path, capsys) -> None:
    model, enc = small_model()
    folder = save_checkpoint(tmp_path / "m", model, encoding=enc.to_dict())
    lm = load_model(folder, dtype="int8")
    assert lm.describe()["dtype"] == "int8"
    assert lm.describe()["parameters"] == model.num_parameters()
    assert int8_bytes(lm.model) > 0
    out = tmp_path / "out"
    args = ["generate", "--model", str(folder), "--out", str(out), "--quiet", "--seed", "2"]
    assert main([*args, "--dtype", "int8", "--max-events", "80"]) == 0
    report = json.loads((out / "sample-01.json").read_text())
    assert report["model"]["dtype"] == "int8" and report["notes"] > 0
    with pytest.raises(UsageError, match="CPU only"):
        quantize_int8(model.to("meta"))


def test_int8_and_bfloat16_weights_score_nearly_as_the_fp32_model(
    tmp_path: Path, data_dir: Path
) -> None:
    from tuplet.analysis.evaluate import evaluate_nll
    from tuplet.corpus import prepare

    src = tmp_path / "src"
    src.mkdir()
    for name in ("bwv66.6.mid", "multitrack_drums.mid"):
        (src / name).write_bytes((data_dir / name).read_bytes())
    data = tmp_path / "ds"
    prepare([str(src)], data, jobs=1, progress=False, filters=None, split=(0.0, 0.0, 1.0))
    model, _ = small_model()
    enc = get_encoding("tuplet", max_beat=64)
    folder = save_checkpoint(tmp_path / "m", model, encoding=enc.to_dict())
    exact = evaluate_nll(folder, data, "test")
    approx = evaluate_nll(folder, data, "test", weights="int8")
    assert approx.weights == "int8" and exact.weights == "float32"
    assert approx.n_events == exact.n_events > 0
    assert approx.nll_per_event != exact.nll_per_event
    assert approx.nll_per_event == pytest.approx(exact.nll_per_event, rel=0.01)
    half = evaluate_nll(folder, data, "test", weights="bfloat16")
    assert half.weights == "bfloat16" and half.n_events == exact.n_events
    assert half.nll_per_event != exact.nll_per_event
    assert half.nll_per_event == pytest.approx(exact.nll_per_event, rel=0.02)
    with pytest.raises(UsageError, match="float32, bfloat16, int8"):
        evaluate_nll(folder, data, "test", weights="int4")
