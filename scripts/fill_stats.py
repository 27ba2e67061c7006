"""How the default model fills a span: notes, beats covered and the most notes on one beat.

    python scripts/fill_stats.py [--file tests/data/bwv66.6.mxl] [--start 8 --end 16] [--seeds 6]
    python scripts/fill_stats.py --loops 8
    python scripts/fill_stats.py --add-part violin [--file tests/data/bwv84.5.mid]

Refills beats [start, end) of the piece with ``tuplet.generation.generate.infill`` (all parts), two
samples per seed, and prints the means over the samples; with ``--loops N``, makes N new
two-bar loops (``tuplet.generation.loop.loop``, seeds 0..N-1) and prints the notes of each bar, how many
second bars hold under a quarter of the first's notes, the mean wrap-around score and which
kind of candidate won; with ``--add-part NAME``, adds that part (seeds 0..seeds-1) and prints
its notes and how many of the piece's beats it plays in (docs/default-model.md).
"""

from __future__ import annotations

import argparse

import numpy as np

from tuplet.generation.generate import GenerationOptions, LoadedModel, add_part, infill, load_model
from tuplet.io import read_notes
from tuplet.notes import Notes


def main() -> None:
    """Run the fills and print the means."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--file", default="tests/data/bwv66.6.mxl")
    parser.add_argument("--model", default=None, help="checkpoint (default: the shipped model)")
    parser.add_argument("--start", type=int, default=8)
    parser.add_argument("--end", type=int, default=16)
    parser.add_argument("--seeds", type=int, default=6)
    parser.add_argument("--loops", type=int, default=0, help="make N two-bar loops instead")
    parser.add_argument("--add-part", default=None, help="add this instrument's part instead")
    args = parser.parse_args()
    lm = load_model(args.model)
    if args.loops:
        loops(lm, args.loops)
        return
    piece = read_notes(args.file)
    if args.add_part:
        added_part(lm, piece, args.add_part, args.seeds)
        return
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


def added_part(lm: LoadedModel, piece: Notes, name: str, seeds: int) -> None:
    """Add a part ``seeds`` times and print its notes and the beats it plays in."""
    beats = set((piece.onset_ticks // piece.ticks_per_beat).tolist())
    rows = []
    for seed in range(seeds):
        gen = add_part(lm, piece, name, options=GenerationOptions(seed=seed))
        notes = gen.pieces[0].notes
        new = notes.select(~np.isin(notes.track, np.unique(piece.track)))
        played = set((new.onset_ticks // new.ticks_per_beat).tolist()) & beats
        first = int(new.onset_ticks.min() // new.ticks_per_beat) if len(new) else -1
        rows.append((len(new), len(played) / len(beats), first))
    a = np.array(rows, dtype=float)
    print(f"add {name} to a piece of {len(piece)} notes on {len(beats)} beats, {seeds} seeds: "
          f"notes {a[:, 0].mean():.1f} (fewest {a[:, 0].min():.0f}); share of the piece's beats "
          f"played {a[:, 1].mean():.2f}; first note at beat {a[:, 2].mean():.1f}")  # fmt: skip


def loops(lm: LoadedModel, n: int) -> None:
    """Make ``n`` new two-bar loops in 4/4 and print how their bars are filled."""
    from collections import Counter

    from tuplet.generation.loop import loop

    bars: list[tuple[int, int]] = []
    wraps: list[float] = []
    kinds: Counter[str] = Counter()
    for seed in range(n):
        piece = loop(lm, 2, options=GenerationOptions(seed=seed)).pieces[0]
        b = piece.notes.onset_ticks // piece.notes.ticks_per_beat
        bars.append((int((b < 4).sum()), int((b >= 4).sum())))
        wraps.append(piece.details["wrap_nll"])
        kinds[piece.details["seam"]] += 1
    a = np.array(bars)
    print(f"{n} two-bar loops: notes in bar 1 {a[:, 0].mean():.1f}, bar 2 {a[:, 1].mean():.1f}; "
          f"bar 2 under a quarter of bar 1: {(a[:, 1] < 0.25 * a[:, 0]).sum()}/{n}; "
          f"wrap-around NLL {np.mean(wraps):.2f}; kept: {dict(kinds)}")  # fmt: skip


if __name__ == "__main__":
    main()
