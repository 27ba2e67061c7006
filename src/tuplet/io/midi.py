"""MIDI files <-> note tables, through symusic (and mido, to read notes as MusPy does).

:func:`read_midi` checks what it can before handing a file to symusic's C++ parser (the header
is read here: type-2 files, SMPTE timing and a zero resolution are refused with a clear reason),
turns every parser failure into a one-line :class:`~tuplet.errors.BadFileError`, and refuses
files whose tick values cannot be music. With ``reader="muspy"`` the notes are instead built
from the file's messages as MusPy 0.5.0 builds them (the reader of the MMT authors' pipeline,
which differs from symusic on files with unclosed notes or programs changed under a sounding
note). Both keep each track's name, program and channel (:class:`~tuplet.notes.Track`), and
:func:`write_midi` writes them back, one MIDI track per track, atomically.

A hostile file can still hang or crash a native parser; code that reads thousands of untrusted
files should call :func:`read_midi` in worker processes with a deadline (see the corpus step).
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from tuplet.errors import BadFileError, UsageError
from tuplet.gm import program_name
from tuplet.io import atomic_output, check_readable_file
from tuplet.notes import DRUM_CHANNEL, Notes, Track, free_channel

MAX_TICK = 2**31 - 1
"""symusic keeps ticks as int32: no note may end after this tick."""
MAX_LENGTH_BEATS = 100_000
"""Longer than any real piece (about 14 hours at 120 qpm): a file past it is broken."""
_MICROSECONDS_PER_MINUTE = 60_000_000
MIDI_READERS: tuple[str, ...] = ("symusic", "muspy")
"""How :func:`read_midi` can turn a file's messages into notes (see its docstring)."""
_NOTE_KEYS = ("t", "d", "p", "v", "prog", "drum", "tr")


def _header_problem(head: bytes) -> str | None:
    """What is wrong with the first 14 bytes of a would-be MIDI file, or None if nothing."""
    if not head.startswith(b"MThd"):
        return "not a MIDI file (it does not start with 'MThd')"
    if len(head) < 14:
        return "truncated MIDI header"
    header_length = int.from_bytes(head[4:8], "big")
    midi_format = int.from_bytes(head[8:10], "big")
    division = int.from_bytes(head[12:14], "big")
    if header_length < 6:
        return f"corrupted MIDI header (length {header_length}, expected 6)"
    if midi_format == 2:
        return "MIDI type 2 (sequential songs) is not supported"
    if midi_format > 2:
        return f"unknown MIDI format {midi_format}"
    if division & 0x8000:
        return "SMPTE timing (frames per second instead of ticks per quarter note) is not supported"
    if division == 0:
        return "ticks per quarter note is 0"
    return None


def _count_track_chunks(path: Path) -> tuple[int, int]:
    """(tracks declared in the header, complete 'MTrk' chunks present) of a MIDI file."""
    with open(path, "rb") as f:
        data = f.read()
    declared = int.from_bytes(data[10:12], "big")
    pos = 8 + int.from_bytes(data[4:8], "big")
    found = 0
    while pos + 8 <= len(data):
        length = int.from_bytes(data[pos + 4 : pos + 8], "big")
        if pos + 8 + length > len(data):
            break
        found += data[pos : pos + 4] == b"MTrk"
        pos += 8 + length
    return declared, found


