"""The vocabularies the encodings share: instruments, durations, and the tuplet encoding's bins.

Every table here is a fact of the encoding (MMT's, or tuplet's own, as documented in
``docs/encoding.md``); every conversion is a vectorised numpy function of arrays of values.
"""

from __future__ import annotations

import numpy as np

from tuplet.errors import UsageError

# ------------------------------------------------------------------------------ instruments
# MMT's 64 instruments, in code order (code = position + 1): the name, the program it decodes
# to, and the General MIDI programs (0-based) it stands for. Programs listed nowhere are dropped.
_MMT_INSTRUMENTS: tuple[tuple[str, int, tuple[int, ...]], ...] = (
    ("piano", 0, (0, 1, 2, 3)),
    ("electric-piano", 4, (4, 5)),
    ("harpsichord", 6, (6,)),
    ("clavinet", 7, (7,)),
    ("celesta", 8, (8,)),
    ("glockenspiel", 9, (9,)),
    ("music-box", 10, (10,)),
    ("vibraphone", 11, (11,)),
    ("marimba", 12, (12,)),
    ("xylophone", 13, (13,)),
    ("tubular-bells", 14, (14,)),
    ("dulcimer", 15, (15,)),
    ("organ", 16, (16, 17, 18, 20)),
    ("church-organ", 19, (19,)),
    ("accordion", 21, (21,)),
    ("harmonica", 22, (22,)),
    ("bandoneon", 23, (23,)),
    ("nylon-string-guitar", 24, (24,)),
    ("steel-string-guitar", 25, (25,)),
    ("electric-guitar", 26, (26, 27, 28, 29, 30, 31)),
    ("bass", 32, (32,)),
    ("electric-bass", 33, (33, 34, 35)),
    ("slap-bass", 36, (36, 37)),
    ("synth-bass", 38, (38, 39)),
    ("violin", 40, (40, 110)),
    ("viola", 41, (41,)),
    ("cello", 42, (42,)),
    ("contrabass", 43, (43,)),
    ("harp", 46, (46,)),
    ("timpani", 47, (47,)),
    ("strings", 49, (44, 45, 48, 49)),
    ("synth-strings", 50, (50, 51)),
    ("voices", 52, (52, 53, 54)),
    ("orchestra-hit", 55, (55,)),
    ("trumpet", 56, (56, 59)),
    ("trombone", 57, (57,)),
    ("tuba", 58, (58,)),
    ("horn", 60, (60,)),
    ("brasses", 61, (61,)),
    ("synth-brasses", 62, (62, 63)),
    ("soprano-saxophone", 64, (64,)),
    ("alto-saxophone", 65, (65,)),
    ("tenor-saxophone", 66, (66,)),
    ("baritone-saxophone", 67, (67,)),
    ("oboe", 68, (68,)),
    ("english-horn", 69, (69,)),
    ("bassoon", 70, (70,)),
    ("clarinet", 71, (71,)),
    ("piccolo", 72, (72,)),
    ("flute", 73, (73,)),
    ("recorder", 74, (74,)),
    ("pan-flute", 75, (75,)),
    ("ocarina", 79, (79,)),
    ("lead", 80, tuple(range(80, 88))),
    ("pad", 88, tuple(range(88, 96))),
    ("sitar", 104, (104,)),
    ("banjo", 105, (105,)),
    ("shamisen", 106, (106,)),
    ("koto", 107, (107,)),
    ("kalimba", 108, (108,)),
    ("bag-pipe", 109, (109,)),
    ("shehnai", 111, (111,)),
    ("melodic-tom", 117, (117,)),
    ("synth-drums", 118, (118, 119)),
)

INSTRUMENT_NAMES: tuple[str, ...] = tuple(name for name, _, _ in _MMT_INSTRUMENTS)
"""MMT's 64 instrument names; instrument code ``c`` (1..64) is ``INSTRUMENT_NAMES[c - 1]``."""

DRUMS_NAME = "drums"
DRUMS_CODE = len(INSTRUMENT_NAMES) + 1
"""The tuplet encoding's 65th instrument: every percussion (channel 10) note."""

