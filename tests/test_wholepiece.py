import math
from pathlib import Path

import pytest

from tuplet.analysis import wholepiece as w
from tuplet.analysis.metrics import METRICS
from tuplet.io import read_notes
from tuplet.notes import from_rows

DATA = Path(__file__).parent / "data"


def melody(pitches, beats_each=1, start_beat=0, program=0, drum=False):
    step = beats_each * 12
    start = start_beat * 12
    return [(start + i * step, step, p, 80, program, drum, 0) for i, p in enumerate(pitches)]


def test_dead_air_a_silent_start_and_empty_bars() -> None:
    # bar 0 plays, bars 1-2 are silent, bar 3 plays; the first note comes at beat 2
    notes = from_rows(melody([60, 62], start_beat=2) + melody([64, 65, 67, 69], start_beat=12), 12)
    assert w.longest_gap_beats(notes) == 8.0  # beats 4..12
    assert w.empty_bar_share(notes) == pytest.approx(2 / 4)
    assert w.notes_per_bar(notes) == pytest.approx(6 / 4)
    late = from_rows(melody([60], start_beat=40), 12)
    assert w.longest_gap_beats(late) == 40.0  # silent for its first 40 beats
    # a held note bridges the onsets: no gap
    held = from_rows([(0, 12 * 8, 48, 80, 0, False, 0), *melody([60], start_beat=7)], 12)
    assert w.longest_gap_beats(held) == 0.0 and w.empty_bar_share(held) == 0.0
    # bars follow the meter: 3/4 bars
    rows = melody([60, 62, 64], start_beat=0) + melody([60], start_beat=6)
    waltz = from_rows(rows, 12, timesig_ticks=[0], timesig_numerator=[3], timesig_denominator=[4])
    assert w.beats_per_bar(waltz) == 3.0 and w.empty_bar_share(waltz) == pytest.approx(1 / 3)


def test_instruments_that_play_like_themselves() -> None:
    violin_low = from_rows(melody([50, 55, 60, 67], program=40), 12)  # D3 is below a violin
    assert w.in_range_share(violin_low) == pytest.approx(3 / 4)
    assert w.out_of_range_programs(violin_low) == {40: pytest.approx(1 / 4)}
    chord = [(0, 24, p, 80, 73, False, 0) for p in (72, 76, 79)]  # a flute plays one note
    notes = from_rows(chord + melody([72], start_beat=4, program=73), 12)
    assert w.max_simultaneous(notes) == {73: 3}
    assert w.over_polyphony_share(notes) == pytest.approx(2 / 4)
    piano = from_rows([(0, 24, p, 80, 0, False, 0) for p in (60, 64, 67)], 12)
    assert w.over_polyphony_share(piano) == 0.0  # ten fingers
    kit = from_rows(melody([36, 38, 42, 75], drum=True), 12)  # claves (75) is no kit piece
    assert w.drum_kit_share(kit) == pytest.approx(3 / 4)
    assert math.isnan(w.drum_kit_share(piano))


def test_stuck_notes() -> None:
    doubled = from_rows([*melody([60, 62]), (0, 12, 60, 80, 40, False, 0)], 12)
    assert w.same_onset_pitch_share(doubled) == pytest.approx(1 / 3)
    repeated = from_rows(melody([60, 60, 60, 62]), 12)
    assert w.repeat_share(repeated) == pytest.approx(2 / 4)
    assert w.repeat_share(from_rows(melody([60, 62, 64, 65]), 12)) == 0.0


def test_real_pieces_measure_as_real_music() -> None:
    chorale = read_notes(DATA / "bwv66.6.mid")
    assert w.longest_gap_beats(chorale) == 0.0 and w.empty_bar_share(chorale) == 0.0
    assert w.in_range_share(chorale) > 0.99
    band = read_notes(DATA / "multitrack_drums.mid")
    assert w.drum_kit_share(band) == 1.0 and w.over_polyphony_share(band) == 0.0
    for name in w.WHOLE_PIECE_METRICS:  # every measure is one evaluate reports
        assert METRICS[name] is w.WHOLE_PIECE_METRICS[name]
        assert math.isnan(METRICS[name](from_rows([], 12)))
