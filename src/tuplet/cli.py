"""The ``tuplet`` command line.

Every command is a thin layer over the library: parse options, call one function, print a short
report. Errors meant for people (:class:`tuplet.errors.TupletError`) are printed as one line
without a traceback, and the exit status is non-zero.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from tuplet.errors import TupletError, UsageError

Handler = Callable[[argparse.Namespace], int]


# ------------------------------------------------------------------ files
def cmd_show(args: argparse.Namespace) -> int:
    """Print what a music file holds."""
    from tuplet.describe import describe_notes
    from tuplet.io import read_notes

    notes = read_notes(args.file)
    print(describe_notes(notes, name=str(args.file)))
    return 0


def _refuse_overwrite(path: Path, force: bool) -> None:
    if path.exists() and not force:
        raise UsageError(f"{path}: exists already (use --force to overwrite)")


def cmd_render(args: argparse.Namespace) -> int:
    """Render a music file to WAV audio or a piano-roll PNG."""
    from tuplet.io import read_notes

    out = Path(args.out)
    suffix = out.suffix.lower()
    if suffix not in (".wav", ".png"):
        raise UsageError(f"{out}: --out must end in .wav or .png")
    _refuse_overwrite(out, args.force)
    notes = read_notes(args.file)
    if suffix == ".wav":
        from tuplet.io.audio import render_wav

        render_wav(notes, out, soundfont=args.soundfont)
    else:
        from tuplet.io.pianoroll import draw_pianoroll

        draw_pianoroll(notes, out, title=Path(args.file).name)
    print(f"wrote {out}")
    return 0


def cmd_encode(args: argparse.Namespace) -> int:
    """Encode a music file as note-tuple codes (CSV or .npy)."""
    import numpy as np

    from tuplet.encoding import codes_to_csv, encode, get_encoding
    from tuplet.io import read_notes

    out = Path(args.out)
    _refuse_overwrite(out, args.force)
    config = get_encoding(args.encoding)
    codes = encode(read_notes(args.file), config)
    if out.suffix.lower() == ".csv":
        codes_to_csv(codes, config, out)
    elif out.suffix.lower() == ".npy":
        tmp = out.with_name(out.name + ".tmp.npy")
        np.save(tmp, codes)
        os.replace(tmp, out)
    else:
        raise UsageError(f"{out}: --out must end in .csv or .npy")
    print(f"wrote {out}: {len(codes)} events x {codes.shape[1]} fields ({config.name} encoding)")
    return 0


def cmd_decode(args: argparse.Namespace) -> int:
    """Decode note-tuple codes (CSV or .npy) back to a MIDI file."""
    import numpy as np

    from tuplet.encoding import codes_from_csv, decode, get_encoding
    from tuplet.io.midi import write_midi

    out = Path(args.out)
    _refuse_overwrite(out, args.force)
    config = get_encoding(args.encoding)
    src = Path(args.codes)
    if not src.is_file():
        raise UsageError(f"{src}: no such file")
    if src.suffix.lower() == ".csv":
        codes = codes_from_csv(src, config)
    elif src.suffix.lower() == ".npy":
        try:
            codes = np.load(src, allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise UsageError(f"{src}: not a readable .npy array ({exc})") from None
    else:
        raise UsageError(f"{src}: codes must be a .csv or .npy file")
    notes = decode(codes, config)
    write_midi(notes, out)
    print(f"wrote {out}: {len(notes)} notes")
    return 0


# ------------------------------------------------------------------- data
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
    )
    print(report.summary() if hasattr(report, "summary") else report)
    return 0


def cmd_data_inspect(args: argparse.Namespace) -> int:
    """Summarise a prepared dataset."""
    from tuplet.corpus import format_inspect, inspect

    print(format_inspect(inspect(args.dir)))
    return 0


# ------------------------------------------------------------------ parser
def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``tuplet`` command."""
    parser = argparse.ArgumentParser(
        prog="tuplet",
        description="Personal, responsible multitrack music generation.",
    )
    from tuplet import __version__

    parser.add_argument("--version", action="version", version=f"tuplet {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("show", help="tracks, instruments, notes, length, tempo and meter of a file")
    p.add_argument("file")
    p.set_defaults(handler=cmd_show)

    p = sub.add_parser("render", help="render a file to audio (.wav) or a piano roll (.png)")
    p.add_argument("file")
    p.add_argument("--out", required=True, help="X.wav or X.png")
    p.add_argument("--soundfont", default=None, help="a .sf2 file (default: General MIDI)")
    p.add_argument("--force", action="store_true", help="overwrite an existing output")
    p.set_defaults(handler=cmd_render)

    p = sub.add_parser("encode", help="encode a file as note-tuple codes")
    p.add_argument("file")
    p.add_argument("--encoding", default="tuplet", choices=["mmt", "tuplet"])
    p.add_argument("--out", required=True, help="X.csv or X.npy")
    p.add_argument("--force", action="store_true")
    p.set_defaults(handler=cmd_encode)

    p = sub.add_parser("decode", help="decode note-tuple codes back to MIDI")
    p.add_argument("codes", help="a .csv or .npy file of codes")
    p.add_argument("--encoding", default="tuplet", choices=["mmt", "tuplet"])
    p.add_argument("--out", required=True, help="X.mid")
    p.add_argument("--force", action="store_true")
    p.set_defaults(handler=cmd_decode)

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
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=cmd_data_prepare)
    p = dsub.add_parser("inspect", help="counts by rights, style, instrument, length; skipped")
    p.add_argument("dir")
    p.set_defaults(handler=cmd_data_inspect)
    data.set_defaults(handler=lambda a: _help(data))

    return parser


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        return _help(parser)
    try:
        return handler(args)
    except TupletError as exc:
        print(f"tuplet: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("tuplet: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
