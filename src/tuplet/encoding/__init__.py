"""Note tables <-> note-tuple codes: the ``mmt`` encoding (exact) and the ``tuplet`` encoding.

A piece becomes an int64 array of shape ``(n_events, n_fields)``, one row per event; the
fields, event types and vocabularies of each encoding are described by its
:class:`EncodingConfig` and in ``docs/encoding.md``.

* :func:`encode` / :func:`decode`: notes -> codes -> notes;
* :func:`quantise`: what an encode-decode round trip keeps of a table, computed directly, so
  ``decode(encode(n), c)`` equals ``quantise(n, c)``;
* :func:`order_onsets`: the notes of each onset in another order than the encoding's rising
  pitch (a model trained so, :data:`ONSET_ORDERS`, reads and writes them that way);
* :func:`mmt_filter_reason`, :func:`shift_to_first_beat`: the MMT paper's corpus filters and
  its "first note at beat 0" step, for the corpus stage;
* :func:`midi_reader_for`: how MIDI files are read for an encoding (``mmt``: as MusPy does);
* :func:`codes_to_csv` / :func:`codes_from_csv`: codes as CSV files with a header.
"""

from __future__ import annotations

import gzip
import io
import os
from pathlib import Path

import numpy as np

from tuplet.encoding import extended, mmt, vocab
from tuplet.encoding.config import (
    ENCODING_NAMES,
    EncodingConfig,
    check_codes,
    get_encoding,
    instrument_code,
)
from tuplet.encoding.mmt import adjust_resolution, mmt_filter_reason
from tuplet.encoding.vocab import (
    DRUMS_CODE,
    INSTRUMENT_NAMES,
    KNOWN_DURATIONS_TICKS,
    program_of_instrument,
)
from tuplet.errors import BadFileError, TupletError, UsageError
from tuplet.notes import Notes, shift_ticks

__all__ = [
    "DRUMS_CODE",
    "ENCODING_NAMES",
    "INSTRUMENT_NAMES",
    "KNOWN_DURATIONS_TICKS",
    "ONSET_ORDERS",
    "EncodingConfig",
    "adjust_resolution",
    "codes_from_csv",
    "codes_to_csv",
    "decode",
    "encode",
    "get_encoding",
    "instrument_code",
    "instrument_of_program",
    "midi_reader_for",
    "mmt_filter_reason",
    "order_onsets",
    "program_of_instrument",
    "quantise",
    "shift_to_first_beat",
]


def instrument_of_program(
    program: np.ndarray | int, config: EncodingConfig | None = None
) -> np.ndarray:
    """Instrument codes (1..64) of General MIDI programs (0-based); 0 where dropped.

    Args:
        program: Programs (any shape).
        config: None or an ``mmt`` config for MMT's table; a ``tuplet`` config for the tuplet
            encoding's, which also places most programs MMT drops (see ``docs/encoding.md``).
            Percussion is not a program: the tuplet encoding codes drum notes as ``DRUMS_CODE``.

    Returns:
        int64 codes, same shape as ``program``.
    """
    return vocab.instrument_of_program(
        program, extended=config is not None and config.name == "tuplet"
    )


def encode(notes: Notes, config: EncodingConfig) -> np.ndarray:
    """Encode a note table as codes.

    Args:
        notes: The piece, at any resolution (converted to ``config.resolution`` as MusPy does,
            see :func:`adjust_resolution`).
        config: The encoding.

    Returns:
        int64 array ``(n_events, len(config.fields))``.
    """
    if config.name == "mmt":
        return mmt.encode_mmt(notes, config)
    return extended.encode_tuplet(notes, config)


