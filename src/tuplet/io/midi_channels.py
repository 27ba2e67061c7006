"""The channel of each track: what a MIDI file says that symusic does not keep.

symusic splits a file's MIDI tracks into one track per channel and program, but keeps no
channel, and writes track ``i`` on a channel of its own choosing. To keep a file's channels
through a read and a write, :mod:`tuplet.io.midi` walks the raw bytes of the track chunks
here: :func:`note_track_keys` lists the tracks symusic will make, with their channels, and
:func:`set_channels` moves the tracks of a file symusic wrote onto the channels asked for.
Only channel messages are decoded (running status included); meta and system-exclusive
events are skipped by their stated length.
"""

from __future__ import annotations

from collections.abc import Iterator

_SYMUSIC_CHANNELS = (0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 14, 15)
_DATA_BYTES = {0x80: 2, 0x90: 2, 0xA0: 2, 0xB0: 2, 0xC0: 1, 0xD0: 1, 0xE0: 2}
_SYSTEM_DATA_BYTES = {0xF1: 1, 0xF2: 2, 0xF3: 1}


class MalformedTrack(ValueError):
    """A track chunk whose events cannot be walked."""


def symusic_channels(drums: list[bool]) -> list[int]:
    """The channels symusic writes tracks on: 9 for drums, else 0..15 but 9 by track index."""
    return [9 if drum else _SYMUSIC_CHANNELS[i % 15] for i, drum in enumerate(drums)]


def track_chunks(data: bytes) -> list[tuple[int, int]]:
    """``(start, end)`` byte offsets of the events of each complete ``MTrk`` chunk."""
    pos = 8 + int.from_bytes(data[4:8], "big")
    chunks = []
    while pos + 8 <= len(data):
        length = int.from_bytes(data[pos + 4 : pos + 8], "big")
        if pos + 8 + length > len(data):
            break
        if data[pos : pos + 4] == b"MTrk":
            chunks.append((pos + 8, pos + 8 + length))
        pos += 8 + length
    return chunks


def _varlen(data: bytes, pos: int) -> tuple[int, int]:
    """A variable-length quantity at ``pos``: (value, position after it)."""
    value = 0
    for _ in range(4):
        byte = data[pos]
        pos += 1
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            return value, pos
    raise MalformedTrack("a variable-length quantity longer than 4 bytes")


def channel_events(data: bytes, start: int, end: int) -> Iterator[tuple[int, int, int, int]]:
    """The channel messages of one track chunk, in order.

    Yields:
        ``(status_offset, status, data1, data2)``: the offset of the status byte (-1 under
        running status), the status byte, and the data bytes (``data2`` 0 for one-byte
        messages).

    Raises:
        MalformedTrack: An event runs past the chunk, or data bytes come before any status.
    """
    pos, status = start, 0
    try:
        while pos < end:
            _, pos = _varlen(data, pos)  # delta time
            byte = data[pos]
            if byte == 0xFF:  # meta: type, length, data
                length, pos = _varlen(data, pos + 2)
                pos += length
                continue
            if byte in (0xF0, 0xF7):  # system exclusive: length, data
                length, pos = _varlen(data, pos + 1)
                pos += length
                continue
            if byte >= 0xF0:
                pos += 1 + _SYSTEM_DATA_BYTES.get(byte, 0)
                continue
            at = -1
            if byte & 0x80:
                status, at = byte, pos
                pos += 1
            elif not status:
                raise MalformedTrack("data bytes before any status byte")
            size = _DATA_BYTES[status & 0xF0]
            yield at, status, data[pos], data[pos + 1] if size == 2 else 0
            pos += size
    except IndexError:
        raise MalformedTrack("an event runs past the end of the file") from None
    if pos > end:
        raise MalformedTrack("an event runs past the end of its track chunk")


def _chunk_keys(data: bytes, start: int, end: int) -> list[tuple[int, int]]:
    """The tracks symusic makes of one chunk that keep a note: (channel, program), sorted."""
    programs = [0] * 16
    sounding: dict[tuple[int, int], list[int]] = {}  # (channel, pitch) -> programs at onset
    kept: set[tuple[int, int]] = set()
    for _, status, data1, data2 in channel_events(data, start, end):
        kind, channel = status & 0xF0, status & 0x0F
        if kind == 0x90 and data2:
            sounding.setdefault((channel, data1), []).append(programs[channel])
        elif kind in (0x80, 0x90):
            waiting = sounding.get((channel, data1))
            if waiting:  # the earliest sounding note ends
                kept.add((channel, waiting.pop(0)))
        elif kind == 0xC0:
            programs[channel] = data1
    return sorted(kept)


def note_track_keys(data: bytes) -> list[tuple[int, int]]:
    """``(channel, program)`` of each track that symusic reads a note into, in its order.

    symusic makes one track per MIDI track, channel and program in force at a note-on,
    ordered by MIDI track, then channel, then program; a note-off ends the earliest sounding
    note of its channel and pitch, and a track none of whose notes ends is dropped.

    Args:
        data: The whole MIDI file.

    Raises:
        MalformedTrack: A track chunk cannot be walked.
    """
    return [key for start, end in track_chunks(data) for key in _chunk_keys(data, start, end)]


def set_channels(data: bytes, channels: list[int]) -> bytes:
    """A MIDI file with every channel message of track chunk ``i`` on ``channels[i]``.

    Args:
        data: The whole MIDI file (one channel per track chunk, as symusic writes them).
        channels: The channel (0..15) of each track chunk; chunks past its end keep theirs.

    Raises:
        MalformedTrack: A track chunk cannot be walked.
    """
    out = bytearray(data)
    for (start, end), channel in zip(track_chunks(data), channels, strict=False):
        for at, status, _, _ in channel_events(data, start, end):
            if at >= 0:
                out[at] = (status & 0xF0) | channel
    return bytes(out)


__all__ = [
    "MalformedTrack",
    "channel_events",
    "note_track_keys",
    "set_channels",
    "symusic_channels",
    "track_chunks",
]
