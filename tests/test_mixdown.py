"""Audio out: stems that line up and add up to the mix, a loudness target met, FLAC, the CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from audio_support import require_fluidsynth, run_tuplet
from tuplet.errors import UsageError
from tuplet.io import read_notes

sf = pytest.importorskip("soundfile", reason="the audio extra is not installed (scripts/setup.sh)")
pyloudnorm = pytest.importorskip("pyloudnorm")
require_fluidsynth()

from tuplet.io.audio import render_wav  # noqa: E402
from tuplet.io.mixdown import render_mix, stem_groups  # noqa: E402


@pytest.fixture(scope="module")
def chorale(data_dir_module: Path):
    """The first 8 beats of a four-part chorale (four tracks: Soprano, Alto, Tenor, Bass)."""
    notes = read_notes(data_dir_module / "bwv66.6.mid")
    return notes.select(notes.onset_ticks < 8 * notes.ticks_per_beat)


@pytest.fixture(scope="module")
def data_dir_module() -> Path:
    return Path(__file__).parent / "data"


def test_stems_line_up_and_sum_to_the_mix(chorale, tmp_path: Path) -> None:
    result = render_mix(chorale, tmp_path / "piece.wav", stems=True)
    assert [p.name for p in result.stems] == [
        "piece.01-soprano.wav", "piece.02-alto.wav", "piece.03-tenor.wav", "piece.04-bass.wav",
    ]
    mix, rate = sf.read(result.mix)
    stems = [sf.read(p)[0] for p in result.stems]
    assert rate == 44100 and all(len(s) == len(mix) for s in stems)
    assert mix.shape[1] == 2 and len(mix) / rate == pytest.approx(result.seconds)
    # 24-bit files: each stem is rounded once, so the sum is off by a few steps at most
    assert np.abs(np.sum(stems, axis=0) - mix).max() < 4 * 2.0**-23
    # every stem sounds, and none is the mix itself
    assert all(np.abs(s).max() > 0.01 for s in stems)
    assert all(np.abs(s - mix).max() > 0.01 for s in stems)


def test_a_stem_is_its_track_alone(chorale, tmp_path: Path) -> None:
    result = render_mix(chorale, tmp_path / "piece.wav", stems=True)
    alone = chorale.select(chorale.track == 3)
    render_wav(alone, tmp_path / "bass.wav", sample_format="float")
    bass, _ = sf.read(tmp_path / "bass.wav")
    stem, _ = sf.read(result.stems[3])
    n = min(len(bass), len(stem))
    assert np.abs(bass[:n] - stem[:n]).max() < 1e-5


@pytest.mark.parametrize("suffix", [".wav", ".flac"])
def test_the_mix_meets_its_loudness_target(chorale, tmp_path: Path, suffix: str) -> None:
    result = render_mix(chorale, tmp_path / f"loud{suffix}", stems=True, loudness=-20.0)
    mix, rate = sf.read(result.mix)
    assert sf.info(str(result.mix)).format == suffix[1:].upper()
    measured = pyloudnorm.Meter(rate).integrated_loudness(mix)
    assert abs(measured - -20.0) < 0.5
    assert not result.limited and result.gain_db != 0
    stems = [sf.read(p)[0] for p in result.stems]  # same gain on the stems
    assert np.abs(np.sum(stems, axis=0) - mix).max() < 4 * 2.0**-23


def test_a_target_that_would_clip_stops_at_the_ceiling(chorale, tmp_path: Path) -> None:
    result = render_mix(chorale, tmp_path / "hot.wav", loudness=0.0)
    mix, _ = sf.read(result.mix)
    assert result.limited
    assert 20 * np.log10(np.abs(mix).max()) == pytest.approx(-1.0, abs=0.05)
    assert result.loudness is not None and result.loudness < 0.0


def test_a_loops_stems_are_exactly_the_loop(chorale, tmp_path: Path) -> None:
    seconds = float(chorale.seconds(4 * chorale.ticks_per_beat))  # 4 beats: the tail folds in
    result = render_mix(chorale, tmp_path / "loop.wav", stems=True, loop_seconds=seconds)
    mix, rate = sf.read(result.mix)
    assert len(mix) == round(seconds * rate)
    stems = [sf.read(p)[0] for p in result.stems]
    assert all(len(s) == len(mix) for s in stems)
    assert np.abs(np.sum(stems, axis=0) - mix).max() < 4 * 2.0**-23
    # the second half of the 8 beats sounds in the loop: more than the first 4 beats alone
    alone = render_mix(chorale.select(chorale.onset_ticks < 4 * chorale.ticks_per_beat),
                       tmp_path / "first.wav", loop_seconds=seconds)  # fmt: skip
    assert np.abs(sf.read(alone.mix)[0] - mix).max() > 0.01


def test_bad_requests_are_refused(chorale, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"\.wav or \.flac"):
        render_mix(chorale, tmp_path / "x.mp3")
    with pytest.raises(UsageError, match="between -70 and 0 LUFS"):
        render_mix(chorale, tmp_path / "x.wav", loudness=3.0)
    with pytest.raises(UsageError, match="no notes"):
        render_mix(chorale.select(np.zeros(len(chorale), dtype=bool)), tmp_path / "x.wav")
    assert not list(tmp_path.iterdir())


def test_a_generated_piece_gets_one_stem_per_instrument(chorale) -> None:
    from dataclasses import replace

    program = np.where(chorale.track < 2, 40, 42).astype(np.int16)
    untracked = replace(chorale, program=program, tracks=())
    labels = [label for label, _ in stem_groups(untracked)]
    assert labels == ["01-violin", "02-cello"]


def test_render_command_writes_stems_and_refuses_to_overwrite_them(
    data_dir_module: Path, tmp_path: Path
) -> None:
    song = str(data_dir_module / "bwv66.6.mid")
    done = run_tuplet("render", song, "--out", "song.flac", "--stems", "--loudness", "-16",
                   cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "4 stems beside it" in done.stdout and "-16.0 LUFS" in done.stdout
    assert len(list(tmp_path.glob("song.0*.flac"))) == 4
    (tmp_path / "song.flac").unlink()
    again = run_tuplet("render", song, "--out", "song.flac", "--stems", cwd=tmp_path)
    assert again.returncode != 0 and "song.01-soprano.flac: exists already" in again.stderr
    png = run_tuplet("render", song, "--out", "song.png", "--stems", cwd=tmp_path)
    assert png.returncode != 0 and "are for audio" in png.stderr
    wavless = run_tuplet("generate", "--stems", "--out", "gen", cwd=tmp_path)
    assert wavless.returncode != 0 and "add --wav" in wavless.stderr
    loud = run_tuplet("generate", "--wav", "--loudness", "3", "--out", "gen", cwd=tmp_path)
    assert loud.returncode != 0 and "between -70 and 0 LUFS" in loud.stderr
    assert not (tmp_path / "gen").exists()
