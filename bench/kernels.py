"""The matrix-vector products of one decoding step, with each kernel this machine offers.

A single-stream decoding step multiplies one row of activations by every weight matrix of the
transformer blocks (per layer: q/k/v ``3d x d``, output ``d x d``, feed-forward ``4d x d`` and
``d x 4d``). This script times exactly that set of products, one step after another as the
sampler runs them (so the matrices come from memory or cache as they would), with:

* ``torch fp32``: ``torch.nn.functional.linear`` (PyTorch's BLAS, MKL in the pinned wheel);
* ``numpy fp32``: ``W @ x`` in numpy (OpenBLAS, the wheel's own BLAS);
* ``torch bf16``: ``F.linear`` on bfloat16 weights and activations;
* ``torch int8``: PyTorch's dynamic int8 linear (what ``tuplet generate --dtype int8`` runs);

and prints milliseconds per step, the weight bytes read per second, and the floor of reading
those bytes once at the machine's measured read bandwidth. It answers "how fast could a step
be with the kernels at hand" apart from everything else a step does (embeddings, attention,
sampling): the products alone, against the issue's target of 200 notes/s (5 ms a step).

    python bench/kernels.py [--presets small,mmt-paper] [--steps 200] [--threads 1,2]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
import warnings
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from machine import cpu_model

SHAPES = {"small": (4, 256), "mmt-paper": (6, 512)}  # (layers, d_model); ff_mult 4


def matrices(layers: int, d: int) -> list[tuple[int, int]]:
    """(out, in) of every block linear layer of one step, in the order a step runs them."""
    return [(3 * d, d), (d, d), (4 * d, d), (d, 4 * d)] * layers


def read_bandwidth(threads: int, megabytes: int = 256) -> float:
    """Bytes per second of summing a large float32 tensor (every byte read once)."""
    torch.set_num_threads(threads)
    a = torch.ones(megabytes * 2**20 // 4)
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        a.sum()
        best = min(best, time.perf_counter() - start)
    return a.numel() * 4 / best


def kernels(shapes: list[tuple[int, int]]) -> dict[str, tuple[Callable[[], object], int]]:
    """Name -> (one step of products, weight bytes the step reads)."""
    gen = torch.Generator().manual_seed(0)
    fp32 = [torch.randn(o, i, generator=gen) * 0.02 for o, i in shapes]
    bias = [torch.zeros(o) for o, _ in shapes]
    xs = [torch.randn(1, i, generator=gen) for _, i in shapes]
    np_w = [w.numpy() for w in fp32]
    np_x = [x[0].numpy() for x in xs]
    bf16 = [w.to(torch.bfloat16) for w in fp32]
    bf16_x = [x.to(torch.bfloat16) for x in xs]
    # the same int8 layers as ``tuplet generate --dtype int8`` (tuplet.model.quantize)
    layers = torch.nn.ModuleList(torch.nn.Linear(i, o) for o, i in shapes)
    for layer, w in zip(layers, fp32, strict=True):
        layer.weight.data = w.clone()
    engines = torch.backends.quantized.supported_engines
    torch.backends.quantized.engine = next(e for e in ("x86", "fbgemm") if e in engines)
    with warnings.catch_warnings():  # torch.ao's deprecation notices
        warnings.simplefilter("ignore")
        from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

        int8 = list(
            quantize_dynamic(
                torch.nn.Sequential(*layers),
                {torch.nn.Linear: per_channel_dynamic_qconfig},
                dtype=torch.qint8,
            )
        )
    nbytes = sum(o * i for o, i in shapes)

    def torch_fp32() -> None:
        for w, b, x in zip(fp32, bias, xs, strict=True):
            F.linear(x, w, b)

    def numpy_fp32() -> None:
        for w, x in zip(np_w, np_x, strict=True):
            w @ x

    def torch_bf16() -> None:
        for w, x in zip(bf16, bf16_x, strict=True):
            F.linear(x, w)

    def torch_int8() -> None:
        for q, x in zip(int8, xs, strict=True):
            q(x)

    return {
        "torch fp32": (torch_fp32, 4 * nbytes),
        "numpy fp32": (numpy_fp32, 4 * nbytes),
        "torch bf16": (torch_bf16, 2 * nbytes),
        "torch int8": (torch_int8, nbytes),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presets", default="small,mmt-paper")
    parser.add_argument("--steps", type=int, default=200, help="steps per timing")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", default="1,2", help="torch threads to try")
    args = parser.parse_args()
    print(f"machine: {cpu_model()}, {os.cpu_count()} cores; python {platform.python_version()}, "
          f"torch {torch.__version__}, numpy {np.__version__}")  # fmt: skip
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("numpy's BLAS threads are its own (OPENBLAS_NUM_THREADS, unset: all cores)\n")
    for threads in (int(t) for t in args.threads.split(",")):
        bandwidth = read_bandwidth(threads)
        print(f"--- torch threads {threads}; read bandwidth {bandwidth / 1e9:.1f} GB/s")
        torch.set_num_threads(threads)
        for preset in args.presets.split(","):
            layers, d = SHAPES[preset]
            shapes = matrices(layers, d)
            runs = kernels(shapes)
            times: dict[str, list[float]] = {name: [] for name in runs}
            with torch.inference_mode():
                for _ in range(args.rounds):  # rivals interleaved, round after round
                    for name, (step, _) in runs.items():
                        step()
                        start = time.perf_counter()
                        for _ in range(args.steps):
                            step()
                        times[name].append((time.perf_counter() - start) / args.steps)
            fp32_bytes = runs["torch fp32"][1]
            floor = fp32_bytes / bandwidth * 1e3
            print(f"{preset}: {len(shapes)} matrices, {fp32_bytes / 1e6:.1f} MB in fp32; "
                  f"floor at {bandwidth / 1e9:.1f} GB/s {floor:.2f} ms")  # fmt: skip
            base = statistics.median(times["torch fp32"])
            for name, (_, nbytes) in runs.items():
                t = statistics.median(times[name])
                floor = nbytes / bandwidth * 1e3
                print(f"  {name:11s} {t * 1e3:7.2f} ms/step  {nbytes / t / 1e9:6.1f} GB/s  "
                      f"{base / t:5.2f}x torch fp32  floor {floor:5.2f} ms")  # fmt: skip


if __name__ == "__main__":
    main()
