"""Originality scoring: the indexed search against an exact brute-force search, and its speed
on a corpus of the default model's size and on one ten times larger.

    python bench/originality.py [--data data-out/broad] [--pieces 8] [--scale 10]

The corpus is the dataset's train split; the pieces scored are its test pieces' first 64 beats
(what a sample of ``tuplet generate --max-beats 64`` is). For each window the exact best
cardinality score is found by brute force (every translation between the window's notes and
every corpus note, counted at once) and compared with the index's. The larger corpus is the
same pieces ten times, each copy transposed and moved (so no copy duplicates another). Prints
the machine, index build seconds, ms per piece (median), and the two searches' agreement.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from dataclasses import replace

import numpy as np

from machine import cpu_model
from tuplet.analysis.evaluate import read_dataset_pieces
from tuplet.responsibility import originality
from tuplet.responsibility.originality import (
    GRID,
    HOP_BEATS,
    MIN_WINDOW_NOTES,
    WINDOW_BEATS,
    OriginalityIndex,
)
from tuplet.responsibility.originality import points as note_points


def trim(notes, beats: int):
    return notes.select(notes.onset_ticks < beats * notes.ticks_per_beat)


def brute_window(index: OriginalityIndex, onset: np.ndarray, pitch: np.ndarray) -> float:
    """The exact best CS of one window: every translation to every corpus note, counted."""
    best = 0.0
    n = len(onset)
    for j in range(len(index.names)):  # piece by piece: each translation within one piece
        lo, hi = index.starts[j], index.starts[j + 1]
        qo, qp = index.onset[lo:hi], index.pitch[lo:hi]
        dt = (qo[None, :] - onset[:, None]).ravel()
        dp = (qp[None, :] - pitch[:, None]).ravel()
        code = (dt + (1 << 30)) * 512 + (dp + 256)
        uniq, counts = np.unique(code, return_counts=True)
        top = np.argsort(-counts)[:64]  # the best CS is among the most-matched translations
        for c, k in zip(uniq[top].tolist(), counts[top].tolist(), strict=True):
            if k / n <= best:
                break
            shift = c // 512 - (1 << 30)
            span = np.searchsorted(qo, [int(onset[0]) + shift, int(onset[-1]) + shift + 1])
            best = max(best, k / max(n, int(span[1] - span[0])))
    return best


def windows(notes):
    onset, pitch = note_points(notes)
    step, size = HOP_BEATS * GRID, WINDOW_BEATS * GRID
    end = int(onset.max()) + 1
    for s in range(0, max(1, end - size + step), step) if end > size else [0]:
        lo, hi = np.searchsorted(onset, [s, s + size])
        if hi - lo >= MIN_WINDOW_NOTES:
            yield s, onset[lo:hi], pitch[lo:hi]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="data-out/broad")
    ap.add_argument("--pieces", type=int, default=8)
    ap.add_argument("--scale", type=int, default=10)
    ap.add_argument("--caps", default="2000,0", help="MAX_SHAPE_HITS values (0: no cap)")
    args = ap.parse_args()
    for cap in [int(c) for c in args.caps.split(",")]:
        originality.MAX_SHAPE_HITS = cap or 1 << 62
        print(f"--- MAX_SHAPE_HITS {cap or 'none'}")
        run(args)


def run(args: argparse.Namespace) -> None:
    print(f"machine: {cpu_model()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}")
    train = read_dataset_pieces(args.data, "train")
    test = [trim(p, 64) for p in read_dataset_pieces(args.data, "test").pieces[: args.pieces]]
    corpora = {"1x": (train.names, train.pieces)}
    big_names, big_pieces = [], []
    for k in range(args.scale):
        for name, p in zip(train.names, train.pieces, strict=True):
            big_names.append(f"{name}@{k}")
            big_pieces.append(replace(p, pitch=np.clip(p.pitch + (k % 7) - 3, 0, 127),
                                      onset_ticks=p.onset_ticks + k * 7 * p.ticks_per_beat))
    corpora[f"{args.scale}x"] = (big_names, big_pieces)
    for label, (names, pieces) in corpora.items():
        t0 = time.perf_counter()
        index = OriginalityIndex.from_pieces(names, pieces)
        build = time.perf_counter() - t0
        times = []
        for p in test:
            t0 = time.perf_counter()
            index.score(p)
            times.append(time.perf_counter() - t0)
        print(f"{label}: {len(names)} pieces, {len(index.onset):,} notes, "
              f"{len(index._key):,} shapes; build {build:.2f} s; score a 64-beat piece: "
              f"median {1000 * statistics.median(times):.0f} ms, max {1000 * max(times):.0f} ms")
    # agreement with the exact search (on the 1x corpus)
    index = OriginalityIndex.from_pieces(train.names, train.pieces)
    diffs, exact_t, fast_t = [], [], []
    for p in test:
        for _, onset, pitch in windows(p):
            t0 = time.perf_counter()
            exact = brute_window(index, onset, pitch)
            exact_t.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            fast = index._window(onset, pitch, 0, -1)[0]
            fast_t.append(time.perf_counter() - t0)
            diffs.append(exact - fast)
    d = np.array(diffs)
    print(f"windows: {len(d)}; exact search {1000 * statistics.median(exact_t):.0f} ms/window, "
          f"index {1000 * statistics.median(fast_t):.1f} ms/window "
          f"({statistics.median(exact_t) / statistics.median(fast_t):.0f}x)")
    print(f"index CS below the exact best: mean {d.mean():.3f}, max {d.max():.3f}; "
          f"equal in {100 * np.mean(d < 1e-9):.0f}% of windows, within 0.05 in "
          f"{100 * np.mean(d < 0.05):.0f}%")


if __name__ == "__main__":
    main()
