"""Sampling settings chosen on whole pieces: which one makes pieces most like the held-out ones?

    python scripts/whole_settings.py --data data-out/broad [--model M] [--n 16] [--seeds 1,2]
        [--split valid] [--only 'top-p 0.95;mmt top-k 10%']

For each candidate setting, draws ``--n`` unconditional whole pieces per seed (as ``tuplet
generate`` does: the shipped rules and limits, no trim) and measures them with the whole-piece
measures (:mod:`tuplet.analysis.wholepiece`) and the MMT paper's three metrics over the whole
piece (:mod:`tuplet.analysis.metrics`). Each measure's sample mean is compared with the
``--split`` pieces' mean, in units of their standard deviation. With ``--continuations``
(seeds, e.g. ``0,100``), each candidate also continues every long-enough ``--split`` piece
(16 beats given, 32 measured: :mod:`tuplet.analysis.continuations`), and each continuation
metric's mean absolute difference from the true continuation, in units of the true
continuations' standard deviation, is a second distance; the score is then the mean of the two.
The setting with the smallest score wins (chosen on valid, so the test split stays for
reporting).
"""

from __future__ import annotations

import argparse
import json
import math
import time
import warnings

import numpy as np

from tuplet.analysis.continuations import evaluate_continuations
from tuplet.analysis.evaluate import read_dataset_pieces
from tuplet.analysis.metrics import METRICS
from tuplet.analysis.wholepiece import WHOLE_PIECE_METRICS
from tuplet.cli.generate import _FLAGS as FLAGS  # each knob's option of tuplet generate
from tuplet.generation.generate import GenerationOptions, load_model, unconditional
from tuplet.generation.sample import SamplingSettings

HALF = {"top_k_frac": 0.5}
CANDIDATES = {  # name: the knobs (as a checkpoint's "sampling" holds them)
    "mmt top-k 10%": {"top_k_frac": 0.1},
    "top-k 5%": {"top_k_frac": 0.05},
    "top-k 10%, T 0.9": {"top_k_frac": 0.1, "temperature": 0.9},
    "top-p 0.95": {"top_k_frac": 1.0, "top_p": 0.95},
    "top-k 20%": {"top_k_frac": 0.2},
    "top-k 20%, pitch T 0.9": {"top_k_frac": 0.2, "per_field": {"pitch": {"temperature": 0.9}}},
    "top-k 20%, pitch T 0.8": {"top_k_frac": 0.2, "per_field": {"pitch": {"temperature": 0.8}}},
    "top-k 20%, min-p 0.02": {"top_k_frac": 0.2, "min_p": 0.02},
    "top-k 20%, min-p 0.05": {"top_k_frac": 0.2, "min_p": 0.05},
    "top-k 20%, min-p 0.1": {"top_k_frac": 0.2, "min_p": 0.1},
    "min-p 0.05": {"top_k_frac": 1.0, "min_p": 0.05},
    # top-k 20% keeps 3 of the 13 position codes (MMT's 10%: 2): onsets in fewer places
    "top-k 20%, position top-k 50%": {"top_k_frac": 0.2, "per_field": {"position": HALF}},
    "top-k 20%, position all": {"top_k_frac": 0.2, "per_field": {"position": {"top_k_frac": 1.0}}},
    "top-k 20%, position and duration top-k 50%": {
        "top_k_frac": 0.2, "per_field": {"position": HALF, "duration": HALF}},
    "top-k 20%, min-p 0.02, position top-k 50%": {
        "top_k_frac": 0.2, "min_p": 0.02, "per_field": {"position": HALF}},
}  # fmt: skip
MMT = ("pitch_class_entropy", "scale_consistency", "groove_consistency")


def flags(knobs: dict) -> str:
    """``tuplet generate``'s options for a candidate's knobs (per-field ones as 1,pitch=0.8)."""
    per_knob: dict[str, list[str]] = {}
    for name, own in knobs.get("per_field", {}).items():
        for k, v in own.items():
            per_knob.setdefault(k, []).append(f"{name}={v}")
    # a knob set for some fields is one option: its value for the rest, then the fields'
    out = [f"{FLAGS[k]} {v}" for k, v in knobs.items() if k != "per_field" and k not in per_knob]
    for k, values in per_knob.items():
        default = knobs.get(k, getattr(SamplingSettings(), k))  # the rest: MMT's value
        out.append(f"{FLAGS[k]} {default}," + ",".join(values))
    return " ".join(out)