def _short_reason(exc: BaseException) -> str:
    """A parser's message, cut to one short line without its library prefixes."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    for noise in ("MiniMidi: ", ": iostream error"):
        text = text.replace(noise, "")
    return text[:120]


def normalise_map(ticks: np.ndarray, *values: np.ndarray) -> list[np.ndarray]:
    """Normalise a time map: sorted by tick, the last entry at each tick, no repeated values.

    Args:
        ticks: Tick of each entry.
        *values: The map's value columns, one entry per tick.

    Returns:
        ``[ticks, *values]``, filtered the same way.
    """
    order = np.argsort(ticks, kind="stable")
    ticks = ticks[order]
    values = tuple(v[order] for v in values)
    keep = np.ones(len(ticks), dtype=bool)
    keep[:-1] = ticks[1:] != ticks[:-1]
    ticks, values = ticks[keep], tuple(v[keep] for v in values)
    keep = np.ones(len(ticks), dtype=bool)
    if len(ticks) > 1:
        keep[1:] = np.any([v[1:] != v[:-1] for v in values], axis=0)
    return [ticks[keep], *(v[keep] for v in values)]


def _symusic_note_columns(score: Any) -> tuple[dict[str, list[np.ndarray]], list[Any]]:
    """Note columns of a symusic score, one block per track that holds notes, and those tracks."""
    columns: dict[str, list[np.ndarray]] = {k: [] for k in _NOTE_KEYS}
    kept = []
    for track in score.tracks:
        arrays = track.notes.numpy()
        n = len(arrays["time"])
        if n == 0:
            continue
        index = len(columns["t"])
        kept.append(track)
        columns["t"].append(arrays["time"].astype(np.int64))
        columns["d"].append(arrays["duration"].astype(np.int64))
        columns["p"].append(arrays["pitch"].astype(np.int16))
        columns["v"].append(arrays["velocity"].astype(np.int16))
        columns["prog"].append(np.full(n, 0 if track.is_drum else track.program, np.int16))
        columns["drum"].append(np.full(n, bool(track.is_drum)))
        columns["tr"].append(np.full(n, index, np.int32))
    return columns, kept


def _symusic_tracks(data: bytes, kept: list[Any]) -> tuple[Track, ...]:
    """The :class:`Track` of each symusic track that holds notes, its channel from the file.

    symusic keeps no channel: the file's bytes tell it (:mod:`tuplet.io.midi_channels`).
    Where they tell another story than symusic's tracks (a malformed chunk symusic forgave),
    the tracks get the channels symusic would write them on.
    """
    from tuplet.io.midi_channels import MalformedTrack, note_track_keys, symusic_channels

    drums = [bool(t.is_drum) for t in kept]
    try:
        keys = note_track_keys(data)
    except MalformedTrack:
        keys = []
    if [(program, channel == DRUM_CHANNEL) for channel, program in keys] != [
        (int(t.program), drum) for t, drum in zip(kept, drums, strict=True)
    ]:
        keys = [(c, int(t.program)) for c, t in zip(symusic_channels(drums), kept, strict=True)]
    return tuple(
        Track(name=str(t.name), channel=channel, program=0 if drum else program, is_drum=drum)
        for t, drum, (channel, program) in zip(kept, drums, keys, strict=True)
    )


def _muspy_track_notes(midi_track: Any) -> list[tuple[int, int, int, int, int, int]]:
    """One MIDI track's notes as MusPy 0.5.0 pairs them (see :func:`_muspy_note_columns`).

    Returns:
        ``(onset, end, pitch, velocity, channel, program)`` tuples, in the order notes end.
    """
    notes = []
    time = 0
    programs = [0] * 16  # every channel starts at program 0 in every track
    sounding: dict[tuple[int, int], list[tuple[int, int]]] = {}  # (channel, pitch) -> ons
    for msg in midi_track:
        time += msg.time
        kind = msg.type
        if kind == "program_change":
            programs[msg.channel] = msg.program
        elif kind == "note_on" and msg.velocity > 0:
            sounding.setdefault((msg.channel, msg.note), []).append((time, msg.velocity))
        elif kind in ("note_off", "note_on"):
            waiting = sounding.get((msg.channel, msg.note))
            if waiting:  # the earliest sounding note ends; a note-off with none is ignored
                onset, velocity = waiting.pop(0)
                notes.append((onset, time, msg.note, velocity, msg.channel, programs[msg.channel]))
        elif kind == "end_of_track":
            break
    for (channel, pitch), waiting in sounding.items():  # never ended: end with the track
        for onset, velocity in waiting:
            notes.append((onset, time, pitch, velocity, channel, programs[channel]))
    return notes


def _muspy_note_columns(
    p: Path, path: str | os.PathLike[str]
) -> tuple[dict[str, list[np.ndarray]], tuple[Track, ...]]:
    """Note columns as MusPy 0.5.0 reads a MIDI file (``muspy.read``: mido, ``"fifo"``).

    MusPy walks each MIDI track's messages up to its end-of-track. A note-on of velocity > 0
    opens a note on its channel and pitch; a note-off, or a note-on of velocity 0, ends the
    earliest sounding note of that channel and pitch, or is ignored if none sounds. The note
    takes the program in force on its channel when it *ends* (programs are per MIDI track,
    every channel starting at 0). Notes still sounding when the track ends, end there.
    symusic differs on the last two: it gives a note the program in force when it starts and
    drops notes that never end.

    Returns:
        The columns, and the track of each ``(MIDI track, channel, program)`` group: the MIDI
        track's name, the channel and the program.

    Raises:
        BadFileError: mido cannot parse the file (MusPy could not read it either).
    """
    import mido

    try:
        midi = mido.MidiFile(filename=str(p))
    except Exception as exc:  # mido raises OSError, EOFError, ValueError, KeyError, ...
        raise BadFileError(
            path, f"MusPy's reader (mido) cannot parse it: {_short_reason(exc)}"
        ) from None
    rows = []
    groups: dict[tuple[int, int, int], int] = {}  # (MIDI track, channel, program) -> track
    tracks: list[Track] = []
    for index, midi_track in enumerate(midi.tracks):
        for onset, end, pitch, velocity, channel, program in _muspy_track_notes(midi_track):
            drum = channel == DRUM_CHANNEL
            group = groups.setdefault((index, channel, program), len(groups))
            if group == len(tracks):
                name, program = str(midi_track.name), 0 if drum else program
                tracks.append(Track(name=name, channel=channel, program=program, is_drum=drum))
            rows.append((onset, end - onset, pitch, velocity, 0 if drum else program, drum, group))

    columns: dict[str, list[np.ndarray]] = {k: [] for k in _NOTE_KEYS}
    if rows:
        table = np.array(rows, dtype=np.int64)
        # MusPy sorts each track's notes by (time, pitch, duration, velocity)
        t = table.T
        table = table[np.lexsort((t[3], t[1], t[2], t[0], t[6]))]
        dtypes = (np.int64, np.int64, np.int16, np.int16, np.int16, np.bool_, np.int32)
        for key, column, dtype in zip(_NOTE_KEYS, table.T, dtypes, strict=True):
            columns[key].append(column.astype(dtype))
    return columns, tuple(tracks)


def _map_columns(score: Any) -> dict[str, np.ndarray]:
    """The tempo, time-signature and key maps of a symusic score, as :class:`Notes` columns.

    Normalised (:func:`normalise_map`); entries at negative ticks, tempos of 0 and key or time
    signatures out of range are dropped.
    """
    tempos = score.tempos.numpy()
    valid = (tempos["mspq"] > 0) & (tempos["time"] >= 0)
    tempo_ticks, tempo_qpm = normalise_map(
        tempos["time"][valid].astype(np.int64),
        _MICROSECONDS_PER_MINUTE / tempos["mspq"][valid].astype(np.float64),
    )
    sigs = score.time_signatures.numpy()
    valid = (sigs["numerator"] > 0) & (sigs["denominator"] > 0) & (sigs["time"] >= 0)
    sig_ticks, sig_num, sig_den = normalise_map(
        sigs["time"][valid].astype(np.int64),
        sigs["numerator"][valid].astype(np.int16),
        sigs["denominator"][valid].astype(np.int16),
    )
    keys = score.key_signatures.numpy()
    fifths = keys["key"].astype(np.int16)
    mode = keys["tonality"].astype(np.int16)
    valid = (np.abs(fifths) <= 7) & (mode <= 1) & (keys["time"] >= 0)
    key_ticks, key_fifths, key_mode = normalise_map(
        keys["time"][valid].astype(np.int64), fifths[valid], mode[valid]
    )
    return {
        "tempo_ticks": tempo_ticks,
        "tempo_qpm": tempo_qpm,
        "timesig_ticks": sig_ticks,
        "timesig_numerator": sig_num,
        "timesig_denominator": sig_den,
        "key_ticks": key_ticks,
        "key_fifths": key_fifths,
        "key_mode": key_mode,
    }


def _open_score(path: str | os.PathLike[str]) -> tuple[Path, Any]:
    """The checked path and symusic's score of a MIDI file.

    Raises:
        BadFileError: Unreadable, not a MIDI header, or a file symusic cannot parse.
    """
    import symusic

    p = check_readable_file(path)
    with open(p, "rb") as f:
        problem = _header_problem(f.read(14))
    if problem:
        raise BadFileError(path, problem)
    try:
        score: Any = symusic.Score(p, ttype="tick")
    except Exception as exc:  # symusic raises RuntimeError, but any failure is the file's
        raise BadFileError(path, f"corrupted or truncated MIDI: {_short_reason(exc)}") from None
    return p, score


def read_midi(path: str | os.PathLike[str], *, reader: str = "symusic") -> Notes:
    """Read a MIDI file (type 0 or 1) into a note table at the file's own resolution.

    One row per note. ``is_drum`` marks channel 10; ``program`` is the note's program (0 for
    drums). ``tracks`` states each track's name (the MIDI track's), program and channel. How
    notes are built from the file's messages depends on ``reader``:

    * ``"symusic"``: as symusic splits the file, one track per MIDI track, channel and
      program; a note takes the program in force when it starts; a note that never ends is
      dropped. ``track`` numbers the tracks that hold notes from 0, in file order.
    * ``"muspy"``: as MusPy 0.5.0 reads it (mido backend, the reader of the MMT authors'
      pipeline): a note takes the program in force on its channel when it ends, and a note
      that never ends lasts to the end of its MIDI track. ``track`` numbers the (MIDI track,
      channel, program) groups in the order their first note ends.

    Both pair a note-off with the earliest sounding note of its channel and pitch.
    Zero-length notes are kept (duration 0). Maps are read by symusic and normalised:
    sorted by tick, one entry per tick (the last), entries that repeat the value in force
    dropped; entries at negative ticks, tempos of 0 and key or time signatures out of range
    are dropped.

    Args:
        path: The ``.mid`` file (any name; non-ASCII paths are fine).
        reader: ``"symusic"`` or ``"muspy"`` (see above).

    Returns:
        The notes, with ``ticks_per_beat`` the file's ticks per quarter note.

    Raises:
        BadFileError: The file is missing, unreadable, empty, not MIDI, MIDI type 2, timed in
            SMPTE frames, corrupted or truncated, holds no notes, or has absurd tick values.
        UsageError: ``reader`` is not one of :data:`MIDI_READERS`.
    """
    if reader not in MIDI_READERS:
        raise UsageError(f"unknown MIDI reader {reader!r} (choose from {', '.join(MIDI_READERS)})")
    p, score = _open_score(path)
    if reader == "muspy":
        columns, tracks = _muspy_note_columns(p, path)
    else:
        columns, kept = _symusic_note_columns(score)
        tracks = _symusic_tracks(p.read_bytes(), kept) if kept else ()
    if not columns["t"]:
        declared, found = _count_track_chunks(p)
        if found < declared:
            raise BadFileError(
                path, f"truncated MIDI: the header declares {declared} tracks, {found} are complete"
            )
        raise BadFileError(path, "no notes")
    onset, duration = np.concatenate(columns["t"]), np.concatenate(columns["d"])
    ticks_per_beat = int(score.ticks_per_quarter)
    end = onset + duration
    if (
        (onset < 0).any()
        or (duration < 0).any()
        or end.max() > MAX_TICK
        or end.max() > MAX_LENGTH_BEATS * ticks_per_beat
    ):
        raise BadFileError(
            path,
            f"absurd tick values (a note ends at tick {int(end.max())}, "
            f"beat {int(end.max()) // ticks_per_beat}, at {ticks_per_beat} ticks per beat)",
        )

    return Notes(
        ticks_per_beat=ticks_per_beat,
        onset_ticks=onset,
        duration_ticks=duration,
        pitch=np.concatenate(columns["p"]),
        velocity=np.concatenate(columns["v"]),
        program=np.concatenate(columns["prog"]),
        is_drum=np.concatenate(columns["drum"]),
        track=np.concatenate(columns["tr"]),
        **_map_columns(score),
        tracks=tracks,
    )


def read_midi_track_names(path: str | os.PathLike[str]) -> list[str]:
    """The names a MIDI file gives the tracks of :func:`read_midi`'s table (symusic reader).

    Entry ``i`` is the name of the table's track ``i`` (the ``i``-th track that holds notes,
    as symusic splits the file), its whitespace collapsed; ``""`` where the file names none.
    The note table does not keep names, so ``tuplet show`` reads them here.

    Raises:
        BadFileError: The file cannot be read (see :func:`read_midi`).
    """
    _, score = _open_score(path)
    return [" ".join(str(track.name).split()) for track in score.tracks if len(track.notes)]


def _check_writable(notes: Notes, path: str | os.PathLike[str]) -> None:
    def refuse(problem: str) -> UsageError:
        return UsageError(f"{os.fspath(path)}: cannot write MIDI: {problem}")

    if not Path(path).parent.is_dir():
        raise refuse("its folder does not exist")
    if notes.ticks_per_beat > 0x7FFF:
        raise refuse(
            f"{notes.ticks_per_beat} ticks per beat is above MIDI's 32767 (use to_resolution)"
        )
    if len(notes) == 0:
        return
    if (notes.onset_ticks < 0).any() or (notes.duration_ticks < 0).any():
        raise refuse("negative onset or duration")
    if notes.end_ticks > MAX_TICK:
        raise refuse(f"a note ends at tick {notes.end_ticks}, past {MAX_TICK}")
    if (notes.pitch < 0).any() or (notes.pitch > 127).any():
        raise refuse("pitch outside 0..127")
    if (notes.program < 0).any() or (notes.program > 127).any():
        raise refuse("program outside 0..127")


def _written_tracks(notes: Notes) -> list[tuple[Track, np.ndarray]]:
    """The MIDI tracks :func:`write_midi` writes, in order: each one's track and note rows.

    A table that states its tracks gives one per track, with the rows of the track's
    instrument, on its channel, unless an earlier track set that channel to another program
    (one program per channel: MIDI tracks state it at tick 0), which moves it to a channel no
    track uses (:func:`free_channel`). Rows whose program or drum flag is not their track's
    follow, one track per instrument, named by General MIDI, on a free channel. A
    table without tracks gives one per ``(program, is_drum)``, named by General MIDI, ordered
    by the smallest source ``track`` among its notes, on the channels symusic chooses.
    """
    from tuplet.io.midi_channels import symusic_channels

    key = notes.is_drum.astype(np.int64) * 128 + notes.program
    written: list[tuple[Track, np.ndarray]] = []
    rest = np.ones(len(notes), dtype=bool)
    programs: dict[int, int] = {}  # channel -> the program its first track set
    for i, track in enumerate(notes.tracks):
        rows = np.flatnonzero((notes.track == i) & (key == track.is_drum * 128 + track.program))
        if programs.setdefault(track.channel, track.program) != track.program:
            channel = free_channel([*notes.tracks, *(t for t, _ in written)], track.is_drum)
            track = replace(track, channel=channel)
            programs.setdefault(channel, track.program)
        written.append((track, rows))
        rest[rows] = False
    rest_rows = np.flatnonzero(rest)
    groups, inverse = np.unique(key[rest_rows], return_inverse=True)
    first_track = np.full(len(groups), np.iinfo(np.int64).max)
    np.minimum.at(first_track, inverse, notes.track[rest_rows].astype(np.int64))
    order = np.lexsort((groups, first_track))
    drums = [bool(groups[g] >= 128) for g in order]
    channels = symusic_channels([t.is_drum for t, _ in written] + drums)[len(written) :]
    for g, drum, channel in zip(order, drums, channels, strict=True):
        program = int(groups[g] % 128)
        if notes.tracks:
            channel = free_channel([t for t, _ in written], drum)
        name = program_name(program, drum)
        track = Track(name=name, channel=channel, program=program, is_drum=drum)
        written.append((track, rest_rows[inverse == g]))
    return written


def _symusic_track(notes: Notes, track: Track, rows: np.ndarray) -> Any:
    """A symusic track of ``notes[rows]`` (see :func:`write_midi` for what is cut)."""
    import symusic

    rows = rows[
        np.lexsort((notes.duration_ticks[rows], notes.pitch[rows], notes.onset_ticks[rows]))
    ]
    onset, pitch = notes.onset_ticks[rows], notes.pitch[rows]
    duration = notes.duration_ticks[rows].copy()
    # a note outlasting the next note of its pitch is cut where that one starts (see
    # write_midi's docstring)
    by_pitch = np.lexsort((onset, pitch))
    o, end = onset[by_pitch], onset[by_pitch] + duration[by_pitch]
    gap = np.diff(o)
    cut = (np.diff(pitch[by_pitch]) == 0) & (gap > 0) & (end[:-1] > end[1:])
    duration[by_pitch[:-1][cut]] = gap[cut]
    out: Any = symusic.Track(name=track.name, program=track.program, is_drum=track.is_drum)
    out.notes = symusic.Note.from_numpy(
        onset.astype(np.int32),
        duration.astype(np.int32),
        pitch.astype(np.int8),
        np.clip(notes.velocity[rows], 1, 127).astype(np.int8),
    )
    return out


def write_midi(notes: Notes, path: str | os.PathLike[str]) -> Path:
    """Write a note table as a type-1 MIDI file at the table's resolution.

    A table that states its tracks (``notes.tracks``, as :func:`read_midi` gives them) is
    written one MIDI track per track, in order, with its name, program and channel, a track
    without notes included; a note whose program or drum flag is not its track's goes to a
    track of its own instrument (see :func:`_written_tracks`). A table without tracks (a
    generated piece) gets one track per ``(program, is_drum)`` pair, named by its General MIDI
    name, drums on channel 10, ordered by the smallest source ``track`` index among its notes.
    Tempo, time-signature and key-signature maps are written as they are (tempos rounded to
    whole microseconds per quarter note, as MIDI stores them). Velocities are clipped to
    1..127 (0 would mean note-off). A note that outlasts a later note of the same pitch on its
    track is cut where that one starts: readers pair note-offs first in, first out, so it would
    swap the two notes' ends. The file is written to a temporary name in the same folder and
    renamed, so a reader never sees half a file.

    Args:
        notes: The table.
        path: Where to write (overwritten if present).

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        UsageError: The table cannot be written as MIDI (negative or huge ticks, pitch or
            program out of range, resolution above 32767) or the folder does not exist.
    """
    import symusic

    from tuplet.io.midi_channels import set_channels, symusic_channels

    _check_writable(notes, path)
    score: Any = symusic.Score(notes.ticks_per_beat, ttype="tick")
    written = _written_tracks(notes)
    for track, rows in written:
        score.tracks.append(_symusic_track(notes, track, rows))
    qpm_ok = notes.tempo_qpm > 0
    score.tempos = symusic.Tempo.from_numpy(
        notes.tempo_ticks[qpm_ok].astype(np.int32),
        np.round(_MICROSECONDS_PER_MINUTE / notes.tempo_qpm[qpm_ok]).astype(np.int32),
    )
    score.time_signatures = symusic.TimeSignature.from_numpy(
        notes.timesig_ticks.astype(np.int32),
        notes.timesig_numerator.astype(np.uint8),
        notes.timesig_denominator.astype(np.uint8),
    )
    score.key_signatures = symusic.KeySignature.from_numpy(
        notes.key_ticks.astype(np.int32),
        notes.key_fifths.astype(np.int8),
        notes.key_mode.astype(np.uint8),
    )
    data = bytes(score.dumps_midi())
    channels = [track.channel for track, _ in written]
    if channels != symusic_channels([track.is_drum for track, _ in written]):
        data = set_channels(data, channels)
    with atomic_output(path, ".mid") as tmp:
        tmp.write_bytes(data)
    return Path(path)