def decode(codes: np.ndarray, config: EncodingConfig) -> Notes:
    """Decode codes (from :func:`encode` or from a model) into a note table.

    Reading stops at the first end-of-song row. Rows may come in any order; a row whose type
    is unknown, or whose fields hold codes out of range, is skipped. Notes keep row order.
    ``mmt``: every note plays its instrument's program at velocity 64, 100 qpm, no drums.
    ``tuplet``: velocities are bin centres, drums are on the drum channel, and the tempo,
    time-signature and key rows give the maps. One track per program (mmt) or instrument
    (tuplet), numbered in code order.

    Args:
        codes: Integer array ``(n_events, len(config.fields))`` (floats holding whole
            numbers are accepted).
        config: The encoding the codes are in.

    Returns:
        The notes at ``config.resolution`` ticks per beat.

    Raises:
        TupletError: The array has the wrong shape or does not hold numbers.
    """
    if config.name == "mmt":
        return mmt.decode_mmt(codes, config)
    return extended.decode_tuplet(codes, config)


def quantise(notes: Notes, config: EncodingConfig) -> Notes:
    """Exactly what an encode-decode round trip keeps, computed without the codes.

    Resolution 12, duration snapping, dropped drums/programs/beats, de-duplication and note
    order as :func:`encode`; program, velocity, tracks and maps as :func:`decode`.

    Returns:
        A table equal (:meth:`Notes.equals`) to ``decode(encode(notes, config), config)``.
    """
    if config.name == "mmt":
        return mmt.quantise_mmt(notes, config)
    return extended.quantise_tuplet(notes, config)


ONSET_ORDERS: dict[str, tuple[str, ...]] = {
    "pitch": ("pitch", "duration", "instrument"),
    "instrument": ("instrument", "pitch", "duration"),
}
"""How the notes of one onset follow each other, by name: the fields they rise in, the first
the most significant (``pitch``: as :func:`encode` writes them)."""


def order_onsets(codes: np.ndarray, config: EncodingConfig, order: str) -> np.ndarray:
    """The codes with each onset's run of note rows sorted in an order of :data:`ONSET_ORDERS`.

    A run is consecutive note rows with the same beat and position; every other row keeps its
    place, and so does every run (only the rows inside a run move). ``pitch`` returns ``codes``
    itself when they were encoded so.

    Raises:
        UsageError: An unknown order.
    """
    if order not in ONSET_ORDERS:
        raise UsageError(f"unknown onset order {order!r} (choose from {', '.join(ONSET_ORDERS)})")
    rows = np.flatnonzero(codes[:, 0] == config.type_codes["note"])
    if len(rows) < 2:
        return codes
    notes = codes[rows]
    onset = notes[:, [config.field_index("beat"), config.field_index("position")]]
    starts = np.ones(len(rows), dtype=bool)
    starts[1:] = (np.diff(rows) != 1) | (onset[1:] != onset[:-1]).any(axis=1)
    run = np.cumsum(starts)
    keys = [notes[:, config.field_index(f)] for f in reversed(ONSET_ORDERS[order])]
    rest = [notes[:, j] for j in range(codes.shape[1]) if config.fields[j] not in
            ONSET_ORDERS[order]]  # fmt: skip
    perm = np.lexsort((*rest[::-1], *keys, run))
    if (perm == np.arange(len(rows))).all():
        return codes
    out = codes.copy()
    out[rows] = notes[perm]
    return out


def midi_reader_for(config: EncodingConfig) -> str:
    """The MIDI reader (``reader`` of :func:`tuplet.io.midi.read_midi`) an encoding reads with.

    ``mmt`` reads as MusPy does (``"muspy"``), because MMT's codes are defined on the notes
    MusPy reads: the MMT authors' pipeline reads every file with ``muspy.read``. On a file
    with a note that never ends, or a program change under a sounding note, symusic reads
    other notes (the note missing, or on the earlier program, which can double a note that
    another track also plays). ``tuplet`` reads with symusic (``"symusic"``).
    """
    return "muspy" if config.name == "mmt" else "symusic"


def _bar_start(notes: Notes, tick: int) -> int | None:
    """The tick where the bar holding ``tick`` starts, if the time-signature map says."""
    before = np.flatnonzero(notes.timesig_ticks <= tick)
    if len(before) == 0:
        return None
    i = before[-1]
    bar_ticks = 4 * notes.ticks_per_beat * int(notes.timesig_numerator[i])
    denominator = int(notes.timesig_denominator[i])
    if denominator <= 0 or bar_ticks % denominator:
        return None
    bar_ticks //= denominator
    start = int(notes.timesig_ticks[i])
    return start + (tick - start) // bar_ticks * bar_ticks


