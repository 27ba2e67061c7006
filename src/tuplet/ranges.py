"""What each instrument can play: its pitch range and how many notes it sounds at once.

One row per General MIDI program (0-based), in sounding MIDI pitches (middle C = 60), and one
for the drum kit. The sampler's rules ``range``, ``polyphony`` and ``drums``
(:mod:`tuplet.generation.constraints`) and the whole-piece measures
(:mod:`tuplet.analysis.metrics`) read them
through :func:`instrument_table`, which gives each instrument code of an encoding the union
of its programs' ranges and the largest of their polyphonies.

Sources: the orchestral instruments' sounding ranges as orchestration texts give them (S.
Adler, *The Study of Orchestration*, 3rd ed., 2002: the professional range, the top extended
by a few semitones where players reach it); fretted and keyboard instruments from their
standard tunings and compasses (guitar E2 with 22-24 frets, 4- and 5-string bass, the 88-key
piano); voices from the SATB choir's compass (bass E2 to soprano C6, a few semitones more each
way); synthesizers, pads and sound effects have no physical limit and keep the MIDI range.
Polyphony: 1 for winds and brass played by one player, 4 for bowed strings (a quadruple
stop), 6 for guitars (strings), 2 for basses and mallets played with two mallets, 10 for
keyboards and harps (two hands), 16 for ensembles (a section or a choir), 6 for the drum kit
(limbs and simultaneous hits).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from tuplet.encoding.config import EncodingConfig

MIDI_RANGE = (0, 127)
DRUM_KIT_KEYS = (35, 81)
"""The General MIDI percussion map: acoustic bass drum (35) to open triangle (81)."""
DRUM_POLYPHONY = 6
POLYPHONY_SLOTS = 16
"""Sounding notes the sampler tracks per instrument: polyphonies of 16 or more are not limited."""
DRUM_MAX_DURATION_TICKS = 12
"""The longest drum note the ``drums`` rule allows, at 12 ticks per beat (one beat): a hit."""


class Playable(NamedTuple):
    """What one program can play: sounding pitches ``low..high`` and notes at once."""

    low: int
    high: int
    polyphony: int


def _rows() -> list[Playable]:
    t: dict[int, Playable] = {}

    def put(programs: range | tuple[int, ...], low: int, high: int, poly: int) -> None:
        for p in programs:
            t[p] = Playable(low, high, poly)

    put(range(0, 4), 21, 108, 10)  # pianos: A0..C8
    put((4, 5), 28, 103, 10)  # electric pianos
    put((6,), 29, 89, 10)  # harpsichord F1..F6
    put((7,), 29, 88, 10)  # clavinet
    put((8,), 60, 108, 6)  # celesta (sounding C4..C8)
    put((9,), 79, 108, 2)  # glockenspiel (sounding G5..C8)
    put((10,), 60, 108, 4)  # music box
    put((11,), 53, 89, 4)  # vibraphone F3..F6
    put((12,), 45, 96, 4)  # marimba A2..C7
    put((13,), 65, 108, 2)  # xylophone (sounding F4..C8)
    put((14,), 60, 77, 2)  # tubular bells C4..F5
    put((15,), 48, 91, 4)  # dulcimer
    put((16, 17, 18, 19, 20), 24, 96, 10)  # organs: pedal C1, manuals to C7
    put((21,), 28, 93, 10)  # accordion (bass side and treble side)
    put((22,), 60, 96, 4)  # harmonica C4..C7
    put((23,), 33, 93, 10)  # bandoneon
    put((24,), 40, 83, 6)  # nylon-string guitar E2..B5
    put((25,), 40, 86, 6)  # steel-string guitar E2..D6
    put(range(26, 32), 40, 88, 6)  # electric guitars E2..E6 (24 frets)
    put((32,), 28, 67, 2)  # acoustic (double) bass E1..G4
    put(range(33, 38), 23, 67, 2)  # electric and slap basses: B0 (5 strings)..G4
    put((38, 39), 23, 72, 2)  # synth basses
    put((40, 110), 55, 103, 4)  # violin (and fiddle) G3..G7
    put((41,), 48, 91, 4)  # viola C3..G6
    put((42,), 36, 84, 4)  # cello C2..C6
    put((43,), 24, 67, 2)  # contrabass C1 (extension)..G4
    put((44, 45, 48, 49), 24, 103, 16)  # string sections
    put((46,), 23, 104, 10)  # harp Cb1..G#7
    put((47,), 38, 60, 2)  # timpani D2..C4
    put((50, 51), 24, 108, 16)  # synth strings
    put((52, 53, 54), 36, 86, 16)  # choir and voices: C2..D6
    put((55,), 24, 108, 16)  # orchestra hit
    put((56, 59), 54, 86, 1)  # trumpet, muted trumpet F#3..D6
    put((57,), 34, 77, 1)  # trombone (pedal Bb1)..F5
    put((58,), 26, 65, 1)  # tuba D1..F4
    put((60,), 34, 77, 1)  # horn (sounding Bb1..F5)
    put((61,), 26, 86, 16)  # brass section
    put((62, 63), 24, 108, 16)  # synth brass
    put((64,), 56, 88, 1)  # soprano saxophone (sounding Ab3..E6)
    put((65,), 49, 81, 1)  # alto saxophone (sounding Db3..A5)
    put((66,), 44, 76, 1)  # tenor saxophone (sounding Ab2..E5)
    put((67,), 36, 69, 1)  # baritone saxophone (sounding C2..A4)
    put((68,), 58, 93, 1)  # oboe Bb3..A6
    put((69,), 52, 84, 1)  # english horn (sounding E3..C6)
    put((70,), 34, 75, 1)  # bassoon Bb1..Eb5
    put((71,), 50, 94, 1)  # clarinet in Bb (sounding D3..Bb6)
    put((72,), 74, 108, 1)  # piccolo (sounding D5..C8)
    put((73,), 60, 98, 1)  # flute C4..D7
    put((74,), 53, 98, 1)  # recorders, bass to soprano
    put((75, 76), 60, 96, 1)  # pan flute, blown bottle
    put((77,), 55, 91, 1)  # shakuhachi
    put((78,), 62, 98, 1)  # whistle
    put((79,), 60, 88, 1)  # ocarina
    put(range(80, 88), 24, 108, 4)  # synth leads
    put(range(88, 104), 0, 127, 10)  # pads and synth effects
    put((104,), 48, 89, 2)  # sitar
    put((105,), 48, 88, 5)  # banjo
    put((106,), 48, 86, 2)  # shamisen
    put((107,), 48, 91, 4)  # koto
    put((108,), 55, 91, 4)  # kalimba
    put((109,), 55, 81, 3)  # bagpipe: chanter and drones
    put((111,), 60, 84, 1)  # shehnai
    put((112,), 72, 108, 2)  # tinkle bell
    put((113, 115), 60, 84, 2)  # agogo, woodblock
    put((114,), 48, 91, 4)  # steel drums
    put((116,), 36, 60, 2)  # taiko
    put((117,), 36, 72, 2)  # melodic tom
    put((118, 119), 24, 96, 4)  # synth drum, reverse cymbal
    put(range(120, 128), 0, 127, 16)  # sound effects
    assert sorted(t) == list(range(128))
    return [t[p] for p in range(128)]


PROGRAMS: tuple[Playable, ...] = tuple(_rows())
"""What each General MIDI program (0-based index) can play."""
DRUMS = Playable(*DRUM_KIT_KEYS, DRUM_POLYPHONY)


class InstrumentTable(NamedTuple):
    """Per instrument code of an encoding (index 0 unused: all open)."""

    low: np.ndarray  # int64 (V_instr,) lowest MIDI pitch
    high: np.ndarray  # int64 (V_instr,) highest MIDI pitch
    polyphony: np.ndarray  # int64 (V_instr,)
    is_drums: np.ndarray  # bool (V_instr,)


def instrument_table(enc: EncodingConfig) -> InstrumentTable:
    """The playable range and polyphony of each instrument code of ``enc``.

    Those of the program the code decodes to (``vocab.INSTRUMENT_PROGRAM``): what a written
    file plays, and what :func:`in_range` judges it by. An instrument that stands for several
    programs (the tuplet encoding's ``flute``: flute and shakuhachi, 73 and 77) takes the one
    it is written as (the flute, from C4), not the union of their ranges (from G3), which let
    the sampler's range rule give a flute notes below its lowest.
    """
    from tuplet.encoding import vocab

    n = len(enc.instrument_names) + 1
    low = np.full(n, MIDI_RANGE[0], dtype=np.int64)
    high = np.full(n, MIDI_RANGE[1], dtype=np.int64)
    poly = np.full(n, 128, dtype=np.int64)
    is_drums = np.zeros(n, dtype=bool)
    table = vocab.MMT_PROGRAM_INSTRUMENT if enc.name == "mmt" else vocab.TUPLET_PROGRAM_INSTRUMENT
    for code in range(1, n):
        if enc.instrument_names[code - 1] == vocab.DRUMS_NAME:
            low[code], high[code], poly[code] = DRUMS
            is_drums[code] = True
            continue
        if not (table == code).any():  # an instrument no program maps to (none today): open
            continue
        row = PROGRAMS[int(vocab.INSTRUMENT_PROGRAM[code])]
        low[code], high[code], poly[code] = row.low, row.high, row.polyphony
    return InstrumentTable(low, high, poly, is_drums)


def pitch_codes_in_range(enc: EncodingConfig) -> np.ndarray:
    """[instrument code, pitch code]: whether the instrument plays that pitch.

    Pitch code ``c`` is MIDI pitch ``c - 1`` (code 0, no pitch, is in no range); instrument
    code 0 and instruments without a range are open over 0..127.
    """
    table = instrument_table(enc)
    midi = np.arange(enc.vocab_sizes[enc.field_index("pitch")]) - 1
    return (midi[None] >= table.low[:, None]) & (midi[None] <= table.high[:, None])


def in_range(pitch: np.ndarray, program: np.ndarray, is_drum: np.ndarray) -> np.ndarray:
    """Whether each note (MIDI pitch, GM program, drum flag) lies in its instrument's range."""
    p = np.asarray(pitch, dtype=np.int64)
    prog = np.clip(np.asarray(program, dtype=np.int64), 0, 127)
    low = np.array([r.low for r in PROGRAMS])[prog]
    high = np.array([r.high for r in PROGRAMS])[prog]
    drum = np.asarray(is_drum, dtype=bool)
    low = np.where(drum, DRUMS.low, low)
    high = np.where(drum, DRUMS.high, high)
    return (p >= low) & (p <= high)


def polyphony_of(program: int, is_drum: bool) -> int:
    """How many notes a program (or the drum kit) sounds at once."""
    return DRUMS.polyphony if is_drum else PROGRAMS[int(program)].polyphony
