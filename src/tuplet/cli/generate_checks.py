"""What ``tuplet generate`` checks around sampling, and what it does about it.

Before: the prompt against the model's scope (:func:`judge_prompt`: OK, WARN, or ABSTAIN
unless ``--force-prompt``). After: each sample's originality against the model's training
corpus, a copy drawn again then withheld (:func:`check_originality`, :func:`withhold`, the
thresholds the command line may set: :func:`blocking`); the ``--keep`` best of the candidates
(:func:`check_keep`, :func:`keep_best`); and the bars where the model was unsure
(:func:`unsure_bars`).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tuplet.errors import UsageError

if TYPE_CHECKING:
    from tuplet.generation.generate import Generation, LoadedModel
    from tuplet.notes import Notes

def judge_prompt(
    args: argparse.Namespace, lm: LoadedModel, info: dict[str, Any], prompt: Notes
) -> Any:
    """Judge the prompt against the model's scope: say a WARN; refuse an ABSTAIN unless forced."""
    from tuplet.responsibility.scope import Scope, abstain_message, judge

    j = judge(lm, Scope.from_dict(info["scope"]), prompt, args.prompt_beats)
    if j.level == "abstain" and not args.force_prompt:
        raise UsageError(abstain_message(j))
    if j.level != "ok":
        head = "going on although " if j.level == "abstain" else ""
        print(f"warning: {head}the prompt is outside what the model knows: " + "; ".join(j.reasons))
    return j


def check_originality(
    args: argparse.Namespace,
    prompt: Notes | None,
    generation: Generation,
    index: Any,
    draw: Callable[[argparse.Namespace], Generation],
) -> tuple[Generation, list[tuple[Any, int]]]:
    """Score each piece's new notes against the model's corpus; redraw copying pieces.

    A piece that copies is drawn again (``draw`` with the options changed), up to
    ``--redraws`` times. Returns the pieces and, per piece, (report, redraws).
    """
    from dataclasses import replace

    from tuplet.responsibility.originality import new_notes

    pieces = list(generation.pieces)
    reports = [index.score(new_notes(p.notes, prompt)) for p in pieces]
    redraws = [0] * len(pieces)
    for attempt in range(1, args.redraws + 1):
        blocked = [i for i, r in enumerate(reports) if r.verdict == "block"]
        if not blocked:
            break
        print(f"  {len(blocked)} sample(s) copy the training data: drawing again ({attempt})")
        again_args = argparse.Namespace(
            **{**vars(args), "n": len(blocked), "seed": generation.seed + 7919 * attempt}
        )
        again = draw(again_args)
        for i, piece in zip(blocked, again.pieces, strict=True):
            pieces[i], redraws[i] = piece, attempt
            reports[i] = index.score(new_notes(piece.notes, prompt))
    return replace(generation, pieces=pieces), list(zip(reports, redraws, strict=True))


def withhold(
    generation: Generation,
    i: int,
    lm: LoadedModel,
    args: argparse.Namespace,
    files: dict[str, Path],
    check: tuple[Any, int],
) -> None:
    """A piece that still copies after its redraws: no music is written, only why."""
    import json

    from tuplet.generation.generate import report
    from tuplet.io import atomic_output

    for path in files.values():
        if path != files["report"] and args.force:
            path.unlink(missing_ok=True)
    data = report(generation, i, lm)
    data["withheld"] = check[0].reason
    data["originality"] = {**check[0].to_dict(), "redraws": check[1]}
    with atomic_output(files["report"]) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    print(
        f"withheld {files['midi'].name}: {check[0].reason}, after {check[1]} redraw(s) "
        f"(report: {files['report']}; --originality off writes it anyway)"
    )


def unsure_bars(lm: LoadedModel, piece: Any) -> dict[str, Any]:
    """The bars (from 1) of a piece where the model's doubts passed its scope's threshold."""
    from tuplet.responsibility.scope import bar_entropy

    warn = float(lm.info["scope"]["entropy_warn"])
    doubts = bar_entropy(lm, piece.notes)
    bars = sorted(b + 1 for b, v in doubts.items() if v > warn)
    return {"bars": bars, "threshold": round(warn, 4),
            "entropy": {str(b + 1): round(v, 4) for b, v in sorted(doubts.items())}}  # fmt: skip


def blocking(args: argparse.Namespace, t: Any) -> Any:
    """The index's thresholds with the blocking the command line set (warnings no higher)."""
    from dataclasses import replace

    cs = t.block_cs if args.block_cs is None else args.block_cs
    run = t.block_verbatim if args.block_verbatim is None else args.block_verbatim
    return replace(
        t,
        block_cs=cs,
        warn_cs=min(t.warn_cs, cs),
        block_verbatim=run,
        warn_verbatim=min(t.warn_verbatim, run),
        calibrated_on=t.calibrated_on + "; blocking set on the command line",
    )


def check_keep(args: argparse.Namespace, info: dict[str, Any]) -> None:
    """--keep needs fewer than --n, and a model whose scope holds its style's band."""
    if not 0.0 <= args.adventurous <= 1.0:
        raise UsageError(f"--adventurous must be in 0..1, got {args.adventurous}")
    if args.keep is None:
        if args.adventurous:
            raise UsageError("--adventurous weighs the candidates --keep picks: give --keep")
        return
    if not 1 <= args.keep <= args.n:
        raise UsageError(f"--keep must be 1..--n ({args.n}), got {args.keep}")
    if not (info.get("scope") or {}).get("band"):
        raise UsageError(
            "--keep scores candidates against the model's style, which it has not measured: "
            "tuplet audit scope --model MODEL --data ITS_DATASET --write"
        )
    if args.adventurous and args.temperature is None:
        args.temperature = f"{1.0 + 0.25 * args.adventurous:g}"  # bolder draws, too


def keep_best(
    args: argparse.Namespace,
    lm: LoadedModel,
    info: dict[str, Any],
    prompt: Notes | None,
    generation: Generation,
    checks: list[tuple[Any, int]] | None,
    index: Any,
) -> tuple[Generation, list[tuple[Any, int]] | None, list[tuple[int, Any]]]:
    """Score every candidate (novelty, surprise, value) and keep the ``--keep`` best."""
    from dataclasses import replace

    from tuplet.generation.pick import ranked, score_candidates
    from tuplet.responsibility.originality import new_notes
    from tuplet.responsibility.scope import Scope

    blocked = {i for i, c in enumerate(checks or []) if c[0].verdict == "block"}
    scores = score_candidates(
        lm,
        [new_notes(p.notes, prompt) for p in generation.pieces],
        Scope.from_dict(info["scope"]),
        index=index,
        adventurous=args.adventurous,
    )
    for i in blocked:  # a withheld copy is never among the kept
        scores[i] = replace(scores[i], total=-1.0)
    order = ranked(scores, args.keep)
    kept = replace(generation, pieces=[generation.pieces[i] for i in order])
    return (
        kept,
        None if checks is None else [checks[i] for i in order],
        [(i, scores[i]) for i in order],
    )



__all__ = [
    "blocking",
    "check_keep",
    "check_originality",
    "judge_prompt",
    "keep_best",
    "unsure_bars",
    "withhold",
]
