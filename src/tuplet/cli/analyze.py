"""``tuplet analyze attention`` and ``tuplet analyze embeddings``: look inside a trained model."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from tuplet.errors import UsageError


def _fields(text: str | None) -> list[str] | None:
    if text is None:
        return None
    return [f.strip() for f in text.split(",") if f.strip()]


def _windows(items: list[str] | None) -> dict[str, tuple[int, int]]:
    """``FIELD=LO:HI`` options -> {field: (lo, hi)}."""
    windows = {}
    for item in items or []:
        name, _, span = item.partition("=")
        lo, _, hi = span.partition(":")
        try:
            windows[name.strip()] = (int(lo), int(hi))
        except ValueError:
            raise UsageError(f"--window {item!r}: expected FIELD=LO:HI, e.g. beat=-64:0") from None
        if windows[name.strip()][0] > windows[name.strip()][1]:
            raise UsageError(f"--window {item!r}: LO must not exceed HI")
    return windows


def _load(model_dir: str, device: str) -> tuple[Any, Any]:
    from tuplet.encoding import EncodingConfig
    from tuplet.model.checkpoint import load_checkpoint

    model, info = load_checkpoint(model_dir, device=device)
    return model, EncodingConfig.from_dict(info["encoding"])


def cmd_attention(args: argparse.Namespace) -> int:
    """Measure a model's musical self-attention on a dataset split; write tables and plots."""
    from tuplet.analysis.attention import analyze_attention, default_window
    from tuplet.analysis.attention_plots import draw_all, save_attention, summary_lines
    from tuplet.training.dataset import SequenceDataset

    if args.n < 1:
        raise UsageError(f"--n must be at least 1, got {args.n}")
    asked_windows = _windows(args.window)
    model, encoding = _load(args.model, args.device)
    data = SequenceDataset(
        args.data,
        args.split,
        max_seq_len=model.config.max_seq_len,
        max_beat=encoding.max_beat,
        augment=False,
        onset_order=model.config.onset_order,
    )
    if data.config.name != encoding.name:
        raise UsageError(
            f"{args.data}: the data is in the {data.config.name} encoding, "
            f"the model reads {encoding.name}"
        )
    n = min(args.n, len(data))
    if n == 0:
        raise UsageError(f"{args.data}: the {args.split} split holds no sequences")
    stats = analyze_attention(
        model,
        (data[i] for i in range(n)),
        encoding,
        fields=_fields(args.fields),
        baseline=args.baseline,
        notes_only=args.notes_only,
        batch_size=args.batch_size,
        progress=not args.quiet,
        total=n,
    )
    windows = {name: default_window(name, encoding) for name in stats}
    for name, window in asked_windows.items():
        if name not in stats.fields:
            raise UsageError(f"--window {name}: not an analysed field ({', '.join(stats)})")
        windows[name] = window
    stats.meta.update(model=str(args.model), data=str(args.data), split=args.split)
    out = Path(args.out) if args.out else Path(args.model) / "attention"
    written = save_attention(stats, out, windows=windows, top=args.top)
    written += draw_all(stats, out, windows)
    print("\n".join(summary_lines(stats, windows, args.top)))
    print(f"wrote {len(written)} files to {out}")
    return 0


def cmd_embeddings(args: argparse.Namespace) -> int:
    """Draw the cosine similarity of the learned embeddings of pitch, beat, position..."""
    from tuplet.analysis.embeddings import save_embedding_views

    model, encoding = _load(args.model, "cpu")
    out = Path(args.out) if args.out else Path(args.model) / "embeddings"
    written = save_embedding_views(model, encoding, out, _fields(args.fields))
    print(f"wrote {len(written)} files to {out}")
    return 0


def register(sub: Any) -> None:
    """Add ``tuplet analyze`` and its commands to the ``tuplet`` parser."""
    group = sub.add_parser("analyze", help="look inside a model: attention, embeddings")
    commands = group.add_subparsers(dest="analysis", metavar="ANALYSIS", required=True)

    p = commands.add_parser(
        "attention",
        help="musical self-attention (MMT paper): attention gain by beat, position, pitch...",
        description=(
            "For each field, layer and head: the share of attention given to earlier notes "
            "whose code differs from the query's by k (gamma), minus the share of such pairs "
            "(the gain). Writes attention.csv, attention.json, attention.npz, summary.txt and "
            "one heatmap per field. See docs/attention.md."
        ),
    )
    p.add_argument("--model", required=True, help="a checkpoint folder")
    p.add_argument("--data", required=True, help="a folder made by `tuplet data prepare`")
    p.add_argument("--split", default="test", choices=["train", "valid", "test"])
    p.add_argument("--n", type=int, default=100, help="sequences to analyse (default 100)")
    p.add_argument("--out", default=None, help="output folder (default MODEL/attention)")
    p.add_argument(
        "--fields",
        default=None,
        help="comma-separated fields (default: beat,position,pitch,duration,instrument, "
        "and velocity in the tuplet encoding)",
    )
    p.add_argument(
        "--baseline",
        default="causal",
        choices=["causal", "all-pairs", "uniform"],
        help="pairs t < s as in the formula (default), every pair as the official code, or "
        "the attention of a head that looks equally at every earlier event",
    )
    p.add_argument("--notes-only", action="store_true", help="count only note-to-note pairs")
    p.add_argument(
        "--window",
        action="append",
        metavar="FIELD=LO:HI",
        help="offsets to tabulate and draw, e.g. beat=-64:0 (repeatable; all are computed)",
    )
    p.add_argument("--top", type=int, default=5, help="strongest gains listed per field")
    p.add_argument(
        "--batch-size", type=int, default=1,
        help="sequences per forward pass (1 is fastest on a CPU; more on a GPU)",
    )  # fmt: skip
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1...")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=cmd_attention)

    p = commands.add_parser(
        "embeddings",
        help="cosine similarity of the learned pitch, beat, position... embeddings",
    )
    p.add_argument("--model", required=True, help="a checkpoint folder")
    p.add_argument("--out", default=None, help="output folder (default MODEL/embeddings)")
    p.add_argument(
        "--fields", default=None, help="comma-separated (default pitch,beat,position,...)"
    )
    p.set_defaults(handler=cmd_embeddings)
