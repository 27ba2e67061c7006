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
  instrument not already in the piece that takes it (:func:`takes`: its range holds every
  note, its middle the line's median) and whose polyphony covers its most notes at one
  onset. The notes are untouched: the model learns the new instrument's range from real parts
  that fit it. Drums, keyboards and everything else
  stay as written. Valid and test examples are never swapped.
* **A choir's parts on instruments** (colla parte, as Bach's cantatas double their chorales'
  voices with oboes, strings and trombones). Most of a chorale corpus's lines are sung in one
  choir track, chords that no swap can move. :func:`split_choir` separates such a track into
  its voices (each note to the voice it continues, by pitch, with no voice sounding two notes
  at once) and gives every voice its own line instrument that takes it (as swaps do):
  soprano lines become flutes, oboes and violins, bass lines bassoons and cellos, and the
  model sees the winds the corpus barely has, in their ranges. Most splits (``ENSEMBLE_SHARE``)
  score the voices for one of the ensembles an arranger would (:data:`ENSEMBLES`: a string
  quartet, a wind quartet, a brass or saxophone quartet), highest voice to highest
  instrument, so the model hears each ensemble it may be asked for with its bass line at the
  bottom; the rest, and choirs no ensemble can play, go to instruments drawn one by one. Off
  by default (``choir_rate``); the shipped default model was fine-tuned with it at 0.25
  (docs/default-model.md). With ``ensemble_shifts`` an ensemble that cannot play the voices
  where they are may play them transposed: the whole piece moves by a shift in that span
  that puts every voice in its instrument's range (and keeps the piece's other parts in
  theirs); an ensemble that can play them untransposed does so.

All are functions of code arrays and a numpy Generator, so runs repeat exactly.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from tuplet.instruments import LINE_INSTRUMENTS

if TYPE_CHECKING:
    from tuplet.encoding import EncodingConfig

LOW_EDGE = 0.2
"""Share of an instrument's range, at the bottom, that a moved line's median may not fall in."""
HIGH_EDGE = 0.35
"""The same at the top (the top of a range is further from where a player is at home)."""
MAX_VOICES = 5
"""A choir track sounding more notes than this at once is not split into lines."""
MAX_REST_BEATS = 4
"""A choir is split only if no voice rests longer than this (from the choir's first note to its
last): a voice that sings now and then (a divisi, a held note overlapping the next chord) would
be a line instrument with long silences (with this rule, a model fine-tuned with the split left
itself less silence, docs/default-model.md)."""
MAX_CHORD = 2
"""A track with more notes than this at one onset is chords (a choir's, a section's): kept."""
SWAP_SHARE = 0.5
"""Chance that an eligible track of a swapped example moves to another instrument."""
ENSEMBLES: dict[int, tuple[tuple[str, ...], ...]] = {
    2: (("violin", "cello"), ("flute", "bassoon"), ("oboe", "bassoon"), ("trumpet", "trombone")),
    3: (
        ("violin", "viola", "cello"),
        ("flute", "clarinet", "bassoon"),
        ("oboe", "clarinet", "bassoon"),
        ("trumpet", "horn", "trombone"),
    ),
    4: (
        ("violin", "violin", "viola", "cello"),
        ("flute", "oboe", "clarinet", "bassoon"),
        ("trumpet", "horn", "trombone", "tuba"),
        ("soprano-saxophone", "alto-saxophone", "tenor-saxophone", "baritone-saxophone"),
    ),
    5: (
        ("violin", "violin", "viola", "cello", "contrabass"),
        ("flute", "oboe", "clarinet", "horn", "bassoon"),
    ),
}
"""Ensembles a choir of so many voices may be scored for, highest voice first (encoding
names). Two voices on one instrument share its track, as a string quartet's two violins do in
this encoding; only an instrument that sounds two notes at once may take two."""
ENSEMBLE_SHARE = 0.75
"""Chance that a split choir is scored for an ensemble of :data:`ENSEMBLES` (one that can play
it) rather than instruments drawn voice by voice."""


