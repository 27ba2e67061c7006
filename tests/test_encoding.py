"""Tests of the mmt and tuplet encodings.

The mmt encoding is checked row for row against the official MMT code's output, saved in
tests/data/mmt_reference/ (see its README for how it was produced).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from tuplet.encoding import (
    DRUMS_CODE,
    INSTRUMENT_NAMES,
    EncodingConfig,
    adjust_resolution,
    codes_from_csv,
    codes_to_csv,
    decode,
    encode,
    get_encoding,
    instrument_code,
    instrument_of_program,
    mmt_filter_reason,
    order_onsets,
    program_of_instrument,
    quantise,
    shift_to_first_beat,
)
from tuplet.encoding.vocab import (
    KNOWN_DURATIONS_TICKS,
    duration_code,
    tempo_centres,
    tempo_code,
    velocity_centres,
    velocity_code,
)
from tuplet.errors import BadFileError, TupletError, UsageError
from tuplet.io import read_notes
from tuplet.notes import Notes, from_rows

DATA = Path(__file__).parent / "data"
REF = DATA / "mmt_reference"
PIECES = ["bach_bwv66_6", "schumann_clara_opus17_mvt3", "mozart_k80_mvt1_mixed"]
MMT = get_encoding("mmt")
TUPLET = get_encoding("tuplet")
BOTH = [MMT, TUPLET]


def load_ints(path: Path) -> np.ndarray:
    return np.loadtxt(path, dtype=np.int64, delimiter=",", skiprows=1, ndmin=2)


def muspy_notes(name: str) -> Notes:
    """The notes MusPy read from a reference MIDI file (onset, duration, ..., track)."""
    rows = load_ints(REF / f"{name}.notes.csv.gz")
    return from_rows(rows, ticks_per_beat=read_notes(REF / f"{name}.mid").ticks_per_beat)


def real_files() -> list[Path]:
    suffixes = {".mid", ".mxl", ".krn", ".abc"}
    return sorted(p for p in [*DATA.iterdir(), *REF.iterdir()] if p.suffix in suffixes)


def notes_at_12(rows: list[tuple[int, ...]], **maps: object) -> Notes:
    """A hand-made table at 12 ticks per beat from (onset, duration, pitch, velocity, program,
    is_drum, track) rows."""
    return from_rows(rows, ticks_per_beat=12, **maps)


# ------------------------------------------------------------------ the official MMT output
@pytest.mark.parametrize("name", PIECES)
def test_mmt_codes_equal_the_official_encoder(name: str) -> None:
    official = codes_from_csv(REF / f"{name}.codes.csv.gz", MMT)
    np.testing.assert_array_equal(encode(read_notes(REF / f"{name}.mid"), MMT), official)
    # the same from the notes MusPy read, so the check does not rest on tuplet's MIDI reader
    np.testing.assert_array_equal(encode(muspy_notes(name), MMT), official)


@pytest.mark.parametrize("name", PIECES)
def test_mmt_decode_equals_the_official_decoder(name: str) -> None:
    notes = decode(codes_from_csv(REF / f"{name}.codes.csv.gz", MMT), MMT)
    official = load_ints(REF / f"{name}.decoded.csv.gz")  # beat, position, pitch, duration, program
    mine = np.stack(
        [
            notes.onset_ticks // 12,
            notes.onset_ticks % 12,
            notes.pitch,
            notes.duration_ticks,
            notes.program,
        ],
        axis=1,
    )
    np.testing.assert_array_equal(mine, official)
    assert (notes.velocity == 64).all() and not notes.is_drum.any()
    assert notes.tempo_qpm.tolist() == [100.0] and notes.tempo_ticks.tolist() == [0]


@pytest.mark.parametrize("name", PIECES)
def test_max_beat_convention_matches_the_official_encoder(name: str) -> None:
    # the official encoder skips beat > max_beat; tuplet's max_beat is one more (beats < it)
    official = codes_from_csv(REF / f"{name}.max_beat_64.csv.gz", MMT)
    np.testing.assert_array_equal(encode(muspy_notes(name), MMT.with_max_beat(65)), official)


@pytest.mark.parametrize("name", PIECES)
def test_shift_to_first_beat_matches_the_official_pipeline(name: str) -> None:
    official = codes_from_csv(REF / f"{name}.shifted.csv.gz", MMT)
    shifted = shift_to_first_beat(read_notes(REF / f"{name}.mid"), MMT)
    assert shifted.ticks_per_beat == 12
    np.testing.assert_array_equal(encode(shifted, MMT), official)


def test_filters_agree_with_the_official_pipeline() -> None:
    with open(REF / "verdicts.csv", encoding="utf-8") as f:
        verdicts = list(csv.DictReader(f))
    assert sorted(v["name"] for v in verdicts) == sorted(PIECES)
    for v in verdicts:
        notes = read_notes(REF / f"{v['name']}.mid")
        end_beats, n_notes = int(v["end_ticks"]) / 12, int(v["n_notes"])
        kept = v["kept_by_length"] == "1" and v["kept_by_count"] == "1"
        assert (mmt_filter_reason(notes) is None) == kept
        # the thresholds bite exactly at the official end time and note count
        assert (
            mmt_filter_reason(notes, min_beats=end_beats, max_beats=end_beats, min_notes=n_notes)
            is None
        )
        longer = mmt_filter_reason(notes, min_beats=0, max_beats=end_beats - 1 / 12)
        assert longer is not None and longer.startswith("longer than")
        shorter = mmt_filter_reason(notes, min_beats=end_beats + 1 / 12)
        assert shorter is not None and shorter.startswith("shorter than")
        fewer = mmt_filter_reason(notes, min_beats=0, min_notes=n_notes + 1)
        assert fewer == f"fewer than {n_notes + 1} notes ({n_notes} notes)"
    assert mmt_filter_reason(read_notes(REF / "bach_bwv66_6.mid")) == (
        "shorter than 40 beats (36 beats)"
    )


def test_tables_equal_the_official_tables() -> None:
    programs = load_ints(REF / "programs.csv")
    np.testing.assert_array_equal(instrument_of_program(programs[:, 0]), programs[:, 1])
    with open(REF / "instruments.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["instrument"]) for r in rows] == list(range(1, 65))
    assert [r["name"] for r in rows] == list(INSTRUMENT_NAMES)
    assert [program_of_instrument(int(r["instrument"])) for r in rows] == [
        int(r["program"]) for r in rows
    ]
    durations = load_ints(REF / "durations.csv")
    np.testing.assert_array_equal(duration_code(durations[:, 0]), durations[:, 1])


def test_resolution_is_adjusted_as_muspy_does() -> None:
    # at 480 ticks per beat: onset 60 -> 1.5 -> 2 (half to even) and end 120 -> 3, so the
    # duration is 1 tick (rounding the duration alone would give 2); onset 20 -> 0.5 -> 0
    notes = from_rows([(60, 60, 60, 80, 0, 0, 0), (20, 20, 62, 80, 0, 0, 0)], ticks_per_beat=480)
    n12 = adjust_resolution(notes, 12)
    assert n12.onset_ticks.tolist() == [2, 0] and n12.duration_ticks.tolist() == [1, 1]
    np.testing.assert_array_equal(
        encode(notes, MMT),
        [[0, 0, 0, 0, 0, 0], [1, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 0],
         [3, 1, 1, 63, 1, 1], [3, 1, 3, 61, 1, 1], [4, 0, 0, 0, 0, 0]],
    )  # fmt: skip


# --------------------------------------------------------------------- hand-checked codes
def test_duration_snapping_ties_and_clipping_by_hand() -> None:
    durations = [0, 1, 13, 14, 17, 19, 27, 33, 288, 384, 385, 1000]
    # 0 -> 1 tick; 13 -> 12; 14 -> 15; ties go to the smaller: 17 -> 16, 19 -> 18, 27 -> 24,
    # 33 -> 30, 288 -> 192; 384 and above -> 384
    expected = [1, 1, 12, 13, 14, 15, 18, 19, 31, 32, 32, 32]
    assert duration_code(np.array(durations)).tolist() == expected
    rows = [(12 * i, d, 60, 80, 0, 0, 0) for i, d in enumerate(durations)]
    codes = encode(notes_at_12(rows), MMT)
    notes = codes[codes[:, 0] == 3]
    assert notes[:, 4].tolist() == expected
    assert notes[:, 1].tolist() == list(range(1, 13))  # beat b -> b + 1
    assert KNOWN_DURATIONS_TICKS[np.array(expected) - 1].tolist() == [
        1, 1, 12, 15, 16, 18, 24, 30, 192, 384, 384, 384
    ]  # fmt: skip


def test_mmt_drops_drums_and_program_77_and_sorts_by_raw_duration_and_program() -> None:
    notes = notes_at_12(
        [
            (0, 13, 60, 80, 0, 0, 0),  # piano, 13 ticks -> code 12: last (13 > 12 ticks)
            (0, 12, 60, 80, 110, 0, 1),  # fiddle -> violin (25), after program 48 and 49
            (0, 12, 60, 80, 48, 0, 2),  # strings (31): program 48 sorts first
            (0, 12, 60, 80, 48, 0, 3),  # exact duplicate: removed
            (0, 12, 60, 80, 49, 0, 4),  # strings again, on program 49: a second, equal row
            (5, 24, 64, 80, 77, 0, 5),  # shakuhachi: no MMT instrument
            (0, 6, 36, 100, 0, 1, 6),  # drum
        ]
    )
    expected = [
        [0, 0, 0, 0, 0, 0],
        [1, 0, 0, 0, 0, 1],  # piano
        [1, 0, 0, 0, 0, 25],  # violin
        [1, 0, 0, 0, 0, 31],  # strings
        [2, 0, 0, 0, 0, 0],
        [3, 1, 1, 61, 12, 31],
        [3, 1, 1, 61, 12, 31],
        [3, 1, 1, 61, 12, 25],
        [3, 1, 1, 61, 12, 1],
        [4, 0, 0, 0, 0, 0],
    ]
    np.testing.assert_array_equal(encode(notes, MMT), expected)


def test_tuplet_keeps_drums_places_program_77_and_merges_duplicates() -> None:
    notes = notes_at_12(
        [
            (0, 12, 60, 80, 0, 0, 0),
            (0, 12, 60, 100, 1, 0, 1),  # same note on program 1 (piano): one row, the loudest
            (5, 24, 64, 64, 77, 0, 2),  # shakuhachi -> flute (50)
            (0, 6, 36, 127, 0, 1, 3),  # bass drum, GM key 36 kept as the pitch
            (0, 6, 36, 1, 0, 1, 3),  # quieter copy of it: merged
        ]
    )
    flute = instrument_code("flute", TUPLET)
    assert flute == 50 and instrument_code("drums", TUPLET) == DRUMS_CODE == 65
    # velocity bins of 16 over 1..127: code = 1 + (v - 1) * 16 // 127
    assert velocity_code(np.array([1, 64, 80, 100, 127]), 16).tolist() == [1, 8, 10, 13, 16]
    note = [6, 1, 1]
    expected = [
        [0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        [1, 0, 0, 0, 0, 1, 0, 0, 0, 0],
        [1, 0, 0, 0, 0, 50, 0, 0, 0, 0],
        [1, 0, 0, 0, 0, 65, 0, 0, 0, 0],
        [2, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        [*note, 37, 6, 65, 16, 0, 0, 0],
        [*note, 61, 12, 1, 13, 0, 0, 0],
        [6, 1, 6, 65, 18, 50, 8, 0, 0, 0],
        [7, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    ]
    np.testing.assert_array_equal(encode(notes, TUPLET), expected)
    decoded = decode(encode(notes, TUPLET), TUPLET)
    assert decoded.is_drum.tolist() == [True, False, False]
    assert decoded.program.tolist() == [0, 0, 73]
    # bins 16, 13 and 8 hold velocities 121..127, 97..104 and 57..64: their middles
    assert decoded.velocity.tolist() == [124, 100, 60]


def test_beats_past_max_beat_are_dropped() -> None:
    notes = notes_at_12([(3 * 12 + 5, 12, 60, 80, 0, 0, 0), (4 * 12, 12, 62, 80, 40, 0, 1)])
    config = MMT.with_max_beat(4)  # beats 0..3 kept
    assert config.vocab_sizes[1] == 5
    codes = encode(notes, config)
    # as the official encoder: the violin's row stays though its only note is dropped
    np.testing.assert_array_equal(
        codes,
        [[0, 0, 0, 0, 0, 0], [1, 0, 0, 0, 0, 1], [1, 0, 0, 0, 0, 25], [2, 0, 0, 0, 0, 0],
         [3, 4, 6, 61, 12, 1], [4, 0, 0, 0, 0, 0]],
    )  # fmt: skip
    tuplet_codes = encode(notes, TUPLET.with_max_beat(4))
    assert tuplet_codes[:, 5].tolist() == [0, 1, 0, 1, 0]  # tuplet: instruments of notes only


def test_tuplet_meta_events_by_hand() -> None:
    notes = notes_at_12(
        [(0, 12, 60, 80, 0, 0, 0), (8 * 12, 12, 62, 80, 0, 0, 0)],
        tempo_ticks=[0, 48, 50],
        tempo_qpm=[120.0, 60.0, 61.0],  # 61 qpm falls in 60's bin: no new event
        timesig_ticks=[0, 96],
        timesig_numerator=[4, 3],
        timesig_denominator=[4, 4],
        key_ticks=[0, 96, 96],
        key_fifths=[2, 9, -3],  # 9 fifths is not a key: dropped; at one tick the last wins
        key_mode=[0, 0, 1],
    )
    # meter 1 + (num - 1) * 6 + index of den in (1, 2, 4, 8, 16, 32): 4/4 -> 21, 3/4 -> 15;
    # key 1 + (fifths + 7) * 2 + mode: D major -> 19, C minor -> 10;
    # tempo 120 * 2 ** (k / 8) for k = -20..10: 120 -> code 21, 60 -> code 13
    expected = [
        [0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        [1, 0, 0, 0, 0, 1, 0, 0, 0, 0],
        [2, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        [3, 1, 1, 0, 0, 0, 0, 0, 21, 0],
        [4, 1, 1, 0, 0, 0, 0, 0, 0, 19],
        [5, 1, 1, 0, 0, 0, 0, 21, 0, 0],
        [6, 1, 1, 61, 12, 1, 10, 0, 0, 0],
        [5, 5, 1, 0, 0, 0, 0, 13, 0, 0],
        [3, 9, 1, 0, 0, 0, 0, 0, 15, 0],
        [4, 9, 1, 0, 0, 0, 0, 0, 0, 10],
        [6, 9, 1, 63, 12, 1, 10, 0, 0, 0],
        [7, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    ]
    np.testing.assert_array_equal(encode(notes, TUPLET), expected)
    decoded = decode(encode(notes, TUPLET), TUPLET)
    assert decoded.tempo_ticks.tolist() == [0, 48]
    assert decoded.tempo_qpm.tolist() == [120.0, 60.0]
    assert decoded.timesig_numerator.tolist() == [4, 3]
    assert decoded.key_fifths.tolist() == [2, -3] and decoded.key_mode.tolist() == [0, 1]
    # in MMT all of that is gone: fixed 100 qpm, no meter or key
    plain = decode(encode(notes, MMT), MMT)
    assert plain.tempo_qpm.tolist() == [100.0] and len(plain.timesig_ticks) == 0


def test_bins_decode_to_values_that_encode_to_the_same_bin() -> None:
    for bins in (1, 8, 16, 127):
        codes = np.arange(1, bins + 1)
        assert velocity_code(velocity_centres(bins)[codes], bins).tolist() == codes.tolist()
    centres = tempo_centres(8, 20.0, 300.0)
    assert tempo_code(centres[1:], 8, 20.0, 300.0).tolist() == list(range(1, len(centres)))
    assert 20 <= centres[1] and centres[-1] <= 300 and 120.0 in centres and 60.0 in centres
    assert tempo_code(np.array([5.0, 1000.0, 0.0, np.nan]), 8, 20.0, 300.0).tolist() == [
        1, len(centres) - 1, 0, 0
    ]  # fmt: skip


# --------------------------------------------------------------------------- round trips
@pytest.mark.parametrize("config", BOTH, ids=lambda c: c.name)
@pytest.mark.parametrize("path", real_files(), ids=lambda p: p.name)
def test_round_trip_over_real_files(path: Path, config: EncodingConfig) -> None:
    notes = read_notes(path)
    codes = encode(notes, config)
    decoded = decode(codes, config)
    expected = quantise(notes, config)
    assert decoded.equals(expected)
    assert decoded.sorted().equals(expected.sorted())
    again = encode(decoded, config)
    if config.name == "mmt":
        # MMT keeps two notes that differ only in program (or in a duration that snaps to the
        # same code) as two equal rows; decoded, they are one note played twice, encoded once
        repeat = np.zeros(len(codes), dtype=bool)
        repeat[1:] = (codes[1:] == codes[:-1]).all(axis=1) & (codes[1:, 0] == 3)
        codes = codes[~repeat]
    np.testing.assert_array_equal(again, codes)
    assert len(decoded) > 0
    defined = config.defined_fields[codes[:, 0]]
    assert (codes[~defined] == 0).all() and (codes[:, 1:][defined[:, 1:]] > 0).all()
    assert (codes < np.array(config.vocab_sizes)).all() and (codes >= 0).all()


def test_tuplet_keeps_what_mmt_loses_on_a_real_file() -> None:
    notes = read_notes(DATA / "multitrack_drums.mid")
    decoded = decode(encode(notes, TUPLET), TUPLET)
    assert decoded.is_drum.sum() == notes.is_drum.sum() > 0
    assert len(decoded.tempo_qpm) == 3 and len(decoded.timesig_ticks) == 3
    assert len(np.unique(decoded.velocity)) > 1
    mmt = decode(encode(notes, MMT), MMT)
    assert not mmt.is_drum.any() and len(mmt) == len(notes) - notes.is_drum.sum()


def test_shift_to_first_beat_by_hand() -> None:
    notes = notes_at_12(
        [(7 * 12 + 3, 12, 60, 80, 0, 0, 0), (2 * 12, 12, 36, 80, 0, 1, 1)],
        timesig_ticks=[0],
        timesig_numerator=[3],
        timesig_denominator=[4],
    )
    # mmt: the drum does not count; the piano note moves to beat 0, position 3
    assert shift_to_first_beat(notes, MMT).onset_ticks.tolist() == [3]
    # tuplet: the drum at beat 2 is first; its bar (3/4) starts at beat 0, so nothing moves
    assert shift_to_first_beat(notes, TUPLET).onset_ticks.tolist() == [87, 24]
    later = notes.select(np.array([True, False]))
    assert shift_to_first_beat(later, TUPLET).onset_ticks.tolist() == [1 * 12 + 3]  # bar at 6


def test_filter_thresholds_by_hand() -> None:
    rows = [(12 * i, 12, 60, 80, 0, 0, 0) for i in range(50)]  # 50 notes, ends at beat 50
    assert mmt_filter_reason(notes_at_12(rows)) is None
    assert mmt_filter_reason(notes_at_12(rows[:49])) == "fewer than 50 notes (49 notes)"
    drums = [(t, d, 36, v, 0, 1, 1) for t, d, _, v, _, _, _ in rows]
    assert mmt_filter_reason(notes_at_12(rows[:49] + drums)) == "fewer than 50 notes (49 notes)"
    assert mmt_filter_reason(notes_at_12(rows), max_beats=49) == "longer than 49 beats (50 beats)"
    assert mmt_filter_reason(notes_at_12(rows), min_beats=51) == "shorter than 51 beats (50 beats)"


# ----------------------------------------------------------------------- decode robustness
def test_decode_skips_invalid_rows_and_accepts_any_order() -> None:
    notes = read_notes(DATA / "multitrack_drums.mid")
    codes = encode(notes, TUPLET)
    rng = np.random.default_rng(0)
    shuffled = np.concatenate([codes[:-1][rng.permutation(len(codes) - 1)], codes[-1:]])
    decoded = decode(shuffled, TUPLET)
    assert decoded.sorted().equals(quantise(notes, TUPLET).sorted())

    garbage = rng.integers(-3, 2000, size=(500, len(TUPLET.fields)))
    garbage[:, 0] = rng.integers(-1, 10, size=500)
    garbage = garbage[garbage[:, 0] != 7]  # no end-of-song
    mixed = decode(np.concatenate([codes[:-1], garbage, codes[-1:]]), TUPLET)
    assert len(mixed) >= len(decoded)
    assert ((mixed.pitch >= 0) & (mixed.pitch <= 127)).all() and (mixed.onset_ticks >= 0).all()
    assert len(decode(garbage, TUPLET)) <= len(garbage)

    bad_note = codes[codes[:, 0] == 6][:1].copy()
    bad_note[0, 6] = 0  # velocity undefined: skipped
    assert len(decode(bad_note, TUPLET)) == 0
    after_end = np.concatenate([codes, codes[codes[:, 0] == 6]])
    assert decode(after_end, TUPLET).equals(decode(codes, TUPLET))
    assert decode(codes.astype(np.float64), TUPLET).equals(decode(codes, TUPLET))
    halves = codes.astype(np.float64)
    halves[codes[:, 0] == 6, 3] += 0.5
    assert len(decode(halves, TUPLET)) == 0


@pytest.mark.parametrize(
    "codes", [np.zeros((3, 5)), np.zeros(6), np.zeros((2, 6, 1)), np.array([["a"] * 6])]
)
def test_decode_refuses_codes_of_the_wrong_shape_or_kind(codes: np.ndarray) -> None:
    with pytest.raises(TupletError):
        decode(codes, MMT)


def test_empty_tables_encode_and_decode() -> None:
    empty = Notes(ticks_per_beat=480)
    for config in BOTH:
        codes = encode(empty, config)
        assert codes[:, 0].tolist() == [0, 2, config.type_codes["end-of-song"]]
        assert len(decode(codes, config)) == 0
        assert len(decode(np.zeros((0, len(config.fields)), dtype=np.int64), config)) == 0


# ------------------------------------------------------------------------- config and CSV
def test_vocab_sizes() -> None:
    assert MMT.vocab_sizes == (5, 1026, 13, 129, 33, 65)
    assert MMT.with_max_beat(256).vocab_sizes == (5, 257, 13, 129, 33, 65)
    # 8 types, 64 instruments + drums, 16 velocity bins, 31 tempo bins (120 * 2 ** (k / 8)
    # for k = -20..10 lie in 20..300 qpm), 16 numerators x 6 denominators, 15 x 2 keys
    assert TUPLET.with_max_beat(256).vocab_sizes == (10, 257, 13, 129, 33, 66, 17, 32, 97, 31)
    assert get_encoding("tuplet", velocity_bins=8).vocab_sizes[6] == 9


def test_config_names_types_and_defined_fields() -> None:
    assert MMT.fields == ("type", "beat", "position", "pitch", "duration", "instrument")
    assert TUPLET.fields[6:] == ("velocity", "tempo", "meter", "key")
    assert MMT.type_codes == {
        "start-of-song": 0, "instrument": 1, "start-of-notes": 2, "note": 3, "end-of-song": 4
    }  # fmt: skip
    assert TUPLET.type_codes["time-signature"] == 3 and TUPLET.type_codes["note"] == 6
    assert MMT.defined_fields.shape == (5, 6) and TUPLET.defined_fields.shape == (10, 10)
    assert MMT.defined_fields[3].all() and MMT.defined_fields[1].tolist() == [1, 0, 0, 0, 0, 1]
    tempo_row = TUPLET.defined_fields[TUPLET.type_codes["tempo"]]
    assert [f for f, d in zip(TUPLET.fields, tempo_row, strict=True) if d] == [
        "type", "beat", "position", "tempo"
    ]  # fmt: skip
    assert TUPLET.field_index("velocity") == 6
    with pytest.raises(UsageError, match="no field 'velocity'"):
        MMT.field_index("velocity")


def test_config_to_dict_from_dict() -> None:
    for config in (MMT, TUPLET.with_max_beat(256), get_encoding("tuplet", velocity_bins=8)):
        saved = json.loads(json.dumps(config.to_dict()))
        assert EncodingConfig.from_dict(saved) == config
    saved = TUPLET.to_dict()
    saved["vocab_sizes"][6] = 9
    with pytest.raises(UsageError, match="vocab_sizes"):
        EncodingConfig.from_dict(saved)
    with pytest.raises(UsageError, match="unknown encoding config keys: colour"):
        EncodingConfig.from_dict({"name": "mmt", "colour": 1})


def test_bad_names_and_options_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="unknown encoding 'remi'"):
        get_encoding("remi")
    with pytest.raises(UsageError, match="only the tuplet encoding"):
        get_encoding("mmt", velocity_bins=8)
    with pytest.raises(UsageError, match="unknown encoding option"):
        get_encoding("tuplet", bins=8)
    with pytest.raises(UsageError, match="max_beat"):
        get_encoding("mmt", max_beat=0)
    with pytest.raises(UsageError, match=r"unknown instrument 'kazoo' in the mmt encoding$"):
        instrument_code("kazoo", MMT)
    with pytest.raises(UsageError, match=r"\(did you mean harpsichord\?\)"):
        instrument_code("harpsicord", MMT)
    with pytest.raises(UsageError):
        instrument_code("drums", MMT)
    with pytest.raises(UsageError):
        program_of_instrument(66)


def test_instrument_tables() -> None:
    assert len(INSTRUMENT_NAMES) == 64 and INSTRUMENT_NAMES[30] == "strings"
    assert program_of_instrument(31) == 49 and program_of_instrument(DRUMS_CODE) == 0
    assert instrument_of_program(np.array([77, 96, 120, 110])).tolist() == [0, 0, 0, 25]
    extended = instrument_of_program(np.array([77, 96, 120, 110]), TUPLET)
    assert extended.tolist() == [50, 55, 0, 25]  # flute, pad, still dropped, violin
    assert TUPLET.instrument_names[-1] == "drums" and len(MMT.instrument_names) == 64


def test_csv_round_trip_and_errors(tmp_path: Path) -> None:
    codes = encode(read_notes(DATA / "multitrack_drums.mid"), TUPLET)
    for name in ("codes.csv", "codes.csv.gz"):
        path = codes_to_csv(codes, TUPLET, tmp_path / name)
        np.testing.assert_array_equal(codes_from_csv(path, TUPLET), codes)
    assert (tmp_path / "codes.csv").read_text().splitlines()[0] == ",".join(TUPLET.fields)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["codes.csv", "codes.csv.gz"]
    with pytest.raises(BadFileError, match="not the mmt encoding's fields"):
        codes_from_csv(tmp_path / "codes.csv", MMT)
    with pytest.raises(TupletError):
        codes_to_csv(codes, MMT, tmp_path / "mmt.csv")
    with pytest.raises(TupletError, match="whole numbers"):
        codes_to_csv(codes + 0.5, TUPLET, tmp_path / "halves.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text(",".join(MMT.fields) + "\n0,0,0,x,0,0\n")
    with pytest.raises(BadFileError, match=r"bad\.csv: codes must be integers"):
        codes_from_csv(bad, MMT)
    bad.write_text(",".join(MMT.fields) + "\n0,0,0,0,0\n")
    with pytest.raises(BadFileError, match="5 values"):
        codes_from_csv(bad, MMT)
    with pytest.raises(BadFileError, match="no such file"):
        codes_from_csv(tmp_path / "missing.csv", MMT)


# ------------------------------------------------------------------- the order of a chord
@pytest.mark.parametrize("config", BOTH, ids=["mmt", "tuplet"])
def test_order_onsets_sorts_each_chord_by_instrument_and_moves_nothing_else(config) -> None:
    # a chord of violin (40), flute (73) and cello (42) at tick 0, a piano note alone at tick
    # 6, then a chord of flute and violin at tick 12
    rows = [
        (0, 12, 60, 64, 73, 0, 0), (0, 12, 55, 64, 40, 0, 1), (0, 12, 43, 64, 42, 0, 2),
        (6, 6, 70, 64, 0, 0, 3), (12, 12, 62, 64, 73, 0, 0), (12, 12, 67, 64, 40, 0, 1),
    ]  # fmt: skip
    codes = encode(from_rows(rows, ticks_per_beat=12), config)
    note = codes[:, 0] == config.type_codes["note"]
    pitch, instr = config.field_index("pitch"), config.field_index("instrument")
    # as encoded: rising pitch within each onset
    assert (codes[note, pitch] - 1).tolist() == [43, 55, 60, 70, 62, 67]
    # rising pitch, by name, is the encoding's own order: nothing moves
    assert order_onsets(codes, config, "pitch") is codes
    by_instrument = order_onsets(codes, config, "instrument")
    programs = [program_of_instrument(int(c)) for c in by_instrument[note, instr]]
    assert programs == [40, 42, 73, 0, 40, 73]
    assert (by_instrument[note, pitch] - 1).tolist() == [55, 43, 60, 70, 67, 62]
    np.testing.assert_array_equal(by_instrument[~note], codes[~note])  # other rows stay put
    # the same piece either way: decoding gives the same notes
    a, b = decode(codes, config), decode(by_instrument, config)
    ka = np.lexsort((a.program, a.pitch, a.onset_ticks))
    kb = np.lexsort((b.program, b.pitch, b.onset_ticks))
    assert a.pitch[ka].tolist() == b.pitch[kb].tolist()
    assert a.program[ka].tolist() == b.program[kb].tolist()
    with pytest.raises(UsageError, match="unknown onset order"):
        order_onsets(codes, config, "loudness")


def test_order_onsets_keeps_chords_apart_that_another_row_separates() -> None:
    # a flute below a violin at one onset: by instrument the violin (40) comes first ...
    rows = [(0, 12, 60, 64, 73, 0, 0), (0, 12, 67, 64, 40, 0, 1)]
    codes = encode(from_rows(rows, ticks_per_beat=12), TUPLET)
    note = np.flatnonzero(codes[:, 0] == TUPLET.type_codes["note"])
    instr = TUPLET.field_index("instrument")
    first = order_onsets(codes, TUPLET, "instrument")[note[0], instr]
    assert program_of_instrument(int(first)) == 40
    # ... but a row between them (a tempo change) makes two runs, and each stays as it is
    tempo = codes[note[0]].copy()
    tempo[0] = TUPLET.type_codes["tempo"]
    split = np.insert(codes, note[1], tempo, axis=0)
    np.testing.assert_array_equal(order_onsets(split, TUPLET, "instrument"), split)
