"""Does a head look back whole bars? The gain at beats 4N back against the beats between.

Per head, the mean attention gain at beats -4, -8, ..., -32 minus the mean gain at the other
beats from -31 to -5, from ``tuplet analyze attention``'s ``attention.csv`` (docs/attention.md,
"Notes 4N beats back").

    python scripts/four_beats.py runs/attention-default [runs/attention-default-uniform ...]
"""

from __future__ import annotations

import csv
import statistics
import sys
from collections import defaultdict


def main() -> None:
    """Print the heads with the largest difference, and each layer's mean."""
    for run in sys.argv[1:]:
        gains: dict[tuple[int, str], dict[int, float]] = defaultdict(dict)
        with open(f"{run}/attention.csv", newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                if row["field"] == "beat" and row["head"] != "mean":
                    gains[(int(row["layer"]), row["head"])][int(row["offset"])] = float(row["gain"])
        score = {}
        for head, g in gains.items():
            bars = [g[k] for k in range(-32, -3, 4) if k in g]
            between = [g[k] for k in range(-31, -4) if k % 4 and k in g]
            score[head] = statistics.mean(bars) - statistics.mean(between)
        best = sorted(score.items(), key=lambda item: -item[1])
        print(run)
        for (layer, head), value in best[:4]:
            print(f"  layer {layer} head {head}: {value:+.4f}")
        print(f"  lowest head: {best[-1][1]:+.4f}")
        for layer in sorted({layer for layer, _ in score}):
            mean = statistics.mean(v for (lay, _), v in score.items() if lay == layer)
            print(f"  layer {layer} mean: {mean:+.4f}")


if __name__ == "__main__":
    main()
