"""Generation speed: notes/s of the sampler, cached against uncached, single and batched.

Random-weight models (speed does not depend on training) with the MMT vocabulary; end-of-song
is forbidden (min_notes above the length) so every run goes the full length. Prints the machine,
its memory bandwidth (a large tensor copy), and for single-stream cached decoding how close each
step comes to the floor of reading every weight and the cached keys and values once per step
((weight bytes + average KV-cache bytes) / bandwidth).

Each run is timed twice: wall-clock seconds, and the CPU seconds the process used. On a machine
shared with other jobs the wall clock measures the neighbours as much as the sampler; with one
thread (--threads 1) the CPU seconds are close to what the run takes on an idle core, so the
ratios and targets are computed from them (both are printed); with more threads, or on a GPU,
from the wall clock.

    python bench/generate.py                       # small and mmt-paper, 1024 events
    python bench/generate.py --presets small --events 256 --threads 1
    python bench/generate.py --device cuda
    python bench/generate.py --presets small --events 512 --disable unison   # a rule's cost
    python bench/generate.py --decoders eager,compiled --rounds 3   # the compiled step, rivals
    python bench/generate.py --presets default --events 512 --decoders eager,compiled

With ``--decoders`` naming more than one way of running a step (``eager``, the reference;
``compiled``, one ``torch.compile`` graph per step, :mod:`tuplet.model.compiled`), every cached
run is repeated ``--rounds`` times with the decoders taking turns, so a busy machine slows
them alike; medians are printed, and the ratio of each to the eager one. The compiled step is
compiled once per preset before the timed runs (the seconds it took are printed).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
import torch

from machine import cpu_model
from tuplet.encoding import get_encoding
from tuplet.generation.rules import Constraints, Limits
from tuplet.generation.sample import sample_codes
from tuplet.model.quantize import int8_bytes, with_weights
from tuplet.model.static import StaticDecoder
from tuplet.model.transformer import MusicTransformer, preset


def bandwidth_bytes_per_s(
    device: str, megabytes: int = 512, repeats: int = 5
) -> tuple[float, float]:
    """(copy, read) bandwidth: a large float32 copy (every byte read and written, counted
    twice) and a large sum (every byte read once, as decoding reads the weights)."""
    n = megabytes * 2**20 // 4
    a = torch.ones(n, device=device)
    b = torch.empty_like(a)
    best = {"copy": float("inf"), "read": float("inf")}
    for _ in range(repeats):
        for kind, work in (("copy", lambda: b.copy_(a)), ("read", lambda: a.sum())):
            sync(device)
            start = time.perf_counter()
            work()
            sync(device)
            best[kind] = min(best[kind], time.perf_counter() - start)
    return 2 * n * 4 / best["copy"], n * 4 / best["read"]


def op_costs() -> tuple[float, float]:
    """CPU cost of one CPython loop step (ns) and of one tiny torch op (us): how busy the
    machine is (an idle modern core: about 30-50 ns and 2-4 us)."""
    start = time.process_time()
    total = 0
    for i in range(1_000_000):
        total += i
    loop_ns = (time.process_time() - start) * 1e3
    x = torch.zeros(1)
    start = time.process_time()
    for _ in range(20_000):
        x.add_(1)
    return loop_ns, (time.process_time() - start) / 20_000 * 1e6


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def build(name: str, device: str, dtype: str = "float32") -> tuple[MusicTransformer, object, int]:
    """The model (random weights, in ``dtype``), its encoding, and its parameter count.

    ``default`` is the shipped model, its own weights and encoding (512 events at most).
    """
    if name == "default":
        from tuplet.generation.session import load_model

        lm = load_model(None, device, dtype)
        return lm.model.eval(), lm.encoding, lm.model.num_parameters()
    enc = get_encoding("mmt", max_beat=256)
    torch.manual_seed(0)
    config = preset(
        name,
        enc.fields,
        enc.vocab_sizes,
        defined_fields=tuple(map(tuple, enc.defined_fields.tolist())),
    )
    model = MusicTransformer(config).to(device).eval()
    with torch.no_grad():
        # random weights walk to the last beat within a few dozen events, and the piece then
        # ends (time is up): a beat head that prefers the earliest allowed beat keeps every
        # run going the full length (the work per step is the same)
        beat = model.heads[enc.field_index("beat")]
        beat.bias -= 3.0 * torch.arange(beat.bias.numel(), device=device)
    params = model.num_parameters()  # before int8 layers hide their weights from parameters()
    return with_weights(model, dtype), enc, params  # what `tuplet generate --dtype` runs


def weight_bytes(model: MusicTransformer) -> int:
    """Bytes of every weight a decoding step reads (int8 ones included)."""
    return sum(p.numel() * p.element_size() for p in model.parameters()) + int8_bytes(model)


def prompt(enc) -> np.ndarray:
    """Instrument-informed: start-of-song, four instruments, start-of-notes."""
    rows = np.zeros((6, len(enc.fields)), dtype=np.int64)
    rows[1:5, 0] = enc.type_codes["instrument"]
    rows[1:5, enc.field_index("instrument")] = [1, 25, 26, 27]
    rows[5, 0] = enc.type_codes["start-of-notes"]
    return rows


DISABLED: frozenset[str] = frozenset()
"""Sampler rules switched off for the whole run (``--disable``), to measure what they cost."""


def run(
    model, enc, events: int, batch: int, cache: bool, device: str, decoder: str = "eager"
) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds, new notes and steps (the longest sequence's new events).

    The random presets run ``events`` long; a trained model (``default``) may end sooner
    (it reaches its last beat), so steps are counted, not assumed.
    """
    g = torch.Generator(device=device).manual_seed(0)
    limits = Limits(max_events=events, min_notes=10**9)
    sync(device)
    start, cpu = time.perf_counter(), time.process_time()
    outs = sample_codes(
        model,
        enc,
        prompt(enc),
        n=batch,
        limits=limits,
        constraints=Constraints(disabled=DISABLED),
        generator=g,
        use_cache=cache,
        decoder=decoder,
    )
    sync(device)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    notes = sum(int((o[:, 0] == enc.type_codes["note"]).sum()) for o in outs)
    return wall, cpu, notes, max(len(o) for o in outs) - len(prompt(enc))


