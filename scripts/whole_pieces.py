"""Whole-piece figures of a model's samples against the held-out pieces' band.

    python scripts/whole_pieces.py --data data-out/default [--model M] [--n 32] [--seed 1]
        [--instruments violin,viola,cello] [--rules-off range,polyphony,drums,gap]
        [--fill tests/data/bwv66.6.mid --start 16 --end 32] [--range-detail]

Draws ``--n`` pieces (unconditional, or with ``--instruments``) as ``tuplet generate`` does
with the model's shipped settings, measures each whole piece with
:mod:`tuplet.analysis.wholepiece`, and prints each figure's mean and 95th percentile beside the
held-out (test split) pieces' mean and 95th percentile, plus the share of each instrument's
notes in its playable range. With ``--fill``, refills beats [start, end) of the file ``--n``
times (all parts) and prints how soon after the span's start the first new note comes, and the
share of the span's bars that hold a new note. ``--rules-off`` switches sampler rules off, to
measure the model by itself. ``--range-detail`` also prints, per program, how far out of its
range its notes go (semitones below and above, counted) and the median pitch of its part in
each piece.
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np

from tuplet.analysis.evaluate import read_dataset_pieces
from tuplet.analysis.wholepiece import WHOLE_PIECE_METRICS, beats_per_bar, out_of_range_programs
from tuplet.generation.generate import GenerationOptions, infill, load_model, unconditional
from tuplet.generation.sample import Limits
from tuplet.io import read_notes
from tuplet.notes import Notes


def band(pieces: list[Notes]) -> dict[str, tuple[float, float]]:
    """Mean and 95th percentile of each whole-piece measure."""
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # NaN-only measures (no drums)
        for name, fn in WHOLE_PIECE_METRICS.items():
            v = np.array([fn(p) for p in pieces], dtype=float)
            out[name] = (float(np.nanmean(v)), float(np.nanpercentile(v, 95)))
    return out


def ranges(pieces: list[Notes]) -> dict[int, float]:
    """Per GM program: the share of its notes in range, over all pieces."""
    inside: dict[int, list[float]] = {}
    for p in pieces:
        for program, out in out_of_range_programs(p).items():
            n = int(((p.program == program) & ~p.is_drum).sum())
            inside.setdefault(program, []).extend([1.0 - out] * n)
    return {k: float(np.mean(v)) for k, v in sorted(inside.items())}


def range_detail(pieces: list[Notes]) -> None:
    """Per GM program: notes out of its range (by semitones out) and its pieces' medians.

    To see which way an instrument strays and what part it plays.
    """
    from tuplet.ranges import PROGRAMS

    programs = sorted({int(x) for p in pieces for x in np.unique(p.program[~p.is_drum])})
    for program in programs:
        low, high, _ = PROGRAMS[program]
        below: dict[int, int] = {}
        above: dict[int, int] = {}
        medians = []
        for p in pieces:
            pitch = p.pitch[(p.program == program) & ~p.is_drum].astype(int)
            if not len(pitch):
                continue
            medians.append(float(np.median(pitch)))
            for q in pitch[pitch < low]:
                below[int(q) - low] = below.get(int(q) - low, 0) + 1
            for q in pitch[pitch > high]:
                above[int(q) - high] = above.get(int(q) - high, 0) + 1
        print(f"  program {program} ({low}..{high}): below {dict(sorted(below.items()))}, "
              f"above {dict(sorted(above.items()))}, medians {sorted(medians)}")  # fmt: skip


def fills(lm, args, options: GenerationOptions) -> None:
    """First new note after the span's start, and the span's bars covered."""
    piece = read_notes(args.fill)
    gen = infill(lm, piece, args.start, args.end, options=options)
    tpb = piece.ticks_per_beat
    bar = beats_per_bar(piece)
    delays, covered = [], []
    for p in gen.pieces:
        old = {(int(o), int(q)) for o, q in zip(piece.onset_ticks, piece.pitch, strict=True)}
        pairs = zip(p.notes.onset_ticks, p.notes.pitch, strict=True)
        lo, hi = args.start * tpb, args.end * tpb
        new = [i for i, (o, q) in enumerate(pairs) if (int(o), int(q)) not in old and lo <= o < hi]
        onsets = p.notes.onset_ticks[new] / p.notes.ticks_per_beat
        span = float(args.end - args.start)
        delays.append(float(onsets.min() - args.start) if len(new) else span)
        bars = {int((b - args.start) // bar) for b in onsets}
        covered.append(len(bars) / max(1, int(np.ceil((args.end - args.start) / bar))))
    first_bar = np.mean([d < bar for d in delays])
    print(f"fills of beats {args.start}..{args.end} ({len(delays)}): first new note "
          f"{np.mean(delays):.2f} beats after the start (median {np.median(delays):.1f}); "
          f"within the first bar in {100 * first_bar:.0f}%; span bars covered "
          f"{100 * np.mean(covered):.0f}%")  # fmt: skip


def main() -> None:
    """Draw, measure, print."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="data-out/default")
    parser.add_argument("--model", default=None)
    parser.add_argument("--n", type=int, default=32)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--instruments", default=None)
    parser.add_argument("--rules-off", default="")
    parser.add_argument("--fill", default=None)
    parser.add_argument("--start", type=int, default=16)
    parser.add_argument("--end", type=int, default=32)
    parser.add_argument(
        "--range-detail", action="store_true", help="per program: notes out, pieces' medians"
    )
    args = parser.parse_args()
    lm = load_model(args.model)
    off = tuple(x for x in args.rules_off.split(",") if x)
    limits = Limits(max_gap_beats=None if "gap" not in off else lm.max_gap_beats)
    options = GenerationOptions(n=args.n, seed=args.seed, rules_off=off, limits=limits)
    print(f"model {lm.describe()['path']}, rules off: {', '.join(off) or 'none'}")
    if args.fill:
        fills(lm, args, options)
        return
    names = None if args.instruments is None else args.instruments.split(",")
    gen = unconditional(lm, instruments=names, options=options)
    samples = [p.notes for p in gen.pieces]
    held = read_dataset_pieces(args.data, "test")
    held_pieces = list(getattr(held, "pieces", held))
    mine, theirs = band(samples), band(held_pieces)
    print(f"{len(samples)} samples ({names or 'unconditional'}) against {len(held_pieces)} "
          "test pieces: mean / 95th percentile")  # fmt: skip
    for name in WHOLE_PIECE_METRICS:
        (m, p), (hm, hp) = mine[name], theirs[name]
        print(f"  {name:24s} samples {m:8.3f} / {p:8.3f}   held-out {hm:8.3f} / {hp:8.3f}")
    print("  in range, per program:", {k: round(v, 4) for k, v in ranges(samples).items()})
    plays: dict[int, int] = {}
    for p in samples:
        for program in set(p.program[~p.is_drum].tolist()):
            plays[program] = plays.get(program, 0) + 1
    print("  samples each program plays in:", dict(sorted(plays.items())), f"of {len(samples)}")
    if args.range_detail:
        range_detail(samples)


if __name__ == "__main__":
    main()
