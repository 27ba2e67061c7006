"""The ``tuplet`` command line.

Every command is a thin layer over the library: parse options, call one function, print a short
report. Errors meant for people (:class:`tuplet.errors.TupletError`) are printed as one line
without a traceback (with the short table some carry in ``details`` under it), and the exit
status is non-zero. Each group of commands lives in its own module here and adds itself to the
parser with ``register``; handlers import what they need when they run, so ``tuplet --help``
stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence

from tuplet.errors import TupletError

Handler = Callable[[argparse.Namespace], int]

COMMAND_MODULES = (
    "files",
    "transcribe",
    "data",
    "train",
    "personalize",
    "generate",
    "evaluate",
    "analyze",
    "originality",
    "audit",
    "card",
    "studio",
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``tuplet`` command."""
    from tuplet import __version__

    parser = argparse.ArgumentParser(
        prog="tuplet",
        description="Personal, responsible multitrack music generation.",
    )
    parser.add_argument("--version", action="version", version=f"tuplet {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"tuplet.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"tuplet.cli.{name}":
                raise
            continue
        module.register(sub)
    _no_abbreviations(parser)
    return parser


def _no_abbreviations(parser: argparse.ArgumentParser) -> None:
    """Refuse abbreviated options everywhere (``--split`` must not mean ``--splits-from``)."""
    parser.allow_abbrev = False
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in set(action.choices.values()):
                _no_abbreviations(child)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        return handler(args)
    except TupletError as exc:
        print(f"tuplet: error: {exc}", file=sys.stderr)
        for line in exc.details:
            print(f"  {line}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("tuplet: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (e.g. `tuplet show F | head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except OSError as exc:  # a path the system refused (exists as a file, no permission...)
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"tuplet: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
