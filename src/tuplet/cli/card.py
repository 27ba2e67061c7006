"""``tuplet card``: a model's card and data statement, from its checkpoint and dataset."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from tuplet.errors import UsageError


def cmd_card(args: argparse.Namespace) -> int:
    """Write MODEL_CARD.md and DATA_STATEMENT.md into the checkpoint folder."""
    from tuplet.responsibility.card import write_data_statement, write_model_card

    if not (Path(args.data) / "dataset.json").is_file():
        raise UsageError(f"{args.data}: not a prepared dataset (tuplet data prepare)")
    extraction = None
    if args.extraction is not None:
        try:
            extraction = json.loads(Path(args.extraction).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UsageError(f"{args.extraction}: not an audit report ({exc})") from None
    card = write_model_card(args.model, args.data, name=args.name)
    statement = write_data_statement(args.model, args.data, extraction=extraction)
    print(f"wrote {card}\nwrote {statement}")
    return 0


def register(sub: Any) -> None:
    """Add ``tuplet card`` to the ``tuplet`` parser."""
    p = sub.add_parser(
        "card",
        help="write a model's MODEL_CARD.md and DATA_STATEMENT.md (data, rights, limits, "
        "energy, responsibility figures)",
    )
    p.add_argument("model", help="checkpoint folder")
    p.add_argument("--data", required=True, help="the dataset it was trained on")
    p.add_argument("--extraction", default=None, help="a tuplet audit extraction --out report")
    p.add_argument("--name", default=None, help="what the card calls the model")
    p.set_defaults(handler=cmd_card)
