"""``tuplet audit extraction``: can a model reproduce the pieces it was trained on?"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from tuplet.errors import UsageError


def _bars(text: str) -> tuple[int, ...]:
    try:
        bars = tuple(int(b) for b in text.split(",") if b.strip())
    except ValueError:
        raise UsageError(f"--prefix-bars {text!r}: expected numbers, e.g. 1,2,4") from None
    if not bars or min(bars) < 1:
        raise UsageError(f"--prefix-bars {text!r}: each at least 1")
    return bars


def cmd_audit_extraction(args: argparse.Namespace) -> int:
    """Prompt with prefixes of training and held-out pieces; print and save the rates."""
    from tuplet.io import atomic_output
    from tuplet.responsibility.audit import audit_extraction

    bars = _bars(args.prefix_bars)
    if not (Path(args.data) / "dataset.json").is_file():
        raise UsageError(f"{args.data}: not a prepared dataset (tuplet data prepare)")
    from tuplet.generation.generate import load_model

    lm = load_model(args.model)
    result = audit_extraction(
        lm,
        args.data,
        prefix_bars=bars,
        continuation_bars=args.bars,
        n_pieces=args.pieces,
        heldout_split=args.heldout,
        seed=args.seed,
        progress=not args.quiet,
    )
    print(result.table())
    print(f"({len(result.pieces)} continuations in {result.seconds:.0f} s)")
    if args.out is not None:
        with atomic_output(Path(args.out)) as tmp:
            tmp.write_text(json.dumps(result.to_dict(), indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.out}")
    return 0


def cmd_audit_scope(args: argparse.Namespace) -> int:
    """Measure what a model knows on its dataset; judge held-out prompts; keep it with --write."""
    from tuplet.analysis.evaluate import read_dataset_pieces
    from tuplet.generation.generate import load_model
    from tuplet.io import read_notes
    from tuplet.responsibility.scope import judge, measure_scope, write_scope

    if not (Path(args.data) / "dataset.json").is_file():
        raise UsageError(f"{args.data}: not a prepared dataset (tuplet data prepare)")
    lm = load_model(args.model)
    scope = measure_scope(lm, args.data, progress=not args.quiet)
    print(f"scope: {scope.calibrated_on}")
    print(f"  instruments seen: {', '.join(scope.instruments)}")
    print(f"  meters: {', '.join(scope.meters)}; tempo {scope.tempo_qpm} qpm")
    held = read_dataset_pieces(args.data, args.heldout)
    levels = [judge(lm, scope, p, scope.prompt_beats).level for p in held.pieces]
    result: dict[str, Any] = {"scope": scope.to_dict(), args.heldout: {}}
    for level in ("ok", "warn", "abstain"):
        share = levels.count(level) / len(levels)
        result[args.heldout][level] = share
        print(f"  {args.heldout} prompts ({len(levels)}): {level} {100 * share:.1f}%")
    for f in args.foreign or []:
        j = judge(lm, scope, read_notes(f), scope.prompt_beats)
        result.setdefault("foreign", {})[f] = j.to_dict()
        print(f"  {f}: {j.level.upper()} ({j.nll_per_note} nats/note): {'; '.join(j.reasons)}")
    if args.write:
        write_scope(args.model, scope)
        print(f"wrote the scope into {args.model}/config.json")
    if args.out is not None:
        from tuplet.io import atomic_output

        with atomic_output(Path(args.out)) as tmp:
            tmp.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


def register(sub: Any) -> None:
    """Add ``tuplet audit ...`` to the ``tuplet`` parser."""
    audit = sub.add_parser(
        "audit", help="audits of a trained model: extraction (does it copy?), scope"
    )
    asub = audit.add_subparsers(dest="audit_command", metavar="COMMAND")
    p = asub.add_parser(
        "extraction",
        help="can the model reproduce its training pieces? (prefix prompts, train vs held-out)",
        description=(
            "Prompts the model with the first bars of training pieces and of held-out pieces, "
            "lets it continue, and counts the continuations that reproduce the piece's true "
            "continuation (cardinality score >= 0.9). A model that memorised its training data "
            "reproduces training pieces far more often than held-out ones."
        ),
    )
    p.add_argument("--model", default=None, help="checkpoint folder (default: the shipped model)")
    p.add_argument("--data", required=True, help="the dataset it was trained on")
    p.add_argument("--pieces", type=int, default=20, help="pieces of each group (default 20)")
    p.add_argument("--prefix-bars", dest="prefix_bars", default="1,2,4")
    p.add_argument("--bars", type=int, default=8, help="bars continued (default 8)")
    p.add_argument("--heldout", default="test", choices=["valid", "test"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="write the full report (JSON) here")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=cmd_audit_extraction)
    p = asub.add_parser(
        "scope",
        help="what a model knows (instruments, meters, tempi, ranges, how surprising its own "
        "style is) and how its prompts are judged: OK, WARN, ABSTAIN",
    )
    p.add_argument("--model", required=True, help="checkpoint folder")
    p.add_argument("--data", required=True, help="the dataset it was trained on")
    p.add_argument("--heldout", default="test", choices=["valid", "test"])
    p.add_argument("--foreign", nargs="*", default=None, help="files to judge as prompts too")
    p.add_argument("--write", action="store_true", help="keep the scope in the model's config")
    p.add_argument("--out", default=None, help="write the figures (JSON) here")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=cmd_audit_scope)
    audit.set_defaults(handler=lambda a: (audit.print_help(), 2)[1])