# The tuplet encoding gives most programs MMT drops the nearest instrument MMT has; the
# sound effects (120-127: fret noise, breath, seashore, birds, telephone, helicopter,
# applause, gunshot) have none and stay dropped.
_TUPLET_EXTRA_PROGRAMS: dict[int, str] = {
    76: "pan-flute",  # blown bottle
    77: "flute",  # shakuhachi
    78: "piccolo",  # whistle
    **dict.fromkeys(range(96, 104), "pad"),  # synth effects 1-8
    112: "glockenspiel",  # tinkle bell
    113: "melodic-tom",  # agogo
    114: "marimba",  # steel drums
    115: "melodic-tom",  # woodblock
    116: "timpani",  # taiko drum
}


def _program_table(extra: dict[int, str]) -> np.ndarray:
    table = np.zeros(128, dtype=np.int64)
    for code, (_, _, programs) in enumerate(_MMT_INSTRUMENTS, start=1):
        table[list(programs)] = code
    for program, name in extra.items():
        table[program] = INSTRUMENT_NAMES.index(name) + 1
    return table


MMT_PROGRAM_INSTRUMENT = _program_table({})
"""Instrument code of each program 0..127 in MMT (0 = dropped)."""
TUPLET_PROGRAM_INSTRUMENT = _program_table(_TUPLET_EXTRA_PROGRAMS)
"""Instrument code of each melodic program 0..127 in the tuplet encoding (0 = dropped)."""
INSTRUMENT_PROGRAM = np.array(
    [-1] + [program for _, program, _ in _MMT_INSTRUMENTS] + [0], dtype=np.int64
)
"""Program each instrument code decodes to (index 0 unused; the drums decode to program 0)."""


def instrument_of_program(program: np.ndarray | int, extended: bool = False) -> np.ndarray:
    """The instrument code (1..64) of General MIDI programs; 0 where the program is dropped.

    Args:
        program: Programs 0..127 (any shape); values outside that range give 0.
        extended: False for MMT's table, True for the tuplet encoding's (which also gives
            most of the programs MMT drops an instrument). Drums are not programs: the
            tuplet encoding gives every percussion note the code ``DRUMS_CODE``.

    Returns:
        int64 codes, same shape.
    """
    p = np.asarray(program, dtype=np.int64)
    table = TUPLET_PROGRAM_INSTRUMENT if extended else MMT_PROGRAM_INSTRUMENT
    return np.where((p >= 0) & (p < 128), table[np.clip(p, 0, 127)], 0)


def program_of_instrument(code: int) -> int:
    """The General MIDI program an instrument code decodes to (drums: 0, on the drum channel).

    Args:
        code: 1..64, or ``DRUMS_CODE`` (65).

    Returns:
        The program, 0..127.

    Raises:
        UsageError: The code is not an instrument code.
    """
    if not 1 <= int(code) < len(INSTRUMENT_PROGRAM):
        raise UsageError(f"instrument code must be 1..{len(INSTRUMENT_PROGRAM) - 1}, got {code}")
    return int(INSTRUMENT_PROGRAM[int(code)])


# -------------------------------------------------------------------------------- durations
KNOWN_DURATIONS_TICKS = np.array(
    [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 15, 16, 18, 20, 21, 24,
     30, 36, 40, 42, 48, 60, 72, 84, 96, 120, 144, 168, 192, 384],
    dtype=np.int64,
)  # fmt: skip
"""MMT's 32 durations, in ticks at 12 ticks per beat; duration code ``c`` is entry ``c - 1``."""
MAX_DURATION_TICKS = 384
# code of every duration 0..384: the nearest known duration, the smaller one on a tie (argmin
# returns the first minimum), so 0 -> 1 tick
_DURATION_CODE = (
    np.abs(KNOWN_DURATIONS_TICKS[None, :] - np.arange(MAX_DURATION_TICKS + 1)[:, None]).argmin(1)
    + 1
)


def duration_code(duration_ticks: np.ndarray) -> np.ndarray:
    """Duration codes 1..32 of durations in ticks at 12 ticks per beat.

    Durations are clipped to 0..384, then snapped to the nearest of the 32 known durations
    (ties go to the smaller; 0 becomes 1 tick).
    """
    d = np.clip(np.asarray(duration_ticks, dtype=np.int64), 0, MAX_DURATION_TICKS)
    return _DURATION_CODE[d]


# ------------------------------------------------------------------------- velocity (tuplet)
def velocity_code(velocity: np.ndarray, bins: int) -> np.ndarray:
    """Velocity codes 1..bins: 1..127 cut into ``bins`` bins of (nearly) equal width.

    Velocities below 1 count as 1, above 127 as 127.
    """
    v = np.clip(np.asarray(velocity, dtype=np.int64), 1, 127)
    return 1 + (v - 1) * bins // 127


