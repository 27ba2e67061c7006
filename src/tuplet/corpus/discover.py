"""The files of SOURCES: folders searched recursively, single files, music21's bundled corpora.

:func:`discover` is the first stage of :func:`tuplet.corpus.prepare.prepare`: it lists what to
read, each file once, in a stable order, and counts the other files it found.
"""

from __future__ import annotations

import collections
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from tuplet.errors import UsageError

MUSIC21_PREFIX = "music21:"
"""A SOURCE naming a corpus bundled with music21 (``music21:bach``)."""


@dataclass(frozen=True)
class InputFile:
    """One file to read.

    Attributes:
        key: Its identity in the dataset: ``music21:<path under the corpus>`` or the absolute
            path of a user's file.
        path: Where it is now.
        source: The SOURCE it came from, as given (a folder is made absolute).
        source_root: The folder given as SOURCE (None for music21 corpora).
        relpath: Its path under the corpus root or ``source_root``.
    """

    key: str
    path: Path
    source: str
    source_root: Path | None
    relpath: str


def discover(
    sources: Iterable[str | os.PathLike[str]],
) -> tuple[list[InputFile], dict[str, int]]:
    """The readable-looking files of SOURCES, in order, each once.

    Folders are searched recursively (hidden files and folders are skipped; folder links are
    not followed) for :data:`tuplet.io.SUPPORTED_EXTENSIONS`, sorted by path; a single file
    may be given too. ``music21:NAME`` lists the named corpus bundled with music21.

    Args:
        sources: Folders, files, or ``music21:NAME``.

    Returns:
        The inputs, and the count of other files found in folders, by extension.

    Raises:
        UsageError: A source does not exist, or a music21 corpus name is unknown.
    """
    from tuplet.io import SUPPORTED_EXTENSIONS

    inputs: dict[str, InputFile] = {}
    ignored: collections.Counter[str] = collections.Counter()
    for given in sources:
        source = os.fspath(given)
        if source.startswith(MUSIC21_PREFIX):
            from tuplet.io.score import music21_corpus_paths

            for p in music21_corpus_paths(source[len(MUSIC21_PREFIX) :]):
                posix = p.as_posix()
                rel = posix.split("/corpus/", 1)[1] if "/corpus/" in posix else p.name
                key = MUSIC21_PREFIX + rel
                inputs.setdefault(key, InputFile(key, p, source, None, rel))
            continue
        root = Path(source).expanduser()
        if root.is_file():
            files = [root.resolve()]
            base = root.resolve().parent
        elif root.is_dir():
            base = root.resolve()
            files = []
            for folder, dirs, names in os.walk(base):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in names:
                    if name.startswith("."):
                        continue
                    suffix = Path(name).suffix.lower()
                    if suffix in SUPPORTED_EXTENSIONS:
                        files.append(Path(folder) / name)
                    elif not name.startswith("tuplet-rights."):
                        ignored[suffix or "(none)"] += 1
        else:
            raise UsageError(f"{source}: no such folder or file (nor a music21:NAME corpus)")
        for p in sorted(files):
            key = str(p)
            inputs.setdefault(
                key, InputFile(key, p, str(base), base, p.relative_to(base).as_posix())
            )
    return list(inputs.values()), dict(ignored)


__all__ = ["MUSIC21_PREFIX", "InputFile", "discover"]
