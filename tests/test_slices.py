"""Slices of a piece (N-bar loops, single parts) as extra training examples."""

import itertools
from pathlib import Path

import numpy as np
import pytest

from tuplet.corpus import prepare
from tuplet.encoding import decode
from tuplet.io import read_notes
from tuplet.notes import from_rows
from tuplet.training.dataset import SequenceDataset
from tuplet.training.slices import SliceSpec, cut, loop_spans, slice_specs

DATA = Path(__file__).parent / "data"


def _piece(meters: list[tuple[int, int, int]] | None = None) -> object:
    """Two tracks over 30 beats: a note on every beat (track 0), every other beat (track 1)."""
    rows = [(b * 12, 12, 60 + b % 12, 80, 0, False, 0) for b in range(30)]
    rows += [(b * 12, 24, 40 + b % 5, 80, 32, False, 1) for b in range(0, 30, 2)]
    maps = {}
    if meters:
        maps = {
            "timesig_ticks": [m[0] * 12 for m in meters],
            "timesig_numerator": [m[1] for m in meters],
            "timesig_denominator": [m[2] for m in meters],
        }
    return from_rows(rows, 12, tempo_ticks=[0, 120], tempo_qpm=[100.0, 140.0], **maps)


def test_loops_start_on_bar_lines_and_cover_the_piece_once():
    notes = _piece([(0, 3, 4)])  # 3/4: bars every 3 beats
    spans = loop_spans(notes, 2)
    assert [s for s, _ in spans] == [0, 6, 12, 18, 24]
    assert all(e == s2 for (_, e), (s2, _) in itertools.pairwise(spans))
    assert spans[-1][1] >= 30  # to the last note's end
    onsets = notes.onset_ticks / 12
    covered = [sum(s <= o < e for s, e in spans) for o in onsets]
    assert covered == [1] * len(onsets)  # every note in exactly one loop


def test_loops_follow_a_change_of_meter():
    notes = _piece([(0, 4, 4), (8, 3, 4)])  # two 4/4 bars, then 3/4
    assert [s for s, _ in loop_spans(notes, 1)][:5] == [0, 4, 8, 11, 14]


def test_slice_specs_hold_full_loops_track_loops_and_parts():
    notes = _piece()
    specs = slice_specs(notes, 4)  # 4/4: 16-beat loops, two of them
    full = [s for s in specs if s.track is None]
    assert [(s.start_beat, s.kind) for s in full] == [(0, "loop"), (16, "loop")]
    assert {(s.track, s.start_beat) for s in specs if s.kind == "loop" and s.track is not None} == {
        (0, 0),
        (0, 16),
        (1, 0),
        (1, 16),
    }
    assert [(s.track, s.end_beat) for s in specs if s.kind == "part"] == [(0, None), (1, None)]
    one_track = notes.select(notes.track == 0)
    assert all(s.track is None for s in slice_specs(one_track, 4))


def test_cut_starts_at_zero_with_the_maps_in_force_and_cuts_durations():
    notes = _piece()
    loop = cut(notes, SliceSpec(8.0, 11.0, None))
    assert loop.onset_ticks.min() == 0
    assert loop.onset_ticks.max() < 3 * 12
    assert (loop.onset_ticks + loop.duration_ticks).max() == 3 * 12  # cut at the seam
    held = (loop.track == 1) & (loop.onset_ticks == 24)  # two beats long at beat 10
    assert loop.duration_ticks[held].tolist() == [12]
    # the tempo in force at beat 8 is stated at 0, the change at beat 10 comes 2 beats in
    assert loop.tempo_qpm.tolist() == [100.0, 140.0]
    assert loop.tempo_ticks.tolist() == [0, 24]
    later = cut(notes, SliceSpec(12.0, 16.0, None))
    assert later.tempo_qpm.tolist() == [140.0]
    assert later.tempo_ticks.tolist() == [0]
    part = cut(notes, SliceSpec(0.0, None, 1))
    assert set(part.track.tolist()) == {1}
    assert len(part) == 15


def test_a_real_piece_slices_into_encodable_loops():
    notes = read_notes(DATA / "bwv66.6.mid")
    specs = slice_specs(notes, 4)
    n_tracks = len(np.unique(notes.track))
    full = [s for s in specs if s.track is None]
    assert len([s for s in specs if s.kind == "part"]) == n_tracks == 4
    total = sum(len(cut(notes, s)) for s in full)
    assert total == len(notes)  # the full-texture loops hold every note once


def test_the_dataset_draws_slices_at_the_rate_asked(tmp_path):
    prepare(
        [DATA / "bwv66.6.mid", DATA / "bwv84.5.mid"],
        tmp_path / "ds",
        split=(1, 0, 0),
        jobs=1,
        progress=False,
        filters=None,
    )
    plain = SequenceDataset(tmp_path / "ds", "train", max_seq_len=2048)
    sliced = SequenceDataset(
        tmp_path / "ds", "train", max_seq_len=2048, slice_rate=1.0, loop_bars=2, augment=False
    )
    config = plain.config
    for i in range(len(plain)):
        whole = decode(plain[i], config)
        part = decode(sliced[(0, i)], config)
        assert 0 < len(part) < len(whole)
    # at rate 0.5 about half the draws are slices
    half = SequenceDataset(
        tmp_path / "ds", "train", max_seq_len=2048, slice_rate=0.5, augment=False
    )
    whole_size = len(half.__class__(tmp_path / "ds", "train", max_seq_len=2048, augment=False)[0])
    sizes = [len(half[(e, 0)]) for e in range(40)]
    assert max(sizes) == whole_size
    assert 8 <= sum(s < whole_size for s in sizes) <= 32
    with pytest.raises(Exception, match="slice_rate"):
        SequenceDataset(tmp_path / "ds", "train", slice_rate=1.5)
