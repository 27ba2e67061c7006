"""One decoding step's forward pass, three ways: eager, torch.compile (inductor), ONNX Runtime.

Issue 19 asks for the routes to a compiled decoding step to be measured against each other.
This measures the part they share and differ on most: the forward pass of one new event over
a static-shape KV cache (embeddings, positions, every layer's attention and feed-forward, the
final norm), for a random-weight model of each preset, at the same cache position:

* ``eager``: :meth:`tuplet.model.static.StaticDecoder.hidden`, the reference;
* ``inductor``: the same function through ``torch.compile`` (what ``--compile`` uses);
* ``onnxruntime``: the same arithmetic as a module that reads the cache and returns the new
  event's keys and values (:class:`ReadOnlyStep`), exported with ``torch.onnx.export`` and run
  by ONNX Runtime with the cache bound in place (I/O binding over the numpy buffers, which the
  caller updates at the new position: nothing is copied per step).

The heads, the rule masks and the draws are not part of it (the compiled step of
:mod:`tuplet.model.compiled` includes them; an ONNX Runtime step with them is not built yet).
The three give the same hidden state (the largest difference is printed). Each is timed in
CPU time on one thread, ``--rounds`` rounds of 100 steps with the rivals taking turns, and
each median is set beside the floor of reading every weight and the cache up to that position
once (``bench/generate.py``'s read bandwidth).

    cd bench && python step_rivals.py                        # small and mmt-paper, batch 1
    cd bench && python step_rivals.py --presets default,small --batch 8   # default: shipped

Needs ``onnxscript`` (``pip install onnxscript``) for the exporter; onnxruntime comes with
tuplet's ``audio`` extra.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from generate import bandwidth_bytes_per_s, build, weight_bytes
from machine import cpu_model
from tuplet.model.layers import _rotate
from tuplet.model.static import StaticDecoder


class ReadOnlyStep(torch.nn.Module):
    """StaticDecoder.hidden's arithmetic over a cache it only reads (exportable to ONNX).

    The cache holds the positions before ``pos``; the new event attends to them and to itself,
    and its keys and values come back for the caller to store at ``pos``.
    """

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.m = model

    def forward(
        self, codes: Tensor, pos: Tensor, onset: Tensor, keys: Tensor, values: Tensor
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        m, c = self.m, self.m.config
        B, D, H = codes.shape[0], c.d_model, c.n_head
        x = sum(emb(codes[..., f]) for f, emb in enumerate(m.field_embeddings))  # (B, 1, d)
        assert isinstance(x, Tensor)
        if m.position_embedding is not None:
            x = x + m.position_embedding(pos) * D**-0.5
        new_onset = onset[:, None]
        rope = None
        if c.position not in ("absolute", "none"):
            index_angles = pos.float()[None, :, None] * m.inv_freq
            angles = index_angles
            if c.position != "rotary":  # onset positions: one new event, so no running max
                beat = codes[..., c.field_names.index(c.beat_field)]
                tick = codes[..., c.field_names.index(c.position_field)]
                ticks = (beat - 1).clamp(min=0) * c.resolution + (tick - 1).clamp(min=0)
                new_onset = torch.where(beat > 0, ticks.float(), onset[:, None])
                angles = new_onset[:, :, None] * m.inv_freq
                if c.position == "hybrid-rotary":
                    on_index = torch.arange(angles.shape[-1]) % 2 == 0
                    angles = torch.where(on_index, index_angles, angles)
            rope = angles[:, None].cos(), angles[:, None].sin()
        past = (torch.arange(keys.shape[3]) < pos)[None, None, None]  # (1, 1, 1, S)
        scale = (D // H) ** -0.5
        new_k, new_v = [], []
        for layer, blk in enumerate(m.blocks):
            a = F.layer_norm(x, (D,), blk.ln_attn.weight, blk.ln_attn.bias, blk.ln_attn.eps)
            q, k, v = blk.attn.qkv(a).view(B, 1, 3, H, D // H).permute(2, 0, 3, 1, 4)
            if rope is not None:
                q, k = _rotate(q, *rope), _rotate(k, *rope)
            s_past = (q @ keys[layer].transpose(-1, -2) * scale).masked_fill(~past, float("-inf"))
            s_new = (q * k).sum(-1, keepdim=True) * scale
            w = torch.softmax(torch.cat([s_past, s_new], -1), -1)
            y = w[..., :-1] @ values[layer] + w[..., -1:] * v
            x = x + blk.attn.out(y.transpose(1, 2).reshape(B, 1, D))
            a = F.layer_norm(x, (D,), blk.ln_ff.weight, blk.ln_ff.bias, blk.ln_ff.eps)
            x = x + blk.ff_out(F.gelu(blk.ff_in(a)))
            new_k.append(k)
            new_v.append(v)
        return m.norm(x)[:, -1], torch.stack(new_k), torch.stack(new_v), new_onset[:, -1]


def events(config, n: int, batch: int, seed: int = 0) -> list[Tensor]:
    """Random events, every field a valid code."""
    rng = np.random.default_rng(seed)
    high = np.array(config.vocab_sizes)
    return [torch.from_numpy(rng.integers(1, high, size=(batch, 1, len(high)))) for _ in range(n)]


def measure(name: str, batch: int, rounds: int, read_bw: float) -> None:
    """Build the preset, check the three agree, time them, print the table."""
    import onnxruntime as ort

    if name == "default":  # the shipped model: its weights, hybrid-rotary positions
        from tuplet.generation.session import load_model

        model = load_model(None).model.eval()
        params = model.num_parameters()
    else:
        model, _, params = build(name, "cpu")
    c = model.config
    S, B = c.max_seq_len, batch
    at = S // 2  # the step timed: half the cache filled
    history = events(c, at + 1, B)

    # the reference fills its cache; the read-only step's cache is filled from its outputs
    dec = StaticDecoder(model, B, S)
    step = ReadOnlyStep(model).eval()
    shape = (c.n_layer, B, c.n_head, S, c.head_dim)
    keys, values = np.zeros(shape, np.float32), np.zeros(shape, np.float32)
    onset = torch.zeros(B)
    worst = 0.0
    with torch.no_grad():
        for t in range(at):
            ref = dec.hidden(history[t], torch.tensor([t]))
            dec.length += 1
            h, k, v, onset = step(history[t], torch.tensor([t]), onset,
                                  torch.from_numpy(keys), torch.from_numpy(values))  # fmt: skip
            keys[:, :, :, t], values[:, :, :, t] = k[:, :, :, 0], v[:, :, :, 0]
            worst = max(worst, float((h - ref).abs().max()))
    codes, pos = history[at], torch.tensor([at])

    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "step.onnx"
        t0 = time.perf_counter()
        torch.onnx.export(
            step, (codes, pos, onset, torch.from_numpy(keys), torch.from_numpy(values)),
            str(path), dynamo=True, optimize=True, verbose=False,
            input_names=["codes", "pos", "onset", "keys", "values"],
            output_names=["hidden", "new_k", "new_v", "new_onset"],
        )  # fmt: skip
        export_s = time.perf_counter() - t0
        options = ort.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    binding = session.io_binding()
    binding.bind_ortvalue_input("keys", ort.OrtValue.ortvalue_from_numpy(keys))
    binding.bind_ortvalue_input("values", ort.OrtValue.ortvalue_from_numpy(values))
    for out in ("hidden", "new_k", "new_v", "new_onset"):
        binding.bind_output(out)
    binding.bind_cpu_input("codes", codes.numpy())
    binding.bind_cpu_input("pos", pos.numpy())
    binding.bind_cpu_input("onset", onset.numpy())

    def onnxruntime_step() -> None:
        session.run_with_iobinding(binding)

    t0 = time.perf_counter()
    compiled = torch.compile(dec.hidden, dynamic=False)
    with torch.no_grad():
        compiled(codes, pos)
    compile_s = time.perf_counter() - t0

    def eager_step() -> None:
        with torch.no_grad():
            dec.hidden(codes, pos)

    def inductor_step() -> None:
        with torch.no_grad():
            compiled(codes, pos)

    with torch.no_grad():
        ref = dec.hidden(codes, pos)
        ind = compiled(codes, pos)
    onnxruntime_step()
    got = binding.copy_outputs_to_cpu()[0]
    worst = max(worst, float((ind - ref).abs().max()), float(np.abs(got - ref.numpy()).max()))

    rivals = {"eager": eager_step, "inductor": inductor_step, "onnxruntime": onnxruntime_step}
    for f in rivals.values():
        for _ in range(10):
            f()
    times: dict[str, list[float]] = {k: [] for k in rivals}
    for _ in range(rounds):
        for k, f in rivals.items():
            start = time.process_time()
            for _ in range(100):
                f()
            times[k].append((time.process_time() - start) / 100)
    kv = 2 * c.n_layer * B * c.n_head * (at + 1) * c.head_dim * 4
    floor = (weight_bytes(model) + kv) / read_bw
    eager = statistics.median(times["eager"])
    print(f"\n{name}: {params / 1e6:.1f} M parameters, {c.position} positions, step at "
          f"position {at} of {S}; largest difference in the hidden state {worst:.1e}; "
          f"export {export_s:.1f} s, compile {compile_s:.1f} s; "
          f"floor {floor * 1e3:.2f} ms")  # fmt: skip
    print("| forward pass | ms a step (CPU, median) | x eager | x floor |")
    print("|---|---:|---:|---:|")
    for k, v in times.items():
        m = statistics.median(v)
        print(f"| {k} | {m * 1e3:.3f} | {eager / m:.2f} | {m / floor:.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presets", default="small,mmt-paper")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    torch.set_num_threads(1)
    _, read_bw = bandwidth_bytes_per_s("cpu")
    print(f"machine: {cpu_model()}; 1 thread; read bandwidth {read_bw / 1e9:.1f} GB/s; "
          f"batch {args.batch}")  # fmt: skip
    for name in args.presets.split(","):
        measure(name, args.batch, args.rounds, read_bw)


if __name__ == "__main__":
    main()
