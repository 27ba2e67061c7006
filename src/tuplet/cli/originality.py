"""``tuplet originality``: how close pieces are to a corpus (a model's training data)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from tuplet.errors import BadFileError, TupletError, UsageError


def cmd_originality(args: argparse.Namespace) -> int:
    """Score each file against the corpus; one line each (and the windows with --windows)."""
    from tuplet.io import atomic_output, read_notes
    from tuplet.responsibility.originality import (
        OriginalityIndex,
        index_for_dataset,
        index_for_model,
    )

    if args.data is not None and args.model is not None:
        raise UsageError("give --data or --model, not both")
    files = [Path(f) for f in args.files]
    for f in files:
        if f.is_dir():
            raise UsageError(f"{f}: a folder; give the MIDI or score files in it")
    index: OriginalityIndex | None
    if args.data is not None:
        if not (Path(args.data) / "dataset.json").is_file():
            raise UsageError(f"{args.data}: not a prepared dataset (tuplet data prepare)")
        index = index_for_dataset(args.data, rebuild=args.rebuild, progress=True)
    else:
        index = index_for_model(args.model)
        if index is None:
            raise UsageError(
                f"no index of {args.model or 'the default model'}'s training data here: "
                "give its dataset with --data"
            )
    print(f"corpus: {len(index.names)} pieces; thresholds: {index.thresholds.calibrated_on}")
    results: dict[str, Any] = {}
    failed = 0
    for f in files:
        try:
            notes = read_notes(f)
        except (BadFileError, TupletError) as exc:
            print(f"{f}: skipped: {exc}")
            results[str(f)] = {"error": str(exc)}
            failed += 1
            continue
        report = index.score(notes)
        results[str(f)] = report.to_dict()
        print(f"{f}: {report.summary()}")
        if args.windows:
            for w in report.windows:
                where = f"{w.piece} at beat {w.at_beat:g}, {w.transpose:+d}" if w.piece else "-"
                print(f"  beats {w.start_beat:g}-{w.start_beat + 16:g}: CS {w.cs:.2f} ({where})")
    if args.json is not None:
        with atomic_output(Path(args.json)) as tmp:
            tmp.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 1 if failed == len(files) else 0


def register(sub: Any) -> None:
    """Add ``tuplet originality`` to the ``tuplet`` parser."""
    p = sub.add_parser(
        "originality",
        help="how close pieces are to a model's training data (or any prepared dataset)",
        description=(
            "Cuts each file into 16-beat windows (hop 8) and finds, for each, the closest "
            "passage of the corpus, moved in time and pitch (the cardinality score: the share "
            "of notes that match); also the longest run of notes whose intervals and rhythm "
            "equal a corpus melody's. Originality is 1 - the mean window score. Warn and block "
            "thresholds are calibrated on the corpus itself (its pieces against each other)."
        ),
    )
    p.add_argument("files", nargs="+", help="MIDI or score files")
    p.add_argument("--data", default=None, help="a prepared dataset (its train split)")
    p.add_argument(
        "--model", default=None, help="a model whose training data to use (default: shipped)"
    )
    p.add_argument("--windows", action="store_true", help="print every window's best match")
    p.add_argument("--json", default=None, help="also write the reports to this JSON file")
    p.add_argument("--rebuild", action="store_true", help="rebuild the dataset's index")
    p.set_defaults(handler=cmd_originality)
