"""The continuation mode's own sampling knobs, chosen on continuations of the validation split.

    python scripts/continuation_settings.py --data data-out/broad [--model M] [--rounds 10]
        [--split valid] [--out runs/continuation-settings] [--only 'pitch T 0.9;min-p 0.05']
        [--base '{"top_k_frac": 0.2}']

The model's recommended settings (``tuplet generate``'s, chosen on whole pieces; ``--base``
gives them for a checkpoint that has none yet) are the base;
each candidate lays a few knobs over them, as a checkpoint's ``sampling.modes.continuation``
does. Every candidate continues every long-enough ``--split`` piece ``--rounds`` times
(``tuplet evaluate --continuations --rounds``: 16 beats given, 32 measured) and is scored on the
two figures of how a continuation carries its prompt's pitch content on: the mean absolute
difference from the true continuation in pitch-class entropy and in scale consistency, each
divided by another piece's (every other piece of the split), averaged. The smallest score wins;
"the model's own" (no knob laid over) is a candidate, so the base stays unless a candidate
beats it. Each candidate's report is kept in ``--out`` (a rerun reuses it); the table and the
winner's knobs (``choice.json``, the form ``sampling.modes.continuation`` takes) go there too.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from tuplet.analysis.continuations import ContinuationReport, evaluate_continuations
from tuplet.analysis.evaluate import save_json
from tuplet.generation.generate import load_model
from tuplet.generation.settings import SamplingSettings

CANDIDATES: dict[str, dict[str, Any]] = {  # name: knobs laid over the base
    "the model's own": {},
    "pitch T 0.9": {"per_field": {"pitch": {"temperature": 0.9}}},
    "pitch T 0.8": {"per_field": {"pitch": {"temperature": 0.8}}},
    "pitch top-k 10%": {"per_field": {"pitch": {"top_k_frac": 0.1}}},
    "min-p 0.05": {"min_p": 0.05},
}
FIGURES = ("pitch_class_entropy", "scale_consistency")


def score(report: dict[str, Any]) -> float:
    """The mean over :data:`FIGURES` of the model's difference over another piece's."""
    diff = report["mean_abs_diff"]
    return sum(diff["model"][m] / diff["another piece"][m] for m in FIGURES) / len(FIGURES)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Every candidate's report (run or reused), the table, the winner."""
    lm = load_model(args.model)
    # the whole-piece settings, without any mode's own knobs
    base = SamplingSettings.from_dict(json.loads(args.base)) if args.base else lm.settings
    names = [n.strip() for n in args.only.split(";")] if args.only else list(CANDIDATES)
    unknown = [n for n in names if n not in CANDIDATES]
    if unknown:
        raise SystemExit(f"unknown candidate(s) {unknown} (known: {list(CANDIDATES)})")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    reports = {}
    for name in names:
        path = out / (name.replace(" ", "-").replace("'", "").replace("%", "pc") + ".json")
        if path.exists():
            reports[name] = json.loads(path.read_text())
            continue
        own = CANDIDATES[name]
        knobs = {k: v for k, v in own.items() if k != "per_field"}
        settings = base.updated(knobs, own.get("per_field", {}))
        report: ContinuationReport = evaluate_continuations(
            args.model, args.data, args.split, rounds=args.rounds, settings=settings,
            progress=True,
        )  # fmt: skip
        save_json(report.to_dict(), path)
        reports[name] = report.to_dict()
    scores = {name: score(r) for name, r in reports.items()}
    best = min(scores, key=lambda n: scores[n])
    return {"reports": reports, "scores": scores, "best": best}


def table(result: dict[str, Any], rounds: int, split: str) -> str:
    """The candidates in score order, as a Markdown table."""
    some = next(iter(result["reports"].values()))["mean_abs_diff"]
    other = " / ".join(f"{some['another piece'][m]:.3f}" for m in FIGURES)
    lines = [
        f"continuations of the {split} split, {rounds} rounds; pitch-class entropy / scale "
        f"consistency, mean |difference| from the truth (another piece: {other})",
        "",
        "| candidate | entropy | scale consistency | score |",
        "|---|---:|---:|---:|",
    ]
    for name in sorted(result["scores"], key=lambda n: result["scores"][n]):
        d = result["reports"][name]["mean_abs_diff"]["model"]
        lines.append(
            f"| {name} | {d[FIGURES[0]]:.3f} | {d[FIGURES[1]]:.4f} | {result['scores'][name]:.3f} |"
        )
    return "\n".join(lines)


def main() -> None:
    """Run or reuse every candidate, print the table, write the winner's knobs."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True)
    p.add_argument("--model", default=None, help="checkpoint folder (default: the shipped one)")
    p.add_argument("--split", default="valid")
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--only", default=None, help="candidates, ';'-separated")
    p.add_argument("--out", default="runs/continuation-settings")
    p.add_argument("--base", default=None, help="the whole-piece settings as JSON (default: "
                   "the model's recommended ones)")  # fmt: skip
    args = p.parse_args()
    result = run(args)
    text = table(result, args.rounds, args.split)
    print(text)
    out = Path(args.out)
    (out / "table.md").write_text(text + "\n")
    best = result["best"]
    choice = {
        **CANDIDATES[best],
        "chosen_on": f"continuations of the {args.split} split ({args.rounds} rounds: "
        "scripts/continuation_settings.py; mean of pitch-class entropy's and scale "
        "consistency's difference from the true continuation over another piece's: "
        + "; ".join(f"{n} {s:.3f}" for n, s in sorted(result["scores"].items(),
                                                      key=lambda x: x[1])) + ")",
    }  # fmt: skip
    save_json(choice, out / "choice.json")
    print(f"chosen: {best}; wrote {out / 'choice.json'}")


if __name__ == "__main__":
    main()
