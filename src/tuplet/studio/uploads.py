"""A file opened in the studio: received, checked, read, or (a recording) transcribed.

Received within its size limit, its first bytes checked against its name, then read as a
score or MIDI file, or transcribed into notes.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from tuplet.errors import BadFileError, UsageError
from tuplet.notes import Notes

if TYPE_CHECKING:
    from fastapi import Request


class UploadProblem(Exception):
    """Why an upload is refused: an HTTP status and one line naming the file."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


async def open_upload(
    request: Request,
    name: str,
    scratch: Callable[[str], Path],
    instrument: str,
    tempo: float | None,
    *,
    limits: tuple[int, int],
) -> tuple[Notes, str, str]:
    """The notes of an uploaded file named ``name``, the undo label, and what was assumed.

    ``limits`` are the most bytes of a score or MIDI file and of a recording; ``scratch``
    gives a temporary path with a suffix (removed here). A recording is transcribed as
    ``instrument`` at ``tempo`` (None: estimated); what was assumed comes back as a line
    (empty for a score). Reading runs off the event loop.

    Raises:
        UploadProblem: A kind of file tuplet does not read (415), too big (413), empty, not
            what its name says, unreadable or without notes (400).
    """
    from starlette.concurrency import run_in_threadpool

    from tuplet.io import SUPPORTED_EXTENSIONS, read_notes
    from tuplet.io.transcribe import AUDIO_IN_SUFFIXES

    shown = Path(name).name[:120] or "(no name)"
    suffix = Path(shown).suffix.lower()
    is_audio = suffix in AUDIO_IN_SUFFIXES
    if suffix not in SUPPORTED_EXTENSIONS and not is_audio:
        raise UploadProblem(
            415,
            f"{shown}: not a file tuplet reads (open {', '.join(SUPPORTED_EXTENSIONS)}, or a "
            f"recording: {', '.join(AUDIO_IN_SUFFIXES)})",
        )
    limit = limits[1] if is_audio else limits[0]
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise UploadProblem(413, f"{shown}: too big ({int(declared):,} bytes; at most {limit:,})")
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > limit:
            raise UploadProblem(413, f"{shown}: too big (more than {limit:,} bytes)")
    if not data:
        raise UploadProblem(400, f"{shown}: empty file")
    problem = sniff(shown, bytes(data[:4096]))
    if problem:
        raise UploadProblem(415, f"{shown}: {problem}")
    tmp = scratch(suffix)
    assumed = ""
    try:
        tmp.write_bytes(bytes(data))
        try:
            if is_audio:
                notes, assumed = await run_in_threadpool(transcribe_upload, tmp, instrument, tempo)
            else:
                notes = await run_in_threadpool(read_notes, tmp)
        except BadFileError as exc:
            raise UploadProblem(400, f"{shown}: {exc.problem}") from None
        except UsageError as exc:  # an unknown instrument, no transcription installed
            raise UploadProblem(400, f"{shown}: {exc}") from None
        except Exception as exc:  # a reader's crash is the file's problem here
            raise UploadProblem(400, f"{shown}: cannot read it ({type(exc).__name__})") from None
    finally:
        tmp.unlink(missing_ok=True)
    if len(notes) == 0:
        raise UploadProblem(400, f"{shown}: has no notes")
    return notes, f"open {shown}" + (" (transcribed)" if is_audio else ""), assumed


def sniff(name: str, head: bytes) -> str | None:
    """Why ``head`` (a file's first bytes) is not the kind its name says, or None."""
    suffix = Path(name).suffix.lower()
    if suffix == ".wav":
        riff = head[:4] in (b"RIFF", b"RF64") and head[8:12] == b"WAVE"
        return None if riff else "not a WAV file (no RIFF/WAVE header)"
    if suffix == ".flac":
        return None if head.startswith(b"fLaC") else "not a FLAC file"
    if suffix in (".ogg", ".oga"):
        return None if head.startswith(b"OggS") else "not an Ogg file"
    if suffix == ".mp3":
        frame = len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0
        return None if head.startswith(b"ID3") or frame else "not an MP3 file"
    if suffix in (".mid", ".midi"):
        return None if head.startswith(b"MThd") else "not a MIDI file (no MThd header)"
    if suffix == ".mxl":
        return None if head.startswith(b"PK") else "not a compressed MusicXML file (.mxl)"
    if b"\x00" in head:
        return "not a text score (it holds binary data)"
    if suffix in (".xml", ".musicxml") and b"<" not in head[:512]:
        return "not a MusicXML file (no XML)"
    return None


def transcribe_upload(path: Path, instrument: str, tempo: float | None) -> tuple[Notes, str]:
    """A recording's notes on the grid, and what was assumed (one line)."""
    from tuplet.io.transcribe import audio_prompt

    notes, grid, heard = audio_prompt(path, tempo=tempo, instrument=instrument)
    took = f"{heard.seconds:.1f} s" + (
        f", the model loaded in {heard.model_load_s:.1f} s" if heard.model_load_s else ""
    )
    return notes, f"{len(notes)} notes heard ({took}): {grid.describe()}"


__all__ = ["sniff", "transcribe_upload"]
