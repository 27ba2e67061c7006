import numpy as np
import pytest

from tuplet.notes import Notes, concat, from_rows, shift_ticks, to_resolution


def _piece() -> Notes:
    return from_rows(
        [(0, 480, 60, 90, 0, 0, 0), (480, 240, 64, 70, 0, 0, 0), (960, 960, 36, 100, 0, 1, 1)],
        480,
        tempo_ticks=[0, 960],
        tempo_qpm=[120.0, 60.0],
        timesig_ticks=[0],
        timesig_numerator=[3],
        timesig_denominator=[4],
    )


def test_schema_and_dtypes():
    n = _piece()
    assert len(n) == 3
    assert n.onset_ticks.dtype == np.int64 and n.pitch.dtype == np.int16
    assert n.is_drum.dtype == np.bool_ and n.is_drum.tolist() == [False, False, True]
    with pytest.raises(ValueError, match="rows"):
        Notes(12, onset_ticks=[0, 1], duration_ticks=[1])
    with pytest.raises(ValueError, match="ticks_per_beat"):
        Notes(0)


def test_seconds_follow_the_tempo_map():
    n = _piece()
    # two beats at 120 qpm = 1 s, then one beat at 60 qpm = 1 s more
    assert n.seconds([0, 480, 960, 1440]).tolist() == [0.0, 0.5, 1.0, 2.0]
    assert n.length_beats == 4.0
    assert n.length_seconds == pytest.approx(3.0)
    # no tempo stated: 120 qpm
    assert Notes(12).seconds(24) == pytest.approx(1.0)
    # before the first tempo too, as a MIDI file plays (a score's first marking at bar 13)
    late = Notes(12, tempo_ticks=[48], tempo_qpm=[60.0])
    assert late.seconds([24, 48, 60]).tolist() == [1.0, 2.0, 3.0]


def test_to_resolution_rounds_and_is_pure():
    n = _piece()
    m = to_resolution(n, 12)
    assert m.ticks_per_beat == 12 and n.ticks_per_beat == 480
    assert m.onset_ticks.tolist() == [0, 12, 24]
    assert m.duration_ticks.tolist() == [12, 6, 24]
    assert m.tempo_ticks.tolist() == [0, 24]
    # 5 ticks at 480 -> 0.125 ticks at 12 -> rounds to 0
    odd = from_rows([(5, 7, 60, 80, 0, 0, 0)], 480)
    assert to_resolution(odd, 12).onset_ticks.tolist() == [0]
    assert to_resolution(n, 480) is n
    # ends are rounded, not durations: notes that touch still touch
    touching = from_rows([(0, 100, 60, 80, 0, 0, 0), (100, 100, 62, 80, 0, 0, 0)], 480)
    t = to_resolution(touching, 12)
    assert (t.onset_ticks + t.duration_ticks).tolist()[0] == t.onset_ticks.tolist()[1]


def test_shift_select_sort_concat():
    n = _piece()
    s = shift_ticks(n, -480)
    assert s.onset_ticks.tolist() == [-480, 0, 480]
    assert s.tempo_ticks.tolist() == [0, 480]
    shuffled = n.select(np.array([2, 0, 1]))
    assert shuffled.sorted().equals(n)
    both = concat([n, n])
    assert len(both) == 6 and both.tempo_qpm.tolist() == [120.0, 60.0]
    assert not both.equals(n)
