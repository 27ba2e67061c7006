"""The MMT encoding, exactly as the official Multitrack Music Transformer code builds it.

Rows are ``(type, beat, position, pitch, duration, instrument)``. The rules, each checked
against the official code on real files by ``tests/test_encoding.py``:

* times are at 12 ticks per beat, converted as MusPy's ``adjust_resolution`` does
  (:func:`tuplet.notes.to_resolution`: onsets and ends rounded), and zero durations become
  1 tick (the official conversion step);
* drum notes and programs without an MMT instrument are dropped;
* notes are de-duplicated and sorted as ``(onset, pitch, duration, program)`` rows, with the
  duration in ticks *before* snapping and the MIDI program (not the instrument), so two notes
  that differ only in program or in a duration that snaps to the same code both stay;
* the instrument rows list the instruments of every kept note, including notes past
  ``max_beat``; notes at beat ``>= max_beat`` then get no row;
* durations are clipped to 384 ticks and snapped to the nearest known duration (ties to the
  smaller).
"""

from __future__ import annotations

import numpy as np

from tuplet.encoding import vocab
from tuplet.encoding.config import EncodingConfig, check_codes, valid_rows
from tuplet.notes import Notes
from tuplet.notes import to_resolution as adjust_resolution

MMT_DECODE_QPM = 100.0
"""Decoded MMT pieces play at this fixed tempo, as the official decoder writes them."""
MMT_DECODE_VELOCITY = 64
"""Decoded MMT notes get MusPy's default velocity (the encoding has none)."""


def kept_mask(notes: Notes) -> np.ndarray:
    """Notes MMT keeps: not drums, a program with an instrument, pitch 0..127, onset >= 0."""
    return (
        ~notes.is_drum
        & (vocab.instrument_of_program(notes.program) > 0)
        & (notes.pitch >= 0)
        & (notes.pitch <= 127)
        & (notes.onset_ticks >= 0)
    )


