"""Do the scores pick better candidates than chance? Kept by score against kept at random.

    python scripts/keep_stats.py [--model M] [--n 32] [--keep 5] [--rounds 4] [--beats 64]

Draws ``--n`` unconditional candidates (``--beats`` beats) ``--rounds`` times with the model's
own settings, scores them as ``tuplet generate --keep`` does (novelty, surprise, value:
:mod:`tuplet.generation.pick`; the model's scope and originality index), keeps the ``--keep`` best, and
compares them with ``--keep`` kept at random (every other draw of the same candidates, the mean
over all random choices): how many of their style measures fall inside the corpus's band, how
far outside it they fall, and their highest window cardinality score against the training
corpus (the closest they come to any single training piece).
"""

from __future__ import annotations

import argparse
import math

import numpy as np

from tuplet.generation.generate import GenerationOptions, load_model, unconditional
from tuplet.analysis.metrics import METRICS, trim
from tuplet.responsibility.originality import index_for_model
from tuplet.generation.pick import ranked, score_candidates
from tuplet.generation.sample import Limits
from tuplet.responsibility.scope import Scope


def distance(notes, band) -> tuple[float, float]:
    """(share of the band's measures inside it, mean distance outside in band widths)."""
    t = trim(notes)
    inside, gaps = [], []
    for name, (lo, hi) in band.items():
        v = float(METRICS[name](t))
        if not math.isfinite(v):
            inside.append(0.0)
            gaps.append(1.0)
            continue
        gap = max(lo - v, v - hi, 0.0) / max(hi - lo, 1e-9)
        inside.append(float(gap == 0))
        gaps.append(gap)
    return float(np.mean(inside)), float(np.mean(gaps))


def main() -> None:
    """Draw, score, keep, compare."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=None)
    ap.add_argument("--n", type=int, default=32)
    ap.add_argument("--keep", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--beats", type=int, default=64)
    args = ap.parse_args()
    lm = load_model(args.model)
    scope = Scope.from_dict(lm.info["scope"])
    index = index_for_model(args.model)
    kept_rows, random_rows = [], []
    for r in range(args.rounds):
        gen = unconditional(lm, options=GenerationOptions(
            n=args.n, seed=100 + r, limits=Limits(max_beats=args.beats)))  # fmt: skip
        pieces = [p.notes for p in gen.pieces]
        scores = score_candidates(lm, pieces, scope, index=index)
        rows = []
        for p in pieces:
            inside, gap = distance(p, scope.band)
            cs = index.score(p).max_cs if index is not None else math.nan
            rows.append((inside, gap, cs if cs is not None else math.nan))
        rows_a = np.array(rows)
        kept_rows.append(rows_a[ranked(scores, args.keep)].mean(axis=0))
        random_rows.append(rows_a.mean(axis=0))  # the expectation of a random choice
        print(f"round {r + 1}: kept {kept_rows[-1].round(3)}, random {random_rows[-1].round(3)}")
    k, rnd = np.mean(kept_rows, axis=0), np.mean(random_rows, axis=0)
    print(f"{args.rounds} rounds of {args.n} candidates, {args.keep} kept:")
    print(f"  measures inside the band: kept {100 * k[0]:.1f}%, random {100 * rnd[0]:.1f}%")
    print(f"  mean distance outside (band widths): kept {k[1]:.3f}, random {rnd[1]:.3f}")
    print(f"  highest window CS against the corpus: kept {k[2]:.3f}, random {rnd[2]:.3f}")


if __name__ == "__main__":
    main()
