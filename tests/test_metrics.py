"""Musical metrics on hand-made pieces whose values are known by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tuplet.analysis import metrics as m
from tuplet.notes import Notes, from_rows, to_resolution

C_MAJOR = [0, 2, 4, 5, 7, 9, 11]


def melody(pitches, beats_each=1, start_beat=0, tpb=12, program=0, drum=False, track=0):
    """One note per ``beats_each`` beats, each lasting that long."""
    step = beats_each * tpb
    return [
        (start_beat * tpb + i * step, step, p, 80, program, drum, track)
        for i, p in enumerate(pitches)
    ]


def piece(rows, tpb=12, **maps) -> Notes:
    return from_rows(rows, tpb, **maps)


def test_c_major_scale() -> None:
    notes = piece(melody([60 + p for p in C_MAJOR]))
    assert m.pitch_class_entropy(notes) == pytest.approx(math.log2(7))
    assert m.scale_consistency(notes) == 1.0
    assert m.n_pitch_classes_used(notes) == 7
    assert m.n_pitches_used(notes) == 7
    assert m.pitch_range(notes) == 11
    assert m.polyphony(notes) == 1.0
    assert m.polyphony_rate(notes) == 0.0
    assert m.empty_beat_rate(notes) == 0.0
    # the relative minor holds every note; D major misses C and F
    assert m.pitch_in_scale_rate(notes, 9, "minor") == 1.0
    assert m.pitch_in_scale_rate(notes, 2, "major") == pytest.approx(5 / 7)


def test_chromatic_scale() -> None:
    notes = piece(melody(range(48, 60)))
    assert m.pitch_class_entropy(notes) == pytest.approx(math.log2(12))
    # every diatonic scale holds 7 of the 12 pitch classes, each played once
    assert m.scale_consistency(notes) == pytest.approx(7 / 12)
    assert m.n_pitch_classes_used(notes) == 12


def test_entropy_counts_notes_not_durations() -> None:
    # C three times (short), G once (long): p = (3/4, 1/4)
    rows = [(0, 1, 60, 80, 0, False, 0), (12, 1, 72, 80, 0, False, 0)]
    rows += [(24, 1, 48, 80, 0, False, 0), (36, 96, 67, 80, 0, False, 0)]
    expected = -(0.75 * math.log2(0.75) + 0.25 * math.log2(0.25))
    assert m.pitch_class_entropy(piece(rows)) == pytest.approx(expected)


def test_drums_are_left_out_of_pitch_metrics() -> None:
    pitched = melody([60 + p for p in C_MAJOR])
    drums = melody([36, 38, 42, 49, 51, 35, 44], drum=True, track=1)
    both = piece(pitched + drums)
    assert m.pitch_class_entropy(both) == pytest.approx(math.log2(7))
    assert m.scale_consistency(both) == 1.0
    assert m.pitch_range(both) == 11
    assert m.n_pitches_used(both) == 7
    only_drums = piece(drums)
    assert math.isnan(m.pitch_class_entropy(only_drums))
    assert math.isnan(m.scale_consistency(only_drums))
    assert math.isnan(m.pitch_range(only_drums))  # MusPy: 0 - 127
    assert math.isnan(m.polyphony(only_drums))
    assert m.n_pitches_used(only_drums) == 0
    # drums do fill beats
    assert m.empty_beat_rate(only_drums) == 0.0


def test_empty_input() -> None:
    empty = Notes(ticks_per_beat=12)
    values = m.compute_metrics(empty)
    assert set(values) == set(m.METRICS)
    for name, value in values.items():
        if name.startswith("n_"):
            assert value == 0
        else:
            assert math.isnan(value), name
    assert math.isnan(m.drum_in_pattern_rate(empty))
    assert len(m.trim(empty)) == 0


def test_groove_consistency_identical_measures() -> None:
    # four measures of the same rhythm: quarter, two eighths, dotted quarter...
    bar = [(0, 12), (12, 6), (18, 6), (24, 18), (42, 6)]
    rows = [(48 * k + on, d, 60, 80, 0, False, 0) for k in range(4) for on, d in bar]
    notes = piece(rows)
    assert m.groove_consistency(notes) == 1.0
    # the same piece at another resolution measures the same
    assert m.groove_consistency(to_resolution(notes, 480)) == 1.0


def test_groove_consistency_known_hamming() -> None:
    # measure 1: onsets at slots 0, 12, 24, 36; measure 2: 0 and 24; measure 3 as measure 1
    rows = melody([60, 62, 64, 65])
    rows += [(48, 24, 67, 80, 0, False, 0), (72, 24, 65, 80, 0, False, 0)]
    rows += melody([64, 62, 60, 59], start_beat=8)
    notes = piece(rows)
    assert m.groove_consistency(notes) == pytest.approx(1 - (2 + 2) / (48 * 2))
    # 3-beat measures (36 slots); onsets at beats 0, 1, 2, 3, 4, 6, 8, 9, 10, 11:
    # m1 {0, 12, 24}, m2 {0, 12}, m3 {0, 24}, m4 {0, 12, 24}: distances 1, 2, 1
    assert m.groove_consistency(notes, beats_per_measure=3) == pytest.approx(1 - 4 / (36 * 3))


def test_groove_consistency_last_note_ending_on_a_measure_line() -> None:
    # two measures of whole notes end exactly at tick 96: two measures, not three
    notes = piece([(0, 48, 60, 80, 0, False, 0), (48, 48, 62, 80, 0, False, 0)])
    assert m.groove_consistency(notes) == 1.0
    assert math.isnan(m.groove_consistency(piece(melody([60, 62, 64, 65]))))  # one measure
    # trimmed to 4 beats a long piece is one measure: undefined, not a spurious second one
    assert math.isnan(m.groove_consistency(m.trim(piece(melody(range(60, 72))), 4)))
    # MusPy counts floor(L / Q) + 1 measures: an empty third one (both onsets differ from it)
    assert m.groove_consistency(notes, muspy_measures=True) == pytest.approx(1 - 1 / (48 * 2))
    rows = [(0, 48, 60, 80, 0, False, 0), (48, 30, 62, 80, 0, False, 0)]
    assert m.groove_consistency(piece(rows), muspy_measures=True) == 1.0  # ends inside: same


def test_polyphony_triad_then_single_note() -> None:
    triad = [(0, 12, p, 80, 0, False, 0) for p in (60, 64, 67)]
    single = [(12, 12, 72, 80, 0, False, 0)]
    unison = [(0, 12, 60, 80, 40, False, 1)]  # the same C in another track counts once
    silent = [(6, 0, 50, 80, 0, False, 0)]  # zero-length: never sounds
    notes = piece(triad + single + unison + silent)
    assert m.polyphony(notes) == pytest.approx((3 * 12 + 12) / 24)
    assert m.polyphony_rate(notes) == pytest.approx(0.5)  # >= 2 pitches on half the steps
    assert m.polyphony_rate(notes, threshold=3) == pytest.approx(0.5)
    assert m.polyphony_rate(notes, threshold=4) == 0.0
    # overlapping notes of one pitch merge: C from beat 0 to 2 and from beat 1 to 3
    overlap = piece([(0, 24, 60, 80, 0, False, 0), (12, 24, 60, 80, 0, False, 0)])
    assert m.polyphony(overlap) == 1.0
    assert m.polyphony_rate(overlap) == 0.0


def test_polyphony_counts_silence_before_the_end() -> None:
    # a two-note chord for one beat, silence for two beats, one note for one beat
    rows = [(0, 12, 60, 80, 0, False, 0), (0, 12, 67, 80, 0, False, 0)]
    rows += [(36, 12, 64, 80, 0, False, 0)]
    notes = to_resolution(piece(rows), 480)
    assert m.polyphony(notes) == pytest.approx(1.5)
    assert m.polyphony_rate(notes) == pytest.approx(1 / 4)


def test_empty_beat_and_measure_rates() -> None:
    # beat 0 and beat 3 hold a note; beats 1 and 2 are empty
    notes = piece([(0, 12, 60, 80, 0, False, 0), (36, 12, 62, 80, 0, False, 0)])
    assert m.empty_beat_rate(notes) == pytest.approx(0.5)
    # a note across a beat line fills both beats; one ending on the line does not fill more
    across = piece([(6, 12, 60, 80, 0, False, 0), (36, 12, 62, 80, 0, False, 0)])
    assert m.empty_beat_rate(across) == pytest.approx(0.25)
    # measures 0 and 2 hold notes, measure 1 is empty
    bars = piece([(0, 48, 60, 80, 0, False, 0), (96, 48, 60, 80, 0, False, 0)])
    assert m.empty_measure_rate(bars) == pytest.approx(1 / 3)
    assert m.empty_measure_rate(bars, beats_per_measure=8) == 0.0
    assert m.empty_beat_rate(to_resolution(bars, 480)) == pytest.approx(4 / 12)


def test_drum_patterns() -> None:
    sixteenths = piece([(k * 3, 1, 42, 80, 0, True, 0) for k in range(8)])
    assert m.drum_in_pattern_rate(sixteenths, "duple") == 1.0
    # 0, 3, 6, 9, 12, ...: on the triplet grid only the beat starts (1 in 4)
    assert m.drum_in_pattern_rate(sixteenths, "triple") == pytest.approx(0.25)
    triplets = piece([(k * 4, 1, 38, 80, 0, True, 0) for k in range(6)])
    assert m.drum_in_pattern_rate(triplets, "triple") == 1.0
    assert m.drum_in_pattern_rate(triplets, "duple") == pytest.approx(1 / 3)
    assert m.drum_pattern_consistency(triplets) == 1.0
    # at 480 ticks per beat the grids are the same musical positions
    assert m.drum_in_pattern_rate(to_resolution(sixteenths, 480), "duple") == 1.0
    # pitched notes are not drums
    pitched = piece([(1, 1, 60, 80, 0, False, 0), (0, 1, 36, 80, 0, True, 1)])
    assert m.drum_pattern_consistency(pitched) == 1.0
    assert math.isnan(m.drum_pattern_consistency(piece(melody([60]))))
    with pytest.raises(ValueError, match="meter"):
        m.drum_in_pattern_rate(sixteenths, "quintuple")


def test_trim_drops_late_notes_and_cuts_long_ones() -> None:
    rows = [(0, 12, 60, 80, 0, False, 0), (60, 24, 62, 80, 0, False, 0)]
    rows += [(72, 12, 64, 80, 0, False, 0)]
    notes = piece(
        rows,
        tempo_ticks=[0, 72],
        tempo_qpm=[100.0, 90.0],
        timesig_ticks=[0],
        timesig_numerator=[4],
        timesig_denominator=[4],
    )
    cut = m.trim(notes, beats=6)
    np.testing.assert_array_equal(cut.onset_ticks, [0, 60])
    np.testing.assert_array_equal(cut.duration_ticks, [12, 12])
    np.testing.assert_array_equal(cut.tempo_ticks, [0])
    assert cut.end_ticks == 72
    assert len(notes) == 3  # the input is left alone
    with pytest.raises(ValueError):
        m.trim(notes, beats=0)


def test_compute_metrics_names() -> None:
    notes = piece(melody([60 + p for p in C_MAJOR]))
    values = m.compute_metrics(notes, m.PAPER_METRICS)
    assert list(values) == list(m.PAPER_METRICS)
    with pytest.raises(ValueError, match="unknown metric"):
        m.compute_metrics(notes, ("loudness",))