def note_rows(notes: Notes) -> tuple[np.ndarray, ...]:
    """MMT's note list of a table at 12 ticks per beat, before the ``max_beat`` cut.

    Returns:
        ``(onset_ticks, pitch, duration_ticks, program, instrument)``: int64 arrays of the
        de-duplicated ``(onset, pitch, duration, program)`` rows in lexicographic order,
        durations of 0 made 1 (not yet snapped).
    """
    keep = kept_mask(notes)
    onset = notes.onset_ticks[keep]
    pitch = notes.pitch[keep].astype(np.int64)
    duration = np.maximum(notes.duration_ticks[keep], 1)
    program = notes.program[keep].astype(np.int64)
    # two int64 keys, (onset, pitch) and (duration, program), 7 bits for pitch and program
    major, minor = onset << 7 | pitch, duration << 7 | program
    order = np.lexsort((minor, major))
    major, minor = major[order], minor[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = (major[1:] != major[:-1]) | (minor[1:] != minor[:-1])
    order = order[first]
    onset, pitch, duration, program = onset[order], pitch[order], duration[order], program[order]
    return onset, pitch, duration, program, vocab.instrument_of_program(program)


def encode_mmt(notes: Notes, config: EncodingConfig) -> np.ndarray:
    """Encode a table with the MMT encoding (see the module docstring for the rules)."""
    res = config.resolution
    onset, pitch, duration, _, instrument = note_rows(adjust_resolution(notes, res))
    types = config.type_codes
    instruments = np.unique(instrument)
    keep = onset // res < config.max_beat
    onset = onset[keep]
    n_notes, n_instruments = len(onset), len(instruments)

    codes = np.zeros((n_instruments + n_notes + 3, 6), dtype=np.int64)
    codes[0, 0] = types["start-of-song"]
    codes[1 : 1 + n_instruments, 0] = types["instrument"]
    codes[1 : 1 + n_instruments, 5] = instruments
    codes[1 + n_instruments, 0] = types["start-of-notes"]
    body = codes[2 + n_instruments : 2 + n_instruments + n_notes]
    body[:, 0] = types["note"]
    body[:, 1] = onset // res + 1
    body[:, 2] = onset % res + 1
    body[:, 3] = pitch[keep] + 1
    body[:, 4] = vocab.duration_code(duration[keep])
    body[:, 5] = instrument[keep]
    codes[-1, 0] = types["end-of-song"]
    return codes


def _assemble(
    config: EncodingConfig,
    onset: np.ndarray,
    pitch: np.ndarray,
    duration: np.ndarray,
    program: np.ndarray,
) -> Notes:
    """The decoded table: one track per program (in program order), 100 qpm, velocity 64."""
    _, track = np.unique(program, return_inverse=True)
    return Notes(
        ticks_per_beat=config.resolution,
        onset_ticks=onset,
        duration_ticks=duration,
        pitch=pitch,
        velocity=np.full(len(onset), MMT_DECODE_VELOCITY),
        program=program,
        is_drum=np.zeros(len(onset), dtype=bool),
        track=track.reshape(-1),
        tempo_ticks=np.zeros(1, dtype=np.int64),
        tempo_qpm=np.array([MMT_DECODE_QPM]),
    )


def decode_mmt(codes: np.ndarray, config: EncodingConfig) -> Notes:
    """Decode MMT codes: the note rows, in row order, up to the first end-of-song.

    Note rows with a code out of range in any of their fields are skipped; other rows are
    ignored. Each instrument plays its one decoding program.
    """
    rows = check_codes(codes, config)
    rows = rows[valid_rows(rows, config, "note")]
    res = config.resolution
    return _assemble(
        config,
        onset=(rows[:, 1] - 1) * res + rows[:, 2] - 1,
        pitch=rows[:, 3] - 1,
        duration=vocab.KNOWN_DURATIONS_TICKS[rows[:, 4] - 1],
        program=vocab.INSTRUMENT_PROGRAM[rows[:, 5]],
    )


def quantise_mmt(notes: Notes, config: EncodingConfig) -> Notes:
    """What survives an MMT encode and decode, computed straight from the notes."""
    res = config.resolution
    onset, pitch, duration, _, instrument = note_rows(adjust_resolution(notes, res))
    keep = onset // res < config.max_beat
    return _assemble(
        config,
        onset=onset[keep],
        pitch=pitch[keep],
        duration=vocab.KNOWN_DURATIONS_TICKS[vocab.duration_code(duration[keep]) - 1],
        program=vocab.INSTRUMENT_PROGRAM[instrument[keep]],
    )


def mmt_filter_reason(
    notes: Notes, *, min_beats: float = 40, max_beats: float = 8000, min_notes: int = 50
) -> str | None:
    """Why the MMT paper's corpus filters would drop a piece, or None if it passes.

    The official pipeline, at 12 ticks per beat: a piece whose end (the last note end, or the
    last tempo, time or key signature if later; zero durations count as 1 tick) lies past
    ``max_beats`` or before ``min_beats`` beats is dropped (exactly 40 and exactly 8000 pass);
    then a piece with fewer than ``min_notes`` distinct MMT notes (drums and dropped programs
    not counted; duplicates counted once) is dropped.

    Args:
        notes: The piece, at any resolution.
        min_beats: Shortest length kept, in beats.
        max_beats: Longest length kept, in beats.
        min_notes: Fewest notes kept.

    Returns:
        A short reason (e.g. ``"shorter than 40 beats (36 beats)"``), or None.
    """
    res = 12
    n = adjust_resolution(notes, res)
    ends = [n.onset_ticks + np.maximum(n.duration_ticks, 1), n.tempo_ticks, n.timesig_ticks]
    ends.append(n.key_ticks)
    end_ticks = int(max((e.max() for e in ends if len(e)), default=0))
    if end_ticks > max_beats * res:
        return f"longer than {max_beats:g} beats ({end_ticks / res:g} beats)"
    if end_ticks < min_beats * res:
        return f"shorter than {min_beats:g} beats ({end_ticks / res:g} beats)"
    count = len(note_rows(n)[0])
    if count < min_notes:
        return f"fewer than {min_notes} notes ({count} notes)"
    return None