def forward_only(model, events: int, device: str, clock) -> float:
    """Seconds per step (by ``clock``) of the cached forward pass alone, batch 1."""
    x = torch.zeros(1, 1, model.config.n_fields, dtype=torch.long, device=device)
    with torch.inference_mode():
        cache = model.new_cache(1, capacity=events)
        sync(device)
        start = clock()
        for _ in range(events - 1):
            model.hidden(x, kv_cache=cache)
        sync(device)
    return (clock() - start) / (events - 1)


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presets", default="small,mmt-paper")
    parser.add_argument("--events", type=int, default=1024, help="events per sequence")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument(
        "--uncached-events", type=int, default=None, help="default: --events; 0: skip"
    )
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", help="float32, bfloat16, float16 or int8")
    parser.add_argument(
        "--disable", default="", help="sampler rules to switch off, e.g. unison (their cost)"
    )
    parser.add_argument(
        "--decoders", default="eager", help="eager, static, jit, compiled (comma-separated)"
    )
    parser.add_argument("--rounds", type=int, default=1, help="runs of each cached setting")
    args = parser.parse_args()
    global DISABLED
    DISABLED = frozenset(r for r in args.disable.split(",") if r)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = args.device
    decoders = args.decoders.split(",")
    uncached_events = args.events if args.uncached_events is None else args.uncached_events
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    print(
        f"machine: {cpu_model()}, {os.cpu_count()} cores, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, load average {load[0]:.1f}"
    )
    if device.startswith("cuda"):
        print(f"device: {torch.cuda.get_device_name(device)}")
    copy, bandwidth = bandwidth_bytes_per_s(device)
    print(
        f"memory bandwidth: copy {copy / 1e9:.1f} GB/s (read + written), "
        f"read {bandwidth / 1e9:.1f} GB/s (the floor below uses this one)"
    )
    loop_ns, op_us = op_costs()
    print(f"CPU cost of a Python loop step {loop_ns:.0f} ns, of a tiny torch op {op_us:.1f} us")
    # the CPU clock says nothing about a GPU, and counts every thread: wall clock there
    by_wall = device.startswith("cuda") or torch.get_num_threads() > 1
    clock = time.perf_counter if by_wall else time.process_time
    print()
    header = f"{'model':<10} {'decoder':>8} {'batch':>5} {'cache':>5} {'steps':>6} "
    print(header + f"{'wall s':>8} {'cpu s':>8} {'notes/s':>8} {'(cpu)':>8} {'ms/step':>8}")
    summary = []
    for name in args.presets.split(","):
        model, enc, _ = build(name, device, args.dtype)
        run(model, enc, 16, 1, True, device)  # warm-up
        for decoder in decoders:
            if decoder != "eager":  # compile (per batch size and cache window) before timing
                start = time.perf_counter()
                for batch in (1, args.batch):
                    run(model, enc, args.events, batch, True, device, decoder)
                print(f"{name}: {decoder} step ready in {time.perf_counter() - start:.1f} s")
        results: dict[tuple[str, int, bool], list[tuple[float, int, int]]] = {}
        settings = [(1, True, args.events), (args.batch, True, args.events)]
        if uncached_events:
            settings.append((1, False, uncached_events))
        for batch, cache, events in settings:
            for r in range(args.rounds if cache else 1):
                turn = decoders[r % len(decoders) :] + decoders[: r % len(decoders)]
                for decoder in turn if cache else ["eager"]:
                    wall, cpu, notes, steps = run(
                        model, enc, events, batch, cache, device, decoder
                    )
                    used = wall if by_wall else cpu
                    results.setdefault((decoder, batch, cache), []).append((used, notes, steps))
                    print(
                        f"{name:<10} {decoder:>8} {batch:>5} {'yes' if cache else 'no':>5} "
                        f"{steps:>6} {wall:>8.2f} {cpu:>8.2f} {notes / wall:>8.0f} "
                        f"{notes / cpu:>8.0f} {1e3 * used / steps:>8.2f}"
                    )
        forward = forward_only(model, args.events, device, clock)
        c = model.config
        element = torch.empty((), dtype=StaticDecoder(model, 1, 1).dtype).element_size()
        # each step also reads the cached keys and values: on average half the sequence (the
        # eager cache); the compiled step's static cache is read whole
        kv_full = 2 * c.n_layer * c.d_model * element * args.events
        floor = (weight_bytes(model) + kv_full / 2) / bandwidth
        floor_static = (weight_bytes(model) + kv_full) / bandwidth
        summary.append((name, results, forward, floor, floor_static))
    basis = "wall" if by_wall else "CPU"
    print(f"\n(ratios from {basis} seconds, medians of the rounds; ms/step too)")
    for name, results, forward, floor, floor_static in summary:

        def rate(key: tuple[str, int, bool], results: dict = results) -> float:
            return median([n / used for used, n, _ in results[key]])

        def step_s(key: tuple[str, int, bool], results: dict = results) -> float:
            return median([used / steps for used, _, steps in results[key]])

        uncached = results.get(("eager", 1, False))
        print(
            f"{name}: read floor per step (weights + mean KV cache) {1e3 * floor:.2f} ms; "
            f"with the whole static cache {1e3 * floor_static:.2f} ms; eager forward alone "
            f"{1e3 * forward:.2f} ms"
        )
        for decoder in decoders:
            single, batched = rate((decoder, 1, True)), rate((decoder, args.batch, True))
            step = step_s((decoder, 1, True))
            line = (
                f"  {decoder}: single {single:.0f} notes/s ({1e3 * step:.2f} ms/step, "
                f"{step / floor:.1f}x the floor), batch {args.batch} {batched:.0f} notes/s"
            )
            if decoder != "eager" and ("eager", 1, True) in results:
                line += (
                    f"; {single / rate(('eager', 1, True)):.2f}x eager single, "
                    f"{batched / rate(('eager', args.batch, True)):.2f}x eager batch"
                )
            if uncached:
                u_step = median([used / steps for used, _, steps in uncached])
                line += f"; cached step {u_step / step:.1f}x faster than uncached"
                line += f" ({uncached[0][2]} steps)"
            print(line)
    if hasattr(os, "getloadavg"):
        print(f"load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
