"""Training throughput: tuplet's MusicTransformer against a plain ``nn.TransformerEncoder``.

One training step = forward, backward and an AdamW step, fp32 on CPU, on random batches of MMT
codes (``get_encoding("mmt").with_max_beat(256)``: 6 fields, vocabularies 5, 257, 13, 129, 33,
65). Throughput is in tokens per second, a token being one event (one row of 6 codes) that the
model predicts: ``batch * (seq - 1)`` per step, the same for every model.

The reference is what one would write with PyTorch's own blocks: the same summed field
embeddings, learned positions scaled by ``d_model ** -0.5`` and dropout, then
``nn.TransformerEncoder`` (``norm_first=True``, GELU, same width, heads, layers, feed-forward
size and dropout, causal mask with ``is_causal=True``) with a final LayerNorm, and one linear
head per field; its loss is the sum over fields of the mean cross-entropy. It differs from MMT
only in having q/k/v biases.

tuplet models are built as ``tuplet.training.train`` builds them
(``tuplet.model.transformer.preset`` with the
encoding's fields, vocabularies and ``defined_fields``) and trained with
``MusicTransformer.loss(codes, mask)``; variants switch ``cascade`` on and off.

All models of one configuration live in this process, take one short warm-up step (seq 64),
then timed steps in turn (A, B, C, A, B, C, ... in an order rotated every step) on the same
batches, so a change in the machine's load hits them alike. The report gives, per model, the
median wall time and CPU time of a step, tokens per second and ratios to the reference, and
the load averages. On a machine busy with other jobs, ``--threads 1`` gives steadier figures
(two OpenMP threads fighting other processes for two cores waste much of their time waiting).

Run: ``python bench/train.py [--threads N] [--steps 3] [--paper-steps 2] [--paper-cascade]``
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tuplet.encoding import get_encoding
from tuplet.model.transformer import PRESETS, MusicTransformer, preset

BATCH = 8
MAX_BEAT = 256
WARM_UP_SEQ = 64


# ------------------------------------------------------------------------- machine
def machine_lines() -> list[str]:
    """CPU model, cores, torch threads, library versions and load, for the report header."""
    import numpy as np

    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return [
        f"machine: {cpu}, {cores} cores available, torch threads {torch.get_num_threads()}",
        f"python {platform.python_version()}, torch {torch.__version__}, numpy {np.__version__}",
        load_line(),
    ]


def load_line() -> str:
    """The 1/5/15-minute load averages."""
    one, five, fifteen = os.getloadavg()
    return f"load average: {one:.2f} {five:.2f} {fifteen:.2f}"


# ------------------------------------------------------------------------- reference
class ReferenceTransformer(nn.Module):
    """MMT's model written with ``nn.TransformerEncoder`` (see the module docstring)."""

    def __init__(
        self,
        vocab_sizes: tuple[int, ...],
        *,
        d_model: int,
        n_head: int,
        n_layer: int,
        ff_mult: int,
        dropout: float,
        max_seq_len: int,
    ) -> None:
        super().__init__()
        self.d_model = d_model
        self.field_embeddings = nn.ModuleList(nn.Embedding(v, d_model) for v in vocab_sizes)
        self.position_embedding = nn.Embedding(max_seq_len, d_model)
        self.embedding_drop = nn.Dropout(dropout)
        layer = nn.TransformerEncoderLayer(
            d_model,
            n_head,
            ff_mult * d_model,
            dropout,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(
            layer, n_layer, norm=nn.LayerNorm(d_model), enable_nested_tensor=False
        )
        self.heads = nn.ModuleList(nn.Linear(d_model, v) for v in vocab_sizes)

    def loss(self, codes: Tensor) -> Tensor:
        """Sum over fields of the mean cross-entropy of predicting ``codes[:, 1:]``."""
        inputs, targets = codes[:, :-1], codes[:, 1:]
        T = inputs.shape[1]
        x = sum(emb(inputs[..., f]) for f, emb in enumerate(self.field_embeddings))  # (B, T, d)
        assert isinstance(x, Tensor)
        pos = torch.arange(T, device=codes.device)
        x = self.embedding_drop(x + self.position_embedding(pos) * self.d_model**-0.5)
        mask = nn.Transformer.generate_square_subsequent_mask(T, device=codes.device)
        h = self.encoder(x, mask=mask, is_causal=True)  # (B, T, d)
        losses = [
            F.cross_entropy(head(h).flatten(0, 1), targets[..., f].flatten())
            for f, head in enumerate(self.heads)
        ]
        return torch.stack(losses).sum()


# ------------------------------------------------------------------------- measuring
def random_batches(
    vocab_sizes: tuple[int, ...], seq: int, n: int, seed: int = 0
) -> list[tuple[Tensor, Tensor]]:
    """``n`` batches of random codes (B, seq, F) within each field's vocabulary, and masks."""
    g = torch.Generator().manual_seed(seed)
    batches = []
    for _ in range(n):
        codes = torch.stack(
            [torch.randint(0, v, (BATCH, seq), generator=g) for v in vocab_sizes], dim=-1
        )
        batches.append((codes, torch.ones(BATCH, seq, dtype=torch.bool)))
    return batches


def make_step(model: nn.Module, loss_fn: Callable[[Tensor, Tensor], Tensor]) -> Callable:
    """A function doing one forward + backward + AdamW step on a batch."""
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    model.train()

    def step(codes: Tensor, mask: Tensor) -> None:
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(codes, mask)
        loss.backward()
        opt.step()

    return step


def build(
    preset_name: str, seq: int, variants: bool = True
) -> dict[str, tuple[nn.Module, Callable]]:
    """The rivals of one configuration: tuplet's preset, its cascade flipped (if ``variants``),
    and the reference."""
    enc = get_encoding("mmt").with_max_beat(MAX_BEAT)
    defined = tuple(map(tuple, enc.defined_fields.tolist()))
    base = preset(preset_name, enc.fields, enc.vocab_sizes, defined_fields=defined)
    rivals: dict[str, tuple[nn.Module, Callable]] = {}
    for cascade in (base.cascade, not base.cascade) if variants else (base.cascade,):
        torch.manual_seed(0)
        cfg = preset(
            preset_name, enc.fields, enc.vocab_sizes, defined_fields=defined, cascade=cascade
        )
        model = MusicTransformer(cfg)
        name = f"tuplet cascade={'on' if cascade else 'off'}"
        if cascade == base.cascade:
            name += " (preset)"
        rivals[name] = (model, make_step(model, lambda c, m, mo=model: mo.loss(c, m).loss))
    torch.manual_seed(0)
    ref = ReferenceTransformer(
        enc.vocab_sizes,
        d_model=base.d_model,
        n_head=base.n_head,
        n_layer=base.n_layer,
        ff_mult=base.ff_mult,
        dropout=base.dropout,
        max_seq_len=max(base.max_seq_len, seq),
    )
    rivals["reference nn.TransformerEncoder"] = (ref, make_step(ref, lambda c, m: ref.loss(c)))
    return rivals


def bench(preset_name: str, seq: int, steps: int, variants: bool = True) -> None:
    """Time ``steps`` interleaved training steps of each rival (after a warm-up) and print."""
    rivals = build(preset_name, seq, variants)
    enc = get_encoding("mmt").with_max_beat(MAX_BEAT)
    batches = random_batches(enc.vocab_sizes, seq, steps + 1)
    p = PRESETS[preset_name]
    print(
        f"\n{preset_name} (d_model {p['d_model']}, {p['n_layer']} layers, {p['n_head']} heads, "
        f"dropout {p['dropout']}), batch {BATCH}, seq {seq}: {steps} timed steps each"
    )
    names = list(rivals)
    warm_up = random_batches(enc.vocab_sizes, WARM_UP_SEQ, 1)[0]
    for name in names:
        rivals[name][1](*warm_up)
    wall: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    for i in range(steps):
        order = names[i % len(names) :] + names[: i % len(names)]
        for name in order:
            w0, c0 = time.perf_counter(), time.process_time()
            rivals[name][1](*batches[i + 1])
            wall[name].append(time.perf_counter() - w0)
            cpu[name].append(time.process_time() - c0)
    tokens = BATCH * (seq - 1)
    ref = "reference nn.TransformerEncoder"
    ref_wall, ref_cpu = statistics.median(wall[ref]), statistics.median(cpu[ref])
    print(
        f"  {'':34} {'params':>10} {'s/step':>7} {'min-max':>11} {'tokens/s':>9} {'x ref':>6}"
        f" {'CPU-s/step':>10} {'x ref':>6}"
    )
    for name in names:
        params = sum(q.numel() for q in rivals[name][0].parameters())
        w, c = statistics.median(wall[name]), statistics.median(cpu[name])
        spread = f"{min(wall[name]):.2f}-{max(wall[name]):.2f}"
        print(
            f"  {name:34} {params:10,d} {w:7.2f} {spread:>11} {tokens / w:9.0f} {ref_wall / w:6.2f}"
            f" {c:10.2f} {ref_cpu / c:6.2f}"
        )
    print(f"  {load_line()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    parser.add_argument("--steps", type=int, default=3, help="timed steps, small preset")
    parser.add_argument("--paper-steps", type=int, default=2, help="timed steps, mmt-paper")
    parser.add_argument(
        "--paper-cascade", action="store_true", help="also time mmt-paper with cascade on"
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print("tuplet training-throughput benchmark (bench/train.py), fp32 CPU")
    for line in machine_lines():
        print(line)
    print(
        "tokens = predicted events (rows of 6 codes), batch * (seq - 1) per step; "
        "x ref = reference time / model time (above 1: faster than the reference)"
    )
    t0 = time.perf_counter()
    bench("small", 512, args.steps)
    bench("small", 1024, args.steps)
    bench("mmt-paper", 1024, args.paper_steps, variants=args.paper_cascade)
    print(f"\ntotal {time.perf_counter() - t0:.0f} s; {load_line()}")


if __name__ == "__main__":
    main()
