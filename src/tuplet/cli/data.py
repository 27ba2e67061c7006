"""``tuplet data prepare`` and ``tuplet data inspect``."""

from __future__ import annotations

import argparse
from typing import Any


def cmd_data_prepare(args: argparse.Namespace) -> int:
    """Prepare a dataset from folders and bundled corpora."""
    from tuplet.corpus import prepare

    filters = (
        None
        if args.no_filter
        else {
            "min_beats": args.min_beats,
            "max_beats": args.max_beats,
            "min_notes": args.min_notes,
        }
    )
    report = prepare(
        args.sources,
        args.out,
        encoding=args.encoding,
        jobs=args.jobs,
        filters=filters,
        rights=args.rights,
        holder=args.holder,
        manifest=args.manifest,
        timeout_s=args.timeout,
        progress=not args.quiet,
        splits_from=args.splits_from,
    )
    print(report.summary() if hasattr(report, "summary") else report)
    return 0


def cmd_data_inspect(args: argparse.Namespace) -> int:
    """Summarise a prepared dataset."""
    from tuplet.corpus import format_inspect, inspect

    print(format_inspect(inspect(args.dir)))
    return 0


def register(sub: Any) -> None:
    """Add ``tuplet data ...`` to the ``tuplet`` parser."""
    data = sub.add_parser("data", help="prepare and inspect datasets")
    dsub = data.add_subparsers(dest="data_command", metavar="COMMAND")
    p = dsub.add_parser("prepare", help="encode folders and bundled corpora into a dataset")
    p.add_argument(
        "sources", nargs="+", help="folders (searched recursively) or music21:NAME corpora"
    )
    p.add_argument("--out", required=True, help="dataset folder (created, or resumed)")
    p.add_argument("--encoding", default="tuplet", choices=["mmt", "tuplet"])
    p.add_argument("--jobs", type=int, default=None, help="worker processes (default: cores)")
    p.add_argument("--min-beats", type=float, default=40.0)
    p.add_argument("--max-beats", type=float, default=8000.0)
    p.add_argument("--min-notes", type=int, default=50)
    p.add_argument("--no-filter", action="store_true", help="keep every readable file")
    p.add_argument(
        "--rights",
        default=None,
        choices=["owned", "contract", "open_license", "public_domain", "unknown"],
        help="rights basis of the folders given (default: unknown)",
    )
    p.add_argument("--holder", default=None, help="rights holder of the folders given")
    p.add_argument("--manifest", default=None, help="a rights manifest (see docs/data.md)")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds allowed per file")
    p.add_argument(
        "--splits-from",
        default=None,
        metavar="DATASET",
        help="items of this prepared dataset keep its train/valid/test split (so models "
        "trained on the two compare on pieces neither saw); the rest split by content hash",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=cmd_data_prepare)
    p = dsub.add_parser("inspect", help="counts by rights, style, instrument, length; skipped")
    p.add_argument("dir")
    p.set_defaults(handler=cmd_data_inspect)
    data.set_defaults(handler=lambda a: _help(data))


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2