@lru_cache(maxsize=8)
def _table(config: EncodingConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per instrument code: lowest and highest pitch, polyphony, and whether it may swap."""
    from tuplet.ranges import instrument_table

    table = instrument_table(config)
    names = config.instrument_names
    line = np.array([False, *(name in LINE_INSTRUMENTS for name in names)])
    ranged = ~table.is_drums & ((table.low > 0) | (table.high < 127))
    return table.low, table.high, table.polyphony, line & ranged


def takes(pitch: np.ndarray, config: EncodingConfig) -> np.ndarray:
    """Per instrument code: whether it is a line instrument that can take this line.

    Its range holds every note, and its middle holds the line's median pitch: above the lowest
    :data:`LOW_EDGE` and below the highest :data:`HIGH_EDGE` of its range, so a line lands
    where the instrument plays it in its own voice (a chorale's soprano is a flute's or a
    violin's line, not a cello's at the top of its range).
    """
    lo_t, hi_t, _, line = _table(config)
    span = hi_t - lo_t
    middle = float(np.median(pitch))
    return (
        line
        & (lo_t <= int(pitch.min()))
        & (hi_t >= int(pitch.max()))
        & (lo_t + LOW_EDGE * span <= middle)
        & (middle <= hi_t - HIGH_EDGE * span)
    )


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
    _, _, poly_t, line = _table(config)
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
        fits = takes(pitch, config) & (poly_t >= int(at_onset.max()))
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
    return _reheaded(out, config)


def _times(out: np.ndarray, config: EncodingConfig) -> tuple[np.ndarray, np.ndarray]:
    """Onset and end, in ticks, of the rows ``out`` (note rows)."""
    from tuplet.encoding.vocab import KNOWN_DURATIONS_TICKS

    res = config.resolution
    onset = (
        (out[:, config.field_index("beat")] - 1) * res + out[:, config.field_index("position")] - 1
    )
    duration = KNOWN_DURATIONS_TICKS[np.maximum(out[:, config.field_index("duration")], 1) - 1]
    return onset, onset + duration


def voice_lines(onset: np.ndarray, end: np.ndarray, pitch: np.ndarray) -> np.ndarray | None:
    """Each note's voice, 0 the highest, for notes sorted by onset: a track taken apart in lines.

    The number of voices is the most notes the track sounds at once. Notes struck together go,
    highest to the highest, to voices that are free then (their last note has ended), choosing
    the voices whose last pitches are nearest; before a voice has sung, its pitch is its share
    of the track's range (the top voice the track's upper quantile). Voices may cross only
    where that is nearest.

    Returns:
        Voice numbers, or None where the track sounds one note at a time or more than
        :data:`MAX_VOICES`, or strikes more notes at once than voices are free.
    """
    from itertools import combinations

    ticks = np.concatenate([onset, end])
    step = np.concatenate([np.ones(len(onset), np.int64), -np.ones(len(end), np.int64)])
    order = np.lexsort((step, ticks))  # at one tick, ends before starts
    k = int(np.cumsum(step[order]).max()) if len(onset) else 0
    if not 2 <= k <= MAX_VOICES:
        return None
    last = np.percentile(pitch, [100.0 * (k - v - 0.5) / k for v in range(k)])
    busy = np.full(k, np.iinfo(np.int64).min)
    voice = np.empty(len(onset), dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, onset[1:] != onset[:-1]])
    for i, j in zip(starts, [*starts[1:], len(onset)], strict=True):
        group = i + np.argsort(-pitch[i:j], kind="stable")
        free = [v for v in range(k) if busy[v] <= onset[i]]
        if len(group) > len(free):
            return None
        best = min(
            combinations(free, len(group)),
            key=lambda vs: float(np.abs(pitch[group] - last[list(vs)]).sum()),
        )
        voice[group] = best
        busy[list(best)] = end[group]
        last[list(best)] = pitch[group]
    return voice


def longest_rest(onset: np.ndarray, end: np.ndarray, voice: np.ndarray) -> int:
    """The longest time any voice is silent between the first onset and the last end, in ticks.

    Counts a voice's rests before its first note and after its last one, as well as between
    its notes.
    """
    first, last = int(onset.min()), int(end.max())
    longest = 0
    for v in np.unique(voice):
        on, off = onset[voice == v], np.maximum.accumulate(end[voice == v])
        rests = np.concatenate([[on[0] - first], on[1:] - off[:-1], [last - off[-1]]])
        longest = max(longest, int(rests.max()))
    return longest


def split_choir(
    codes: np.ndarray,
    config: EncodingConfig,
    rng: np.random.Generator,
    ensemble_shifts: tuple[int, int] = (0, 0),
) -> np.ndarray:
    """A choir's voices on line instruments (module docstring).

    Args:
        codes: A stored song, int ``(n, F)``.
        config: Its encoding (one with a ``voices`` instrument).
        rng: The example's randomness.
        ensemble_shifts: Lowest and highest transposition (semitones) that may let an
            ensemble play the voices; ``(0, 0)``: none.

    Returns:
        A new array: the choir's notes recoded voice by voice to instruments not already in
        the piece: an ensemble's (:func:`ensemble_for`) or, one by one, instruments that take
        each voice (:func:`takes`); an unchanged copy where the piece has no choir, the choir
        is not separable into lines, a voice rests longer than :data:`MAX_REST_BEATS`, or some
        voice has no instrument left to take it.
    """
    out = np.array(codes, dtype=np.int64)
    names = config.instrument_names
    if "voices" not in names:
        return out
    choir = names.index("voices") + 1
    col, pitch_col = config.field_index("instrument"), config.field_index("pitch")
    rows = np.flatnonzero((out[:, 0] == config.type_codes["note"]) & (out[:, col] == choir))
    if not len(rows):
        return out
    onset, end = _times(out[rows], config)
    pitch = out[rows, pitch_col] - 1
    voice = voice_lines(onset, end, pitch)
    if voice is None or longest_rest(onset, end, voice) > MAX_REST_BEATS * config.resolution:
        return out
    taken = set(out[out[:, 0] == config.type_codes["note"], col].tolist())
    lines = [pitch[voice == v] for v in range(int(voice.max()) + 1)]
    if rng.random() < ENSEMBLE_SHARE:
        shifts = _shifts_for_rest(out, rows, config, ensemble_shifts)
        scored = ensemble_for(lines, taken, config, rng, shifts)
        if scored is not None:
            out[rows, col] = np.asarray(scored[0])[voice]
            _transpose(out, config, scored[1])
            return _reheaded(out, config)
    codes_of_voice = []
    for v in range(len(lines)):
        fits = takes(lines[v], config)
        choices = [c for c in np.flatnonzero(fits).tolist() if c not in taken]
        if not choices:
            return out  # not written to yet: the unchanged copy
        new = int(choices[int(rng.integers(len(choices)))])
        taken.add(new)
        codes_of_voice.append(new)
    out[rows, col] = np.asarray(codes_of_voice)[voice]
    return _reheaded(out, config)


def _shifts_for_rest(
    out: np.ndarray, choir_rows: np.ndarray, config: EncodingConfig, shifts: tuple[int, int]
) -> tuple[int, int]:
    """``shifts`` narrowed to those that keep the rest of the piece where it can be.

    The piece's other pitched notes stay in 0..127, and its ranged instruments' in-range notes
    in range.
    """
    from tuplet.encoding import DRUMS_CODE

    if shifts == (0, 0):
        return shifts
    col, pitch_col = config.field_index("instrument"), config.field_index("pitch")
    rest = (out[:, 0] == config.type_codes["note"]) & (out[:, col] != DRUMS_CODE)
    rest[choir_rows] = False
    if not rest.any():
        return shifts
    pitch, instrument = out[rest, pitch_col] - 1, out[rest, col]
    low, high = max(shifts[0], -int(pitch.min())), min(shifts[1], 127 - int(pitch.max()))
    return shift_bounds(pitch, instrument, config, low, high)


def _transpose(out: np.ndarray, config: EncodingConfig, shift: int) -> None:
    """Move every pitched note (and the key rows) ``shift`` semitones, in place."""
    if not shift:
        return
    from tuplet.encoding import DRUMS_CODE
    from tuplet.training.dataset import _transpose_keys

    note = out[:, 0] == config.type_codes["note"]
    note &= out[:, config.field_index("instrument")] != DRUMS_CODE
    out[note, config.field_index("pitch")] += shift
    if "key" in config.type_codes:
        is_key = out[:, 0] == config.type_codes["key"]
        key_col = config.field_index("key")
        out[is_key, key_col] = _transpose_keys(out[is_key, key_col], shift)


def ensemble_for(
    lines: list[np.ndarray],
    taken: set[int],
    config: EncodingConfig,
    rng: np.random.Generator,
    shifts: tuple[int, int] = (0, 0),
) -> tuple[list[int], int] | None:
    """Instrument codes for voices, highest first, from one ensemble of :data:`ENSEMBLES`.

    An ensemble can play the voices if each voice's every note is in its instrument's range,
    as written or moved by a shift in ``shifts`` (semitones, both ends included), none of its
    instruments is already in the piece (``taken``), and an instrument given two voices sounds
    two notes at once. Of those that can, one is drawn; it plays the voices as written if it
    can, else moved by a shift drawn among those that fit.

    Returns:
        One code per voice and the shift, or None where no ensemble of that size can play them.
    """
    from tuplet.encoding.config import instrument_code

    lo_t, hi_t, poly_t, _ = _table(config)
    fitting: list[tuple[list[int], int, int]] = []
    for ensemble in ENSEMBLES.get(len(lines), ()):
        if any(name not in config.instrument_names for name in ensemble):
            continue
        codes = [instrument_code(name, config) for name in ensemble]
        if any(c in taken or poly_t[c] < codes.count(c) for c in codes):
            continue
        pairs = list(zip(codes, lines, strict=True))
        low = max(shifts[0], *(int(lo_t[c]) - int(p.min()) for c, p in pairs))
        high = min(shifts[1], *(int(hi_t[c]) - int(p.max()) for c, p in pairs))
        if low <= high:
            fitting.append((codes, low, high))
    if not fitting:
        return None
    codes, low, high = fitting[int(rng.integers(len(fitting)))]
    return codes, 0 if low <= 0 <= high else int(rng.integers(low, high + 1))


def _reheaded(out: np.ndarray, config: EncodingConfig) -> np.ndarray:
    """A song whose notes changed instruments, with its instrument rows and event order remade.

    The instrument rows name the instruments that play, by code; the timed events are sorted
    by ``(beat, position, type, pitch, duration, instrument)`` again (the encoding's order).
    """
    types = config.type_codes
    col = config.field_index("instrument")
    is_note = out[:, 0] == types["note"]
    head = np.flatnonzero(out[:, 0] == types["instrument"])
    playing = np.unique(out[is_note, col])
    rows = np.zeros((len(playing), out.shape[1]), dtype=np.int64)
    rows[:, 0], rows[:, col] = types["instrument"], playing
    at = int(head[0]) if len(head) else int(np.flatnonzero(out[:, 0] == types["start-of-notes"])[0])
    out = np.concatenate([out[:at], rows, np.delete(out[at:], head - at, axis=0)])
    timed = np.flatnonzero(out[:, config.field_index("beat")] > 0)
    keys = [out[timed, config.field_index(f)] for f in
            ("instrument", "duration", "pitch", "type", "position", "beat")]  # fmt: skip
    out[timed] = out[timed[np.lexsort(keys)]]
    return out
