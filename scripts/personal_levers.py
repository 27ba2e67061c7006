"""How fast does `tuplet personalize` learn a catalog the shipped model never saw?

The catalog: reels of Ryan's Mammoth Collection (1883; music21's ``ryansMammoth``), which the
shipped model was not trained on. 60 reels are the musician's folder, 20 others are held out
(never seen by the fine-tune). Each variant runs ``personalize`` on the folder and is scored by
per-event and per-note NLL on the held-out reels and per-note NLL on their 4-bar loops (cut
from their bar lines), with the CPU minutes it took and its validation curve.

Usage: python scripts/personal_levers.py [--out runs/personal] [--steps 300]
           [--variants default,no-slices,lr1e-4]
Results: OUT/levers.json and a Markdown table on stdout (docs/personal.md holds the figures).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
import shutil
import time
from pathlib import Path

import numpy as np

VARIANTS = {
    "default": {},
    "no-slices": {"slice_rate": 0.0},
    "lr1e-4": {"lr": 1e-4},
    "lr1e-3": {"lr": 1e-3},
    "loops-8": {"loop_bars": 8},
}
HOLDER = "traditional (Ryan's Mammoth Collection, 1883)"


def catalog(out: Path) -> tuple[Path, Path]:
    """The folder (60 reels) and the held-out dataset (20 other reels)."""
    import music21

    from tuplet.corpus import prepare
    from tuplet.personalize import CATALOG_FILTERS

    root = Path(music21.__file__).parent / "corpus" / "ryansMammoth"
    reels = sorted(f for f in root.glob("*.abc") if "Reel" in f.name)
    random.Random(0).shuffle(reels)
    folder, heldout = out / "reels-folder", out / "reels-heldout"
    for d, files in ((folder, reels[:60]), (heldout, reels[60:80])):
        if not d.exists():
            d.mkdir(parents=True)
            for f in files:
                shutil.copyfile(f, d / f.name)
    data = out / "heldout-data"
    if not (data / "dataset.json").exists():
        prepare([heldout], data, split=(0, 0, 1), rights="public_domain", holder=HOLDER,
                filters=CATALOG_FILTERS, progress=False)  # fmt: skip
    return folder, data


def valid_curve(run: Path) -> list[tuple[int, float, float]]:
    """(step, minutes of training, validation NLL) of a run."""
    with open(run / "losses.csv", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["split"] == "valid"]
    return [(int(r["step"]), float(r["elapsed_s"]) / 60, float(r["nll_per_note"])) for r in rows]


def loops_nll(model: Path | None, heldout: Path, bars: int = 4) -> float:
    """Mean per-note NLL of the held-out reels' 4-bar loops (full texture, from bar lines)."""
    from tuplet.analysis.evaluate import read_dataset_pieces
    from tuplet.generation.generate import load_model
    from tuplet.responsibility.scope import prompt_nll
    from tuplet.training.slices import cut, slice_specs

    lm = load_model(model)
    values = []
    for piece in read_dataset_pieces(heldout, "test").pieces:
        for spec in slice_specs(piece, bars):
            if spec.kind == "loop" and spec.track is None:
                nll, _ = prompt_nll(lm, cut(piece, spec))
                values.append(nll)
    return float(np.nanmean(values))


def main() -> None:
    """Run the variants and print the table."""
    from tuplet.analysis.evaluate import evaluate_nll
    from tuplet.generation.sample import default_model_path
    from tuplet.personalize import PersonalizeOptions, personalize

    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="runs/personal")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--variants", default="default,no-slices,lr1e-4")
    args = ap.parse_args()
    out = Path(args.out)
    folder, heldout = catalog(out)
    results_path = out / "levers.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    if "shipped" not in results:
        r = evaluate_nll(default_model_path(), heldout, split="test")
        results["shipped"] = {"event": r.nll_per_event, "note": r.nll_per_note_event}
    if "loops_note" not in results["shipped"]:
        results["shipped"]["loops_note"] = loops_nll(None, heldout)
    for name in args.variants.split(","):
        if name in results:
            if "loops_note" not in results[name]:
                results[name]["loops_note"] = loops_nll(out / name, heldout)
            continue
        model = out / name
        shutil.rmtree(model, ignore_errors=True)
        options = PersonalizeOptions(steps=args.steps, **VARIANTS[name])
        t0, c0 = time.perf_counter(), time.process_time()
        res = personalize([folder], model, rights="public_domain", holder=HOLDER,
                          options=options, progress=False)  # fmt: skip
        wall, cpu = (time.perf_counter() - t0) / 60, (time.process_time() - c0) / 60
        r = evaluate_nll(model, heldout, split="test")
        curve = valid_curve(model / "run")
        results[name] = {
            "loops_note": loops_nll(model, heldout),
            "options": options.__dict__,
            "event": r.nll_per_event,
            "note": r.nll_per_note_event,
            "steps": res.steps,
            "stopped": res.stopped,
            "valid_base": res.base_valid_nll,
            "valid_tuned": res.valid_nll,
            "wall_min": wall,
            "cpu_min": cpu,
            "train_min": curve[-1][1] if curve else None,
            "valid_curve": curve,
        }
        tmp = results_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(results, indent=2))
        os.replace(tmp, results_path)
        print(name, json.dumps(results[name]), flush=True)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    print("| model | held-out reels: NLL/event | NLL/note | their 4-bar loops: NLL/note | "
          "steps | CPU min | wall min |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|")
    s = results["shipped"]
    print(f"| shipped model | {s['event']:.3f} | {s['note']:.3f} | {s['loops_note']:.3f} | | | |")
    for name, v in results.items():
        if name != "shipped":
            print(f"| {name} | {v['event']:.3f} | {v['note']:.3f} | {v['loops_note']:.3f} | "
                  f"{v['steps']} | {v['cpu_min']:.1f} | {v['wall_min']:.1f} |")  # fmt: skip


if __name__ == "__main__":
    main()
