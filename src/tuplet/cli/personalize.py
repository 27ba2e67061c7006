"""``tuplet personalize``: one command from a musician's own files to their own model."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from tuplet.errors import UsageError

RIGHTS = ("owned", "contract", "open_license", "public_domain")


def _ask_rights(args: argparse.Namespace) -> None:
    """Ask whose music this is when the command line does not say and a person is there."""
    if args.rights is not None or args.manifest is not None or not sys.stdin.isatty():
        return
    answer = input(f"Whose music is this? ({', '.join(RIGHTS)}): ").strip().lower()
    if answer not in RIGHTS:
        raise UsageError(f"{answer!r}: expected one of {', '.join(RIGHTS)}")
    args.rights = answer
    if args.holder is None:
        args.holder = input("Who holds the rights (your name, your band)? ").strip() or None


def cmd_personalize(args: argparse.Namespace) -> int:
    """Prepare the catalog, fine-tune, write the model; print what it learned and cost."""
    from tuplet.personalize import PersonalizeOptions, personalize

    _ask_rights(args)
    given = {
        k: getattr(args, k)
        for k in ("steps", "lr", "slice_rate", "loop_bars", "valid_share", "batch_size", "seed")
        if getattr(args, k) is not None
    }
    result = personalize(
        args.sources,
        args.out,
        rights=args.rights,
        holder=args.holder,
        manifest=args.manifest,
        base=args.base,
        options=PersonalizeOptions(**given),
        use=args.use,
        allow_unverified=args.allow_unverified,
        reason=args.reason,
        resume=args.resume,
        name=args.name,
        progress=not args.quiet,
    )
    print(
        f"{result.model_dir}: fine-tuned on {result.pieces['train']} pieces "
        f"({result.pieces['valid']} held out) in {result.minutes:.1f} min, {result.steps} steps "
        f"({result.stopped})"
    )
    if result.valid_nll is not None and result.base_valid_nll is not None:
        print(
            f"  held-out pieces: {result.base_valid_nll:.3f} nats per event with the base "
            f"model, {result.valid_nll:.3f} with yours"
        )
    for path in result.files:
        print(f"  wrote {path}")
    print(f"  try: tuplet generate --model {result.model_dir} --loop 4 --n 16 --keep 4 --wav")
    return 0


def register(sub: Any) -> None:
    """Add ``tuplet personalize`` to the ``tuplet`` parser."""
    p = sub.add_parser(
        "personalize",
        help="make a model your own: your files in, a fine-tuned model with its card out",
        description="tuplet personalize FOLDER --out MODEL --rights owned --holder NAME: reads "
        "your files (their rights declared), holds some out, fine-tunes the shipped model on "
        "the rest and on their loops and single parts, stops when the held-out pieces stop "
        "improving, and writes the model with its originality index, scope and card. "
        "See docs/personal.md.",
    )
    p.add_argument("sources", nargs="+", help="your folders or files (MIDI, MusicXML, kern, ABC)")
    p.add_argument("--out", required=True, help="the model folder to write")
    p.add_argument("--rights", choices=RIGHTS, default=None, help="whose music (asked if missing)")
    p.add_argument("--holder", default=None, help="who holds the rights (the card names them)")
    p.add_argument("--manifest", default=None, help="a rights manifest (see docs/data.md)")
    p.add_argument("--base", default=None, help="checkpoint to start from (default: shipped)")
    p.add_argument("--name", default=None, help="what the card calls the model")
    p.add_argument("--steps", type=int, default=None, help="most steps (default 600)")
    p.add_argument("--lr", type=float, default=None, help="peak learning rate (default 3e-4)")
    p.add_argument(
        "--slice-rate",
        dest="slice_rate",
        type=float,
        default=None,
        help="share of examples that are a loop or a single part (default 0.5)",
    )
    p.add_argument(
        "--loop-bars",
        dest="loop_bars",
        type=int,
        default=None,
        help="bars per loop example (default 4)",
    )
    p.add_argument(
        "--valid-share",
        dest="valid_share",
        type=float,
        default=None,
        help="share of pieces held out (default 0.15, at least one)",
    )
    p.add_argument("--batch-size", dest="batch_size", type=int, default=None)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument(
        "--use",
        choices=("personal", "research", "commercial"),
        default="personal",
        help="what the model is for: the rights gate checks the files for it",
    )
    p.add_argument(
        "--allow-unverified",
        action="store_true",
        help="go on although files fail the rights gate (recorded with --reason)",
    )
    p.add_argument("--reason", default=None, help="why (required with --allow-unverified)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted fine-tune")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(handler=cmd_personalize)
