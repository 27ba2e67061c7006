"""How the default model fills a span: notes, beats covered and the most notes on one beat.

    python scripts/fill_stats.py [--file tests/data/bwv66.6.mxl] [--start 8 --end 16] [--seeds 6]

Refills beats [start, end) of the piece with ``tuplet.generate.infill`` (all parts), two
samples per seed, and prints the means over the samples (docs/default-model.md).
"""

from __future__ import annotations

import argparse

import numpy as np

from tuplet.generate import GenerationOptions, infill, load_model
from tuplet.io import read_notes


def main() -> None:
    """Run the fills and print the means."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--file", default="tests/data/bwv66.6.mxl")
    parser.add_argument("--model", default=None, help="checkpoint (default: the shipped model)")
    parser.add_argument("--start", type=int, default=8)
    parser.add_argument("--end", type=int, default=16)
    parser.add_argument("--seeds", type=int, default=6)
    args = parser.parse_args()
    lm = load_model(args.model)
    piece = read_notes(args.file)
    beats = piece.onset_ticks // piece.ticks_per_beat
    held = int(((beats >= args.start) & (beats < args.end)).sum())
    span = args.end - args.start
    rows = []
    for seed in range(args.seeds):
        gen = infill(lm, piece, args.start, args.end, options=GenerationOptions(seed=seed, n=2))
        for p in gen.pieces:
            b = p.notes.onset_ticks // p.notes.ticks_per_beat
            inside = b[(b >= args.start) & (b < args.end)] - args.start
            counts = np.bincount(inside, minlength=span)
            rows.append((len(inside), int((counts > 0).sum()), int(counts.max())))
    a = np.array(rows)
    print(f"{args.file}, beats {args.start}..{args.end - 1} (held {held} notes), {len(a)} fills:")
    print(f"  notes in the span {a[:, 0].mean():.1f}; beats of {span} with a note "
          f"{a[:, 1].mean():.1f}; most notes on one beat {a[:, 2].mean():.1f} "
          f"(worst {a[:, 2].max()})")  # fmt: skip


if __name__ == "__main__":
    main()
