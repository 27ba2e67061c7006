"""Audio in: a rendered melody comes back as its notes; the grid; every bad recording's line.

The round trip is real: FluidSynth renders the soprano line of a Bach chorale (bwv66.6) on a
flute, basic-pitch's ONNX model transcribes it on onnxruntime, and the notes are compared
with the source's.
"""

from __future__ import annotations

import json
import wave
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from audio_support import flute_melody, require_fluidsynth, run_tuplet
from tuplet.errors import BadFileError, UsageError
from tuplet.io import read_notes
from tuplet.io.transcribe import (
    MODEL_RATE,
    Transcription,
    read_audio,
    to_grid,
    transcribe_audio,
)

pytest.importorskip("onnxruntime", reason="the audio extra is not installed (scripts/setup.sh)")
require_fluidsynth()

TEMPO = 96.0  # bwv66.6.mid's tempo


@pytest.fixture(scope="module")
def melody(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    """The chorale's first 16 soprano notes on a flute, rendered, and their note table."""
    from tuplet.io.audio import render_wav

    soprano = flute_melody(16)
    wav = tmp_path_factory.mktemp("melody") / "melody.wav"
    render_wav(soprano, wav)
    return wav, soprano


@pytest.fixture(scope="module")
def heard(melody: tuple[Path, object]) -> Transcription:
    return transcribe_audio(melody[0])


def _f1(source, onsets: np.ndarray, ends: np.ndarray, pitches: np.ndarray) -> tuple[float, ...]:
    import mir_eval

    start = source.seconds(source.onset_ticks)
    ref = np.stack([start, source.seconds(source.onset_ticks + source.duration_ticks)], axis=1)
    hz = lambda p: 440.0 * 2 ** ((np.asarray(p, dtype=float) - 69) / 12)  # noqa: E731
    precision, recall, f1, _ = mir_eval.transcription.precision_recall_f1_overlap(
        ref, hz(source.pitch), np.stack([onsets, ends], axis=1), hz(pitches),
        onset_tolerance=0.05, offset_ratio=None,
    )
    return precision, recall, f1


def test_a_rendered_melody_comes_back_as_its_notes(melody, heard) -> None:
    _, source = melody
    precision, recall, _ = _f1(source, heard.onset_s, heard.end_s, heard.pitch)
    assert recall == 1.0  # every note found, its onset within 50 ms
    assert precision >= 0.85  # the held last note re-sounds once or twice at most
    assert heard.audio_seconds > source.length_seconds
    assert (heard.velocity >= 1).all() and (heard.velocity <= 127).all()


@pytest.mark.parametrize(("suffix", "subtype"), [(".flac", None), (".ogg", "VORBIS"),
                                                 (".mp3", "MPEG_LAYER_III")])  # fmt: skip
def test_flac_ogg_and_mp3_are_heard_as_the_wav_is(melody, tmp_path, suffix, subtype) -> None:
    import soundfile as sf

    wav, source = melody
    data, rate = sf.read(wav)
    other = tmp_path / f"melody{suffix}"
    sf.write(other, data, rate, subtype=subtype)
    again = transcribe_audio(other)
    precision, recall, _ = _f1(source, again.onset_s, again.end_s, again.pitch)
    assert recall == 1.0 and precision >= 0.75  # Vorbis: 20 notes heard for 16


def test_the_grid_puts_them_on_the_source_beats(melody, heard) -> None:
    _, source = melody
    notes, grid = to_grid(heard, tempo=TEMPO, downbeat_s=0.0, instrument="flute")
    want = (source.onset_ticks - source.onset_ticks[0]) * 480 // source.ticks_per_beat
    got = set(zip(notes.onset_ticks.tolist(), notes.pitch.tolist(), strict=True))
    assert set(zip(want.tolist(), source.pitch.tolist(), strict=True)) <= got
    assert len(got) <= len(want) + 2
    assert (notes.program == 73).all() and notes.tracks[0].name == "flute"
    assert float(notes.tempo_qpm[0]) == TEMPO
    assert "96 BPM (given)" in grid.describe() and "sixteenth" in grid.describe()


def test_the_tempo_is_estimated_near_the_source(heard) -> None:
    notes, grid = to_grid(heard, instrument="violin")
    assert grid.tempo_from == "estimated"
    assert abs(grid.tempo - TEMPO) / TEMPO < 0.05
    assert notes.onset_ticks[0] == 0  # the first note is on the first downbeat
    assert (notes.program == 40).all()


def _heard(onsets: list[float], ends: list[float]) -> Transcription:
    n = len(onsets)
    return Transcription(
        onset_s=np.array(onsets),
        end_s=np.array(ends),
        pitch=np.full(n, 60),
        velocity=np.full(n, 80),
        audio_seconds=max(ends) + 1,
        audio=np.zeros(int(MODEL_RATE * (max(ends) + 1)), dtype=np.float32),
        model_load_s=0.0,
        seconds=0.0,
    )


def test_quantisation_snaps_to_the_nearest_step() -> None:
    # 120 BPM: a beat is 0.5 s; played a little early and late
    heard = _heard([1.02, 1.26, 1.49, 2.01], [1.2, 1.45, 1.52, 3.0])
    notes, _ = to_grid(heard, tempo=120, downbeat_s=1.0, steps_per_beat=4)
    assert list(notes.onset_ticks) == [0, 240, 480, 960]
    assert list(notes.duration_ticks) == [240, 240, 120, 960]  # 0.03 s lasts one step at least
    triplets, _ = to_grid(heard, tempo=120, downbeat_s=1.0, steps_per_beat=3)
    assert list(triplets.onset_ticks) == [0, 320, 480, 960]


def test_a_pickup_goes_into_the_bar_before() -> None:
    heard = _heard([0.75, 1.0, 1.5], [0.95, 1.45, 2.0])
    notes, _ = to_grid(heard, tempo=120, downbeat_s=1.0, velocity=60)
    # the pickup is half a beat before the downbeat: the downbeat moves to bar 2
    assert list(notes.onset_ticks) == [4 * 480 - 240, 4 * 480, 5 * 480]
    assert (notes.velocity == 60).all()


def test_one_line_drops_overtones_and_doubled_attacks_but_keeps_legato() -> None:
    from tuplet.io.transcribe import one_line

    heard = replace(
        _heard([0.0, 0.01, 0.02, 0.9, 1.5], [1.1, 0.9, 0.5, 1.6, 2.0]),
        pitch=np.array([62, 86, 62, 64, 76]),  # D4, its 4th harmonic, D4 again, E4, E5
        velocity=np.array([90, 50, 70, 80, 40]),
    )
    line = one_line(heard)
    # E4 starts under D4 (legato) and is kept; the D6 overtone, the second D4 attack and E5
    # (quieter, an octave above the E4 that sounds) are dropped; D4 ends where E4 begins
    assert line.pitch.tolist() == [62, 64]
    assert line.end_s.tolist() == [0.9, 1.6]
    # the instrument decides by default: a violin plays one line, a piano chords
    assert len(to_grid(heard, tempo=60, instrument="violin")[0]) == 2
    assert len(to_grid(heard, tempo=60, instrument="piano")[0]) == 5
    assert len(to_grid(heard, tempo=60, instrument="piano", single_line=True)[0]) == 2


def test_bad_grid_tempo_instrument_and_velocity_are_refused() -> None:
    heard = _heard([0.0], [0.5])
    with pytest.raises(UsageError, match="grid"):
        to_grid(heard, tempo=120, steps_per_beat=5)
    with pytest.raises(UsageError, match="tempo"):
        to_grid(heard, tempo=1000)
    with pytest.raises(UsageError, match="did you mean"):
        to_grid(heard, tempo=120, instrument="vilin")
    with pytest.raises(UsageError, match="pitched"):
        to_grid(heard, tempo=120, instrument="drums")
    with pytest.raises(UsageError, match="velocity"):
        to_grid(heard, tempo=120, velocity=0)


def _write_wav(path: Path, samples: np.ndarray, rate: int) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return path


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("text", "is not audio tuplet can read"),
        ("silence", "is silent"),
        ("clipped", "is clipped: 100.0% of its samples"),
        ("rate", "sample rate 4000 Hz is outside"),
        ("long", "lasts 0.1 minutes; the limit is 0"),
        ("missing", "no such file"),
        ("short", "lasts 50 ms: too short to hear notes in"),
    ],
)
def test_bad_recordings_get_one_line(tmp_path: Path, case: str, message: str) -> None:
    t = np.arange(16000) / 16000
    path = tmp_path / f"{case}.wav"
    if case == "text":
        path.write_text("not a sound\n")
    elif case == "silence":
        _write_wav(path, np.zeros(16000), 16000)
    elif case == "clipped":
        _write_wav(path, np.sign(np.sin(2 * np.pi * 220 * t)) * 1.5, 16000)
    elif case == "rate":
        _write_wav(path, 0.3 * np.sin(2 * np.pi * 220 * t[:4000]), 4000)
    elif case == "short":
        _write_wav(path, 0.3 * np.sin(2 * np.pi * 220 * t[:800]), 16000)
    elif case == "long":
        _write_wav(path, 0.3 * np.sin(2 * np.pi * 220 * np.arange(16000 * 6) / 16000), 16000)
    limit = 3.0 if case == "long" else 600.0
    with pytest.raises(BadFileError) as info:
        read_audio(path, max_seconds=limit)
    assert message in str(info.value)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_transcribe_command_writes_midi_and_says_what_it_assumed(melody, tmp_path: Path) -> None:
    wav, source = melody
    out = tmp_path / "idea.mid"
    done = run_tuplet("transcribe", str(wav), "--out", str(out), "--instrument", "violin",
                   "--tempo", "96", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "assumed: 96 BPM (given), 4/4" in done.stdout and "played by violin" in done.stdout
    back = read_notes(out)
    assert list(back.pitch[:16]) == [int(p) for p in source.pitch]  # then the held note again
    assert (back.program == 40).all()
    again = run_tuplet("transcribe", str(wav), "--out", str(out), cwd=tmp_path)
    assert again.returncode != 0 and "exists already" in again.stderr


def test_transcribe_command_refuses_silence_and_writes_nothing(tmp_path: Path) -> None:
    silent = _write_wav(tmp_path / "silent.wav", np.zeros(8000), 8000)
    out = tmp_path / "silent.mid"
    done = run_tuplet("transcribe", str(silent), "--out", str(out), cwd=tmp_path)
    assert done.returncode != 0
    assert done.stderr.strip().splitlines()[-1].endswith("is silent (peak -240 dBFS)")
    assert not out.exists() and not list(tmp_path.glob(".*tmp*"))


def test_generate_continues_a_recording(melody, tmp_path: Path) -> None:
    wav, _ = melody
    out = tmp_path / "gen"
    done = run_tuplet(
        "generate", "--prompt", str(wav), "--prompt-tempo", "96", "--prompt-instrument", "voice",
        "--prompt-velocity", "60", "--prompt-beats", "8", "--max-beats", "12", "--n", "1",
        "--seed", "1", "--threads", "1", "--force-prompt", "--quiet", "--out", str(out),
        "--wav", "--stems", cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads((out / "sample-01.json").read_text())
    stems = [Path(f) for kind, f in report["files"].items() if kind.startswith("stem ")]
    assert stems and all(p.is_file() and p.name.startswith("sample-01.0") for p in stems)
    assert report["prompt"]["file"] == str(wav)
    assert "96 BPM (given)" in report["prompt"]["transcribed"]
    piece = read_notes(out / "sample-01.mid")
    first = piece.select(piece.onset_ticks < 8 * piece.ticks_per_beat)
    from collections import Counter

    from tuplet.io.transcribe import audio_prompt

    # the prompt is what was heard (a voice's onset threshold is 0.8: a flute note may go
    # unheard), and it opens the piece; the model may add more at its last beats
    prompt, _, _ = audio_prompt(wav, tempo=96, instrument="voice", velocity=60)
    heard = prompt.select(prompt.onset_ticks < 8 * prompt.ticks_per_beat)
    assert len(heard) >= 6
    assert not Counter(heard.pitch.tolist()) - Counter(first.pitch.tolist())
    assert piece.end_ticks > 8 * piece.ticks_per_beat  # something was added after the prompt
    stale = out / "sample-01.09-harp.wav"  # a stem an earlier sample had
    stale.write_bytes(b"RIFF")
    again = run_tuplet("generate", "--prompt", str(out / "sample-01.mid"), "--prompt-beats", "4",
                    "--max-beats", "8", "--n", "1", "--seed", "2", "--threads", "1", "--quiet",
                    "--force-prompt", "--force", "--out", str(out), cwd=tmp_path)  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert not stale.exists() and not any(p.exists() for p in stems)  # no --wav this time


def test_warm_up_pays_the_first_calls_costs(melody) -> None:
    from tuplet.io.transcribe import load_model, warm_up

    load_model.cache_clear()
    assert warm_up() > 0
    assert load_model.cache_info().currsize == 1  # the session is built...
    heard = transcribe_audio(melody[0])
    assert heard.model_load_s == 0.0  # ...and the next transcription does not build it again
    assert len(heard.pitch) >= 16


def test_a_missing_audio_package_names_the_extra(monkeypatch, melody) -> None:
    import importlib.util

    from tuplet.errors import MissingExtraError

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "soxr" else real(name, *a)
    )
    with pytest.raises(MissingExtraError, match=r"'soxr': pip install 'tuplet\[audio\]'"):
        read_audio(melody[0])