def shift_to_first_beat(notes: Notes, config: EncodingConfig) -> Notes:
    """Move a piece earlier so that the encoding's first note lies in beat 0 (or bar 0).

    The official MMT pipeline subtracts the first note's beat from every beat (whole beats,
    so positions within the beat stay); ``mmt`` does that. ``tuplet`` moves back to the start
    of the bar holding the first note when the time-signature map gives a whole number of
    ticks per bar, else by whole beats too. Only notes the encoding keeps count; notes it drops
    that would start before tick 0 are removed; map entries before 0 collapse onto 0.

    Args:
        notes: The piece, at any resolution.
        config: The encoding.

    Returns:
        The piece at ``config.resolution`` (see :func:`adjust_resolution`), shifted.
    """
    res = config.resolution
    n = adjust_resolution(notes, res)
    keep = mmt.kept_mask(n) if config.name == "mmt" else extended.kept_mask(n)
    if not keep.any():
        return n
    first = int(n.onset_ticks[keep].min())
    start = None if config.name == "mmt" else _bar_start(n, first)
    if start is None:
        start = first // res * res
    shifted = shift_ticks(n, -start)
    return shifted.select(shifted.onset_ticks >= 0)


# ----------------------------------------------------------------------------------- CSV
def codes_to_csv(codes: np.ndarray, config: EncodingConfig, path: str | os.PathLike[str]) -> Path:
    """Write codes as CSV: a header of field names, one row per event (gzipped if ``.gz``).

    The file is written beside ``path`` under a temporary name and renamed into place.

    Raises:
        TupletError: The codes do not have one column per field, or are not whole numbers.
    """
    from tuplet.io import atomic_output

    a = np.asarray(codes)
    check_codes(a[:0], config)  # shape and dtype only
    if a.dtype.kind == "f" and not np.array_equal(a, np.round(a)):
        raise TupletError(f"{config.name} codes must be whole numbers")
    buffer = io.StringIO()
    np.savetxt(
        buffer,
        a.astype(np.int64),
        fmt="%d",
        delimiter=",",
        header=",".join(config.fields),
        comments="",
    )
    data = buffer.getvalue().encode("utf-8")
    with atomic_output(path) as tmp:
        if str(path).endswith(".gz"):
            data = gzip.compress(data, mtime=0)
        tmp.write_bytes(data)
    return Path(path)


def codes_from_csv(path: str | os.PathLike[str], config: EncodingConfig) -> np.ndarray:
    """Read codes written by :func:`codes_to_csv` (or the official MMT ``save_csv_codes``).

    Returns:
        int64 array ``(n_events, len(config.fields))``.

    Raises:
        BadFileError: Missing or unreadable file, a header that is not the encoding's field
            names, or rows that are not integers in the right number of columns.
    """
    from tuplet.io import check_readable_file

    p = check_readable_file(path)
    try:
        raw = p.read_bytes()
        text = (gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw).decode("utf-8")
    except (OSError, EOFError, UnicodeDecodeError, gzip.BadGzipFile) as exc:
        raise BadFileError(path, f"cannot read codes: {exc}") from None
    lines = text.splitlines()
    header = lines[0].strip().split(",") if lines else []
    if header != list(config.fields):
        raise BadFileError(
            path,
            f"header {','.join(header) or '(none)'} is not the {config.name} encoding's "
            f"fields {','.join(config.fields)}",
        )
    body = [line for line in lines[1:] if line.strip()]
    if not body:
        return np.zeros((0, len(config.fields)), dtype=np.int64)
    try:
        a = np.loadtxt(body, dtype=np.int64, delimiter=",", ndmin=2)
    except ValueError as exc:
        raise BadFileError(path, f"codes must be integers: {exc}") from None
    if a.shape[1] != len(config.fields):
        raise BadFileError(path, f"rows have {a.shape[1]} values, the header {len(config.fields)}")
    return a
