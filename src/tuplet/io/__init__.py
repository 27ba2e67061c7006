"""The IO boundary: the only place that touches symusic, mido, music21, FluidSynth, matplotlib.

* :func:`read_notes` reads any supported file into a :class:`~tuplet.notes.Notes` table,
  choosing the reader by extension;
* :mod:`tuplet.io.midi` reads and writes MIDI (symusic; mido to read notes as MusPy does);
* :mod:`tuplet.io.score` reads MusicXML, Humdrum and ABC scores (music21);
* :mod:`tuplet.io.audio` renders audio (the FluidSynth command line);
* :mod:`tuplet.io.pianoroll` draws piano-roll images (matplotlib).

Importing this package is cheap: the heavy libraries load only when a reader or writer is
called (``read_midi`` and friends are resolved lazily on first access).
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tuplet.errors import BadFileError

if TYPE_CHECKING:
    from tuplet.notes import Notes

MIDI_EXTENSIONS: tuple[str, ...] = (".mid", ".midi")
SCORE_EXTENSIONS: tuple[str, ...] = (".musicxml", ".xml", ".mxl", ".krn", ".abc")
SUPPORTED_EXTENSIONS: tuple[str, ...] = MIDI_EXTENSIONS + SCORE_EXTENSIONS

# public name -> submodule that defines it; loaded on first access (PEP 562)
_LAZY: dict[str, str] = {
    "read_midi": "tuplet.io.midi",
    "write_midi": "tuplet.io.midi",
    "read_score": "tuplet.io.score",
    "read_score_all": "tuplet.io.score",
    "music21_corpus_paths": "tuplet.io.score",
    "render_wav": "tuplet.io.audio",
    "draw_pianoroll": "tuplet.io.pianoroll",
}

__all__ = [
    "MIDI_EXTENSIONS",
    "SCORE_EXTENSIONS",
    "SUPPORTED_EXTENSIONS",
    "draw_pianoroll",
    "music21_corpus_paths",
    "read_midi",
    "read_notes",
    "read_score",
    "read_score_all",
    "render_wav",
    "write_midi",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


def read_notes(path: str | os.PathLike[str], *, midi_reader: str = "symusic") -> Notes:
    """Read a music file into a note table, choosing the reader by extension.

    ``.mid``/``.midi`` go to :func:`tuplet.io.midi.read_midi` (the file's own resolution);
    ``.musicxml``/``.xml``/``.mxl``/``.krn``/``.abc`` go to :func:`tuplet.io.score.read_score`
    (480 ticks per beat; the first song of a multi-song file). The extension is matched
    case-insensitively.

    Args:
        path: The file.
        midi_reader: How a MIDI file's messages become notes: ``"symusic"`` or ``"muspy"``
            (MusPy's rules, which the ``mmt`` encoding is defined on; see
            :func:`tuplet.io.midi.read_midi`). Scores ignore it.

    Returns:
        The notes and maps of the file.

    Raises:
        BadFileError: The extension is not supported, or the file cannot be read (the message
            names the file and the problem in one line).
    """
    suffix = Path(path).suffix.lower()
    if suffix in MIDI_EXTENSIONS:
        from tuplet.io.midi import read_midi

        return read_midi(path, reader=midi_reader)
    if suffix in SCORE_EXTENSIONS:
        from tuplet.io.score import read_score

        return read_score(path)
    known = ", ".join(SUPPORTED_EXTENSIONS)
    raise BadFileError(path, f"unknown file type '{suffix or '(none)'}' (tuplet reads {known})")


def check_readable_file(path: str | os.PathLike[str]) -> Path:
    """Check that ``path`` names an existing, readable, non-empty regular file.

    Args:
        path: The file.

    Returns:
        The path as a :class:`~pathlib.Path`.

    Raises:
        BadFileError: "no such file", "is a directory, not a file", "not a regular file",
            "cannot read: permission denied" or "empty file".
    """
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise BadFileError(path, "no such file") from None
    except PermissionError:
        raise BadFileError(path, "cannot read: permission denied") from None
    except OSError as exc:
        raise BadFileError(path, f"cannot read: {exc.strerror or exc}") from None
    if p.is_dir():
        raise BadFileError(path, "is a directory, not a file")
    if not p.is_file():
        raise BadFileError(path, "not a regular file")
    # stat works without read permission: try to open it (this also catches root-squashed mounts)
    try:
        with open(p, "rb"):
            pass
    except PermissionError:
        raise BadFileError(path, "cannot read: permission denied") from None
    except OSError as exc:
        raise BadFileError(path, f"cannot read: {exc.strerror or exc}") from None
    if st.st_size == 0:
        raise BadFileError(path, "empty file")
    return p


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str], suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` atomically.

    The temporary file lives in the same folder (so :func:`os.replace` is atomic) and is
    removed if the body raises, leaving any previous ``path`` untouched. An :class:`OSError`
    that names no file (a write that failed on a full disk) is raised again naming ``path``.

    Args:
        path: The final file.
        suffix: Ending for the temporary name (some writers choose the format by it).

    Yields:
        The temporary path to write to.
    """
    out = Path(path)
    # a fresh unguessable name, not a pre-created mkstemp file: the writer creates it, so the
    # result gets the usual permissions (mkstemp's 0600 would survive the rename)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.{secrets.token_hex(6)}.tmp{suffix}")
    try:
        yield tmp
        os.replace(tmp, out)
    except OSError as exc:
        if exc.filename is not None:
            raise
        # a write that failed (a full disk) names no file: name the one being written
        raise OSError(exc.errno, exc.strerror or str(exc), os.fspath(out)) from exc
    finally:
        tmp.unlink(missing_ok=True)