def measures(pieces: list) -> dict[str, np.ndarray]:
    """Every measure of every piece (NaN where undefined)."""
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for name, fn in WHOLE_PIECE_METRICS.items():
            out[name] = np.array([fn(p) for p in pieces], dtype=float)
        for name in MMT:
            out[name] = np.array([METRICS[name](p) for p in pieces], dtype=float)
    return out


def continuation_distance(args: argparse.Namespace, settings: SamplingSettings) -> dict:
    """Per continuation metric: mean |generated - true| over pieces and seeds, in SDs of true."""
    generated: dict[str, list[float]] = {}
    true: dict[str, list[float]] = {}
    for seed in (int(s) for s in args.continuations.split(",")):
        report = evaluate_continuations(args.model, args.data, args.split, seed=seed,
                                        settings=settings)  # fmt: skip
        for row in report.pieces:
            for k in report.metrics:
                generated.setdefault(k, []).append(row["generated"][k])
                true.setdefault(k, []).append(row["true"][k])
    out = {}
    for k in generated:
        g, t = np.array(generated[k], dtype=float), np.array(true[k], dtype=float)
        out[k] = float(np.nanmean(np.abs(g - t)) / np.nanstd(t))
    return out


def main() -> None:
    """Draw, measure and rank the candidates."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--model", default=None)
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--seeds", default="1,2")
    ap.add_argument("--split", default="valid")
    ap.add_argument("--only", default=None, help="candidates to run, by name, ';'-separated")
    ap.add_argument("--continuations", default=None, help="seeds of continuations, e.g. 0,100")
    args = ap.parse_args()
    lm = load_model(args.model)
    held = read_dataset_pieces(args.data, args.split)
    ref = measures(list(getattr(held, "pieces", held)))
    usable = {k: v for k, v in ref.items() if np.isfinite(v).sum() >= 5 and np.nanstd(v) > 0}
    print(f"model {lm.describe()['path']}; {args.split}: {len(held.pieces)} pieces; "
          f"{args.n} samples per seed, seeds {args.seeds}")  # fmt: skip
    rows = []
    chosen = CANDIDATES if args.only is None else {k: CANDIDATES[k] for k in args.only.split(";")}
    for name, settings in chosen.items():
        start = time.perf_counter()
        pieces = []
        for seed in (int(s) for s in args.seeds.split(",")):
            options = GenerationOptions(n=args.n, seed=seed, settings=SamplingSettings(**settings))
            pieces += [p.notes for p in unconditional(lm, options=options).pieces]
        mine = measures(pieces)
        dist = {}
        for k, v in usable.items():
            m = np.nanmean(mine[k]) if np.isfinite(mine[k]).any() else math.nan
            dist[k] = abs(m - np.nanmean(v)) / np.nanstd(v)
        score = whole = float(np.nanmean(list(dist.values())))
        extra = ""
        if args.continuations:
            cont = continuation_distance(args, SamplingSettings(**settings))
            dist.update({f"cont. {k}": v for k, v in cont.items()})
            continued = float(np.nanmean(list(cont.values())))
            score = (whole + continued) / 2
            extra = f" (whole pieces {whole:.3f}, continuations {continued:.3f})"
        rows.append((score, name, dist, time.perf_counter() - start))
        print(f"{name:20s} mean distance {score:.3f}{extra} ({time.perf_counter() - start:.0f} s)",
              flush=True)  # fmt: skip
    rows.sort(key=lambda r: r[0])
    columns = list(rows[0][2])
    print("\n| setting | mean distance (SD of " + args.split + ") | " +
          " | ".join(columns) + " |")  # fmt: skip
    print("|---|---:|" + "---:|" * len(columns))
    for score, name, dist, _ in rows:
        print(f"| {name} | {score:.3f} | " + " | ".join(f"{dist[k]:.2f}" for k in columns) + " |")
    best = rows[0][1]
    print(f"\nchosen: {best}")
    print("flags: " + flags(CANDIDATES[best]))
    print("json: " + json.dumps(CANDIDATES[best], sort_keys=True))


if __name__ == "__main__":
    main()
