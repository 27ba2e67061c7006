"""Augmentation that knows what instruments can play: range-keeping shifts, instrument swaps.

Two additions to MMT's augmentation, for the tuplet encoding (one instrument code per track):

* **Range-keeping pitch shift.** MMT shifts a whole song by -5..+6 semitones whatever its
  instruments are, so a violin part that reaches its open G string is shown to the model a
  fourth lower, below the instrument. :func:`shift_bounds` gives the shifts that keep every
  note of a ranged instrument that was inside its range inside it (notes already outside
  their range do not narrow the draw); the draw is uniform over those.
* **Instrument swaps.** A corpus has many cello parts and no bassoon. With probability
  ``swap_rate`` an example's melodic lines are offered to other line instruments: each
  eligible track (a line instrument of :data:`tuplet.instruments.LINE_INSTRUMENTS` with at most
  :data:`MAX_CHORD` notes at an onset) moves, with probability one half, to a line
  instrument not already in the piece whose playable range holds all its notes and whose
  polyphony covers its most notes at one onset. The notes are untouched: the model learns the
  new instrument's range from real parts that fit it. Drums, keyboards and everything else
  stay as written. Valid and test examples are never swapped.

Both are functions of code arrays and a numpy Generator, so runs repeat exactly.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from tuplet.instruments import LINE_INSTRUMENTS

if TYPE_CHECKING:
    from tuplet.encoding import EncodingConfig

MAX_CHORD = 2
"""A track with more notes than this at one onset is chords (a choir's, a section's): kept."""
SWAP_SHARE = 0.5
"""Chance that an eligible track of a swapped example moves to another instrument."""


@lru_cache(maxsize=8)
def _table(config: EncodingConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per instrument code: lowest and highest pitch, polyphony, and whether it may swap."""
    from tuplet.ranges import instrument_table

    table = instrument_table(config)
    names = config.instrument_names
    line = np.array([False, *(name in LINE_INSTRUMENTS for name in names)])
    ranged = ~table.is_drums & ((table.low > 0) | (table.high < 127))
    return table.low, table.high, table.polyphony, line & ranged


def shift_bounds(
    pitch: np.ndarray, instrument: np.ndarray, config: EncodingConfig, low: int, high: int
) -> tuple[int, int]:
    """The shifts in ``low..high`` that keep every in-range note of a ranged instrument in it.

    Args:
        pitch: MIDI pitches of the pitched notes (drums excluded).
        instrument: Their instrument codes.
        config: The encoding (its instrument table).
        low: Lowest shift wanted (semitones).
        high: Highest shift wanted.

    Returns:
        ``(low, high)`` narrowed; ``low > high`` when no shift but 0 would do (the caller
        then keeps the song where it is).
    """
    lo_t, hi_t, _, _ = _table(config)
    lo_n, hi_n = lo_t[instrument], hi_t[instrument]
    inside = (pitch >= lo_n) & (pitch <= hi_n)
    if inside.any():
        low = max(low, int((lo_n - pitch)[inside].max()))
        high = min(high, int((hi_n - pitch)[inside].min()))
    return low, high


def swap_instruments(
    codes: np.ndarray, config: EncodingConfig, rng: np.random.Generator
) -> np.ndarray:
    """Move eligible tracks to other line instruments that can play them (module docstring).

    Args:
        codes: A stored song, int ``(n, F)``: instrument rows, note rows and the rest.
        config: Its encoding.
        rng: The example's randomness.

    Returns:
        A new array: the moved tracks' notes and instrument rows recoded, the instrument rows
        kept in code order; an unchanged copy where nothing moved.
    """
    types = config.type_codes
    col = config.field_index("instrument")
    pitch_col = config.field_index("pitch")
    beat_col, pos_col = config.field_index("beat"), config.field_index("position")
    lo_t, hi_t, poly_t, line = _table(config)
    out = np.array(codes, dtype=np.int64)
    is_note = out[:, 0] == types["note"]
    written = out[:, col].copy()
    present = sorted(set(np.unique(written[is_note]).tolist()))
    taken = set(present)
    mapping: dict[int, int] = {}
    for code in present:
        if not line[code] or rng.random() >= SWAP_SHARE:
            continue
        rows = is_note & (written == code)
        pitch = out[rows, pitch_col] - 1
        _, at_onset = np.unique(out[rows, beat_col] * 4096 + out[rows, pos_col], return_counts=True)
        if at_onset.max() > MAX_CHORD:
            continue  # a section's or a choir's chords: no one player's part
        fits = (
            line
            & (lo_t <= int(pitch.min()))
            & (hi_t >= int(pitch.max()))
            & (poly_t >= int(at_onset.max()))
        )
        choices = [c for c in np.flatnonzero(fits).tolist() if c not in taken]
        if not choices:
            continue
        new = int(choices[int(rng.integers(len(choices)))])
        mapping[code] = new
        taken.discard(code)
        taken.add(new)
    if not mapping:
        return out
    for old, new in mapping.items():
        out[is_note & (written == old), col] = new
    is_instr = np.flatnonzero(out[:, 0] == types["instrument"])
    out[is_instr, col] = np.sort([mapping.get(int(c), int(c)) for c in written[is_instr]])
    return out
