"""``tuplet show``: the file's own track names, bars from the meter map, a key estimate where
the file states none, and a word when the timing looks like an unquantised performance."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from tuplet.analysis.describe import (
    bar_count,
    describe_notes,
    estimate_key,
    key_name,
    off_grid_share,
)
from tuplet.cli import main
from tuplet.io import read_notes
from tuplet.io.midi import read_midi_track_names, write_midi
from tuplet.notes import Notes, from_rows, to_resolution

DATA = Path(__file__).parent / "data"
QUARTET = DATA / "multitrack_drums.mid"  # tracks named Soprano, Alto, Tenor, Bass, Drums
BACH = DATA / "bwv66.6.mid"  # F# minor, 36 beats of 4/4


def show(path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["show", str(path)]) == 0
    return capsys.readouterr().out


def without_key(notes: Notes) -> Notes:
    empty = np.zeros(0, dtype=np.int64)
    return replace(notes, key_ticks=empty, key_fifths=empty.astype(np.int16), key_mode=empty)


def test_show_gives_each_tracks_own_name_beside_its_instrument(capsys) -> None:
    assert read_midi_track_names(QUARTET) == ["Soprano", "Alto", "Tenor", "Bass", "Drums"]
    # an empty second "Soprano" track holds no notes, so it has no number in the table
    assert read_midi_track_names(DATA / "bwv84.5.mid") == ["Soprano", "Alto", "Tenor", "Bass"]
    lines = show(QUARTET, capsys).splitlines()
    tracks = lines[lines.index("tracks:") + 1 :]
    assert tracks[0].split()[:3] == ["0", "Soprano", "Flute"]
    assert tracks[3].split()[:4] == ["3", "Bass", "Acoustic", "Bass"]
    assert tracks[4].split()[:3] == ["4", "Drums", "Drums"]


def test_a_score_shows_its_instruments_without_a_name_column(capsys) -> None:
    out = show(DATA / "bwv277.krn", capsys)
    assert "    0  Acoustic Grand Piano " in out


def test_bars_follow_the_meter_map(capsys) -> None:
    # 4 bars of 4/4, one of 2/4 (beats 16-18), 38 beats of 4/4 = 9.5 bars
    assert "56.00 beats in 15 bar(s)" in show(QUARTET, capsys)
    assert "36.00 beats in 9 bar(s)" in show(BACH, capsys)
    waltz = from_rows(
        [(0, 480 * 12, 60, 80, 0, False, 0)],
        480,
        timesig_ticks=np.array([0]),
        timesig_numerator=np.array([3]),
        timesig_denominator=np.array([4]),
    )
    assert bar_count(waltz) == 4
    assert bar_count(replace(waltz, duration_ticks=np.array([480 * 12 + 1]))) == 5
    assert bar_count(from_rows([(0, 480 * 8, 60, 80, 0, False, 0)], 480)) == 2  # 4/4 assumed
    assert bar_count(from_rows([], 480)) == 0


def test_key_names_follow_the_line_of_fifths() -> None:
    assert key_name(0, 0) == "C major" and key_name(0, 1) == "A minor"
    assert key_name(3, 1) == "F# minor" and key_name(-6, 1) == "Eb minor"
    assert key_name(-7, 0) == "Cb major" and key_name(7, 1) == "A# minor"


def scale(tonic: int, steps: list[int]) -> Notes:
    """A scale from ``tonic`` up, its tonic and fifth held longer (as tunes dwell on them)."""
    rows = []
    for i, step in enumerate(steps):
        weight = 4 if step in (0, 7) else 1
        rows.append((i * 480, 480 * weight, tonic + step, 80, 0, False, 0))
    return from_rows(rows, 480)


def test_the_key_estimate_finds_major_and_minor_scales() -> None:
    assert estimate_key(scale(60, [0, 2, 4, 5, 7, 9, 11]))[:2] == (0, 0)  # C major
    assert estimate_key(scale(57, [0, 2, 3, 5, 7, 8, 11]))[:2] == (0, 1)  # A (harmonic) minor
    assert estimate_key(scale(61, [0, 2, 4, 5, 7, 9, 11]))[:2] == (-5, 0)  # Db, not C#, major
    assert estimate_key(scale(63, [0, 2, 3, 5, 7, 8, 11]))[:2] == (-6, 1)  # Eb, not D#, minor
    drums = from_rows([(0, 480, 36, 80, 0, True, 0)], 480)
    assert estimate_key(drums) is None  # no pitched note: no key


@pytest.mark.parametrize(("name", "key"), [("bwv66.6.mid", "F# minor"), ("bwv84.5.mid", "B minor")])
def test_show_estimates_the_key_of_a_file_that_states_none(tmp_path, capsys, name, key) -> None:
    notes = read_notes(DATA / name)
    assert f"key: {key}\n" in show(DATA / name, capsys)  # stated: no estimate
    write_midi(without_key(notes), tmp_path / name)
    assert len(read_notes(tmp_path / name).key_ticks) == 0
    assert f"key: {key} (estimate): the file states no key" in show(tmp_path / name, capsys)


def performed(notes: Notes, seed: int = 0) -> Notes:
    """The notes at 480 ticks per beat, each onset moved by up to 20 ms, and no tempo map."""
    notes = to_resolution(notes, 480)
    rng = np.random.default_rng(seed)
    jitter = rng.integers(-16, 17, len(notes))  # ticks: 16 at 480 per beat, 120 qpm = 17 ms
    empty = np.zeros(0, dtype=np.int64)
    return replace(
        notes,
        onset_ticks=np.maximum(0, notes.onset_ticks + jitter),
        tempo_ticks=empty,
        tempo_qpm=empty.astype(np.float64),
    )


def test_show_says_when_a_file_looks_like_an_unquantised_performance(tmp_path, capsys) -> None:
    notes = read_notes(BACH)
    assert off_grid_share(notes) == 0.0
    assert "timing:" not in show(BACH, capsys)
    write_midi(performed(notes), tmp_path / "played.mid")
    out = show(tmp_path / "played.mid", capsys)
    assert "timing: looks like an unquantised performance" in out
    assert "no tempo is stated either" in out
    share = off_grid_share(read_notes(tmp_path / "played.mid"))
    assert share is not None and 0.6 < share < 1.0 and f"{share:.0%} of onsets" in out


def test_a_coarse_resolution_or_a_few_notes_is_not_called_a_performance() -> None:
    coarse = from_rows([(t, 1, 60, 80, 0, False, 0) for t in range(48)], 24)  # every tick
    assert off_grid_share(coarse) == 0.0
    triplets = from_rows([(t * 160, 160, 60, 80, 0, False, 0) for t in range(30)], 480)
    assert off_grid_share(triplets) == 0.0  # 1/3 beat: on the twelfths
    assert off_grid_share(from_rows([], 480)) is None
    few = performed(read_notes(BACH)).select(np.arange(10))
    assert (off_grid_share(few) or 0) > 0.5 and "timing:" not in describe_notes(few)
