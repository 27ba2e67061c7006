"""What an opened file is: its first bytes against its name, and a recording turned into notes."""

from __future__ import annotations

from pathlib import Path

from tuplet.notes import Notes


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