def velocity_centres(bins: int) -> np.ndarray:
    """The velocity each code decodes to (index = code; index 0 unused): its bin's middle."""
    v = np.arange(1, 128)
    code = velocity_code(v, bins)
    low = np.full(bins + 1, 127)
    high = np.zeros(bins + 1, dtype=np.int64)
    np.minimum.at(low, code, v)
    np.maximum.at(high, code, v)
    centres = (low + high) // 2
    centres[0] = 0
    return centres


# ---------------------------------------------------------------------------- tempo (tuplet)
TEMPO_ANCHOR_QPM = 120.0
"""Tempo bins are centred on ``120 * 2 ** (k / bins_per_octave)``: 60, 120 and 240 are exact."""


def tempo_steps(bins_per_octave: int, min_qpm: float, max_qpm: float) -> tuple[int, int]:
    """The smallest and largest ``k`` whose bin centre lies in ``min_qpm..max_qpm``."""
    low = int(np.ceil(bins_per_octave * np.log2(min_qpm / TEMPO_ANCHOR_QPM) - 1e-9))
    high = int(np.floor(bins_per_octave * np.log2(max_qpm / TEMPO_ANCHOR_QPM) + 1e-9))
    return low, high


def tempo_code(qpm: np.ndarray, bins_per_octave: int, min_qpm: float, max_qpm: float) -> np.ndarray:
    """Tempo codes (1..n): the nearest bin centre on a log scale, clipped to the range.

    Tempos that are not positive finite numbers get code 0 (no tempo).
    """
    q = np.asarray(qpm, dtype=np.float64)
    low, high = tempo_steps(bins_per_octave, min_qpm, max_qpm)
    ok = np.isfinite(q) & (q > 0)
    k = np.round(bins_per_octave * np.log2(np.where(ok, q, TEMPO_ANCHOR_QPM) / TEMPO_ANCHOR_QPM))
    return np.where(ok, np.clip(k, low, high).astype(np.int64) - low + 1, 0)


def tempo_centres(bins_per_octave: int, min_qpm: float, max_qpm: float) -> np.ndarray:
    """The tempo in qpm each code decodes to (index = code; index 0 unused, 0.0)."""
    low, high = tempo_steps(bins_per_octave, min_qpm, max_qpm)
    k = np.arange(low, high + 1)
    return np.concatenate([[0.0], TEMPO_ANCHOR_QPM * 2.0 ** (k / bins_per_octave)])


# ---------------------------------------------------------------------------- meter (tuplet)
MAX_NUMERATOR = 16
DENOMINATORS = np.array([1, 2, 4, 8, 16, 32], dtype=np.int64)
N_METERS = MAX_NUMERATOR * len(DENOMINATORS)


def meter_code(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """Meter codes ``1 + (numerator - 1) * 6 + index of the denominator in 1, 2, 4, ... 32``.

    Time signatures outside 1..16 over 1, 2, 4, 8, 16 or 32 get code 0 (not encodable).
    """
    num = np.asarray(numerator, dtype=np.int64)
    den = np.asarray(denominator, dtype=np.int64)
    index = np.searchsorted(DENOMINATORS, den)
    index_ok = np.clip(index, 0, len(DENOMINATORS) - 1)
    ok = (num >= 1) & (num <= MAX_NUMERATOR) & (DENOMINATORS[index_ok] == den)
    return np.where(ok, 1 + (num - 1) * len(DENOMINATORS) + index_ok, 0)


def meter_of_code(code: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(numerator, denominator) of meter codes 1..96."""
    c = np.asarray(code, dtype=np.int64) - 1
    return c // len(DENOMINATORS) + 1, DENOMINATORS[c % len(DENOMINATORS)]


# ------------------------------------------------------------------------------ key (tuplet)
N_KEYS = 30


def key_code(fifths: np.ndarray, mode: np.ndarray) -> np.ndarray:
    """Key codes ``1 + (fifths + 7) * 2 + mode`` (fifths -7..7, mode 0 major / 1 minor); else 0."""
    f = np.asarray(fifths, dtype=np.int64)
    m = np.asarray(mode, dtype=np.int64)
    ok = (f >= -7) & (f <= 7) & ((m == 0) | (m == 1))
    return np.where(ok, 1 + (f + 7) * 2 + m, 0)


def key_of_code(code: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(fifths, mode) of key codes 1..30."""
    c = np.asarray(code, dtype=np.int64) - 1
    return c // 2 - 7, c % 2
