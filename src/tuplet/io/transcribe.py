"""Audio in: a recording (hummed, sung, played) -> notes on the beat grid, ready as a prompt.

Three steps, each with what it assumed written into the result:

1. **Read** (:func:`read_audio`): WAV, FLAC, OGG and MP3, as ``soundfile`` (libsndfile) reads
   them, mixed to mono. Refused in one line, before any work: a file that is not audio, one
   shorter than :data:`MIN_SECONDS` or longer than :data:`MAX_SECONDS`, a sample rate outside
   8-192 kHz, silence (peak under :data:`SILENCE_DBFS`), and clipping (more than
   :data:`MAX_CLIPPED_SHARE` of the samples at full scale: its harmonics read as wrong notes).
2. **Transcribe** (:func:`transcribe_audio`): Spotify's basic-pitch model (ICASSP 2022, the ONNX
   file its wheel bundles) on ONNX Runtime, without TensorFlow. The audio is resampled to
   22,050 Hz and cut into the model's 2-second windows overlapping by 30 frames, which go
   through the session 16 at a time; the frame, onset and contour outputs are stitched back
   together and turned into notes by basic-pitch's own note creation (onset threshold, frame
   threshold, minimum note length as options). The session is built once per process
   (:func:`load_model`) and how long that took is reported.
3. **Place on the grid** (:func:`to_grid`): the tempo is given or estimated (librosa's beat
   tracker on the onset strength, folded into 60-180 BPM); the first downbeat is the tracked beat
   nearest the first note (the idea is assumed to start on a downbeat, in 4/4), or given in
   seconds. Onsets and ends snap to ``grid`` steps per beat, every note lasts at least one
   step, and all notes get the chosen instrument. Where that instrument plays one line (a
   voice, a wind, a bowed string), only the melody is kept (:func:`one_line`: the overtones
   the model also hears as notes are dropped), unless asked otherwise.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from tuplet.errors import BadFileError, MissingExtraError, UsageError
from tuplet.notes import Notes, Track

AUDIO_IN_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".mp3")
"""Recordings tuplet reads as audio."""
MAX_SECONDS = 600.0
MIN_SECONDS = 0.25
"""Shorter than this holds no note to hear (the onset analysis needs about 0.1 s)."""
MIN_RATE, MAX_RATE = 8_000, 192_000
SILENCE_DBFS = -60.0
CLIP_LEVEL = 0.999
MAX_CLIPPED_SHARE = 0.01
MODEL_RATE = 22_050
FFT_HOP = 256
WINDOW = MODEL_RATE * 2 - FFT_HOP
"""Samples per model window (basic-pitch's AUDIO_N_SAMPLES)."""
OVERLAP_FRAMES = 30
WINDOWS_PER_CALL = 16
"""Model windows per session call (about 26 s of audio): bounded memory for a long file."""
FRAMES_PER_SECOND = MODEL_RATE // FFT_HOP
TICKS_PER_BEAT = 480
GRIDS = (1, 2, 3, 4, 6, 8, 12)
TEMPO_RANGE = (60.0, 180.0)
BEATS_PER_BAR = 4


@dataclass(frozen=True)
class Thresholds:
    """basic-pitch's note-creation settings (its defaults).

    Attributes:
        onset: Onset probability a note must reach to start (0..1).
        frame: Frame probability a note must keep to go on (0..1).
        min_note_ms: Shortest note kept, in milliseconds.
    """

    onset: float = 0.5
    frame: float = 0.3
    min_note_ms: float = 127.7

    def check(self) -> None:
        """Refuse thresholds outside 0..1 and a negative length."""
        for name in ("onset", "frame"):
            if not 0.0 < getattr(self, name) < 1.0:
                raise UsageError(f"the {name} threshold must lie between 0 and 1")
        if self.min_note_ms < 0:
            raise UsageError("the minimum note length must be 0 ms or more")


ONSET_THRESHOLDS = {"voices": 0.8, "violin": 0.7, "viola": 0.7, "cello": 0.7, "contrabass": 0.7}
"""Onset thresholds that suit an instrument better than basic-pitch's 0.5 (chosen on rendered
chorale melodies other than the ones bench/transcribe.py reports: a sung "aah" swells in and a
bowed note re-attacks, which the default hears as extra onsets; docs/audio.md)."""


def thresholds_for(instrument: str) -> Thresholds:
    """The default thresholds for notes played by ``instrument`` (a name people use)."""
    from tuplet.encoding import get_encoding
    from tuplet.instruments import resolve_instrument

    name = resolve_instrument(instrument, get_encoding("tuplet"))
    return Thresholds(onset=ONSET_THRESHOLDS.get(name, Thresholds.onset))


@dataclass(frozen=True)
class Transcription:
    """Notes heard in a recording, in seconds, before they meet a beat grid.

    Attributes:
        onset_s, end_s: Start and end of each note (seconds), sorted by onset.
        pitch: MIDI pitches.
        velocity: 1..127, from the model's note amplitude.
        audio_seconds: Length of the recording.
        audio: The recording as the model heard it: mono at :data:`MODEL_RATE` (the tempo is
            estimated from it only when it is not given).
        model_load_s: Seconds spent building the model's session in this call (0 when it was
            already loaded).
        seconds: Seconds the whole call took (reading, resampling, model, notes).
    """

    onset_s: np.ndarray
    end_s: np.ndarray
    pitch: np.ndarray
    velocity: np.ndarray
    audio_seconds: float
    audio: np.ndarray = field(repr=False)
    model_load_s: float
    seconds: float


def read_audio(
    path: str | os.PathLike[str], max_seconds: float = MAX_SECONDS
) -> tuple[np.ndarray, int]:
    """A recording as mono float32 samples and its sample rate, or a one-line refusal.

    Raises:
        BadFileError: Not a file, not audio, too long, an unusable rate, silent or clipped.
        MissingExtraError: The audio extra is not installed.
    """
    _need_audio_extra()
    import soundfile as sf

    p = Path(path)
    if not p.is_file():
        raise BadFileError(p, "no such file" if not p.exists() else "is not a file")
    try:
        info = sf.info(str(p))
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError):
        raise BadFileError(p, "is not audio tuplet can read (WAV, FLAC, OGG or MP3)") from None
    if not MIN_RATE <= info.samplerate <= MAX_RATE:
        raise BadFileError(
            p, f"sample rate {info.samplerate} Hz is outside {MIN_RATE}-{MAX_RATE} Hz"
        )
    if info.frames <= 0 or info.duration <= 0:
        raise BadFileError(p, "holds no audio")
    if info.duration < MIN_SECONDS:
        raise BadFileError(p, f"lasts {1000 * info.duration:.0f} ms: too short to hear notes in")
    if info.duration > max_seconds:
        raise BadFileError(
            p, f"lasts {info.duration / 60:.1f} minutes; the limit is {max_seconds / 60:.0f}"
        )
    try:
        data, rate = sf.read(str(p), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, ValueError) as exc:
        raise BadFileError(p, f"cannot be decoded: {str(exc).splitlines()[0][:120]}") from None
    if not np.isfinite(data).all():
        raise BadFileError(p, "holds samples that are not numbers")
    peak = float(np.abs(data).max()) if data.size else 0.0
    if peak < 10 ** (SILENCE_DBFS / 20):
        raise BadFileError(p, f"is silent (peak {20 * np.log10(max(peak, 1e-12)):.0f} dBFS)")
    clipped = float((np.abs(data) >= CLIP_LEVEL).mean())
    if clipped > MAX_CLIPPED_SHARE:
        raise BadFileError(
            p,
            f"is clipped: {100 * clipped:.1f}% of its samples sit at full scale; record it "
            "quieter (clipping adds tones that read as wrong notes)",
        )
    return data.mean(axis=1), int(rate)


def _need_audio_extra() -> None:
    """Say which extra to install when a package transcription needs is missing."""
    import importlib.util

    for module in ("soundfile", "soxr", "librosa", "onnxruntime"):
        if importlib.util.find_spec(module) is None:
            raise MissingExtraError(module, "audio")


def model_path() -> Path:
    """The basic-pitch ONNX model its wheel bundles."""
    import importlib.util

    spec = importlib.util.find_spec("basic_pitch")
    if spec is None or spec.origin is None:
        raise UsageError(
            "transcription needs basic-pitch and onnxruntime: bash scripts/setup.sh installs "
            "them (pip install --no-deps basic-pitch==0.4.0 onnxruntime librosa)"
        )
    path = Path(spec.origin).parent / "saved_models" / "icassp_2022" / "nmp.onnx"
    if not path.is_file():
        raise UsageError(f"{path}: basic-pitch's ONNX model is missing; reinstall basic-pitch")
    return path


@lru_cache(maxsize=1)
def load_model() -> Any:
    """The ONNX Runtime session of basic-pitch's model, built once per process."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(
        str(model_path()), sess_options=options, providers=["CPUExecutionProvider"]
    )


def _note_creation() -> Any:
    """basic-pitch's note creation, imported without its warnings about absent backends."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        from basic_pitch import note_creation
    finally:
        root.setLevel(level)
    return note_creation


def model_outputs(mono: np.ndarray, progress: bool = False) -> dict[str, np.ndarray]:
    """basic-pitch's frame, onset and contour activations of 22,050 Hz mono audio.

    ``progress`` shows a bar (seconds of audio) for a recording longer than a minute.

    Returns:
        ``{"note": (frames, 88), "onset": (frames, 88), "contour": (frames, 264)}``.
    """
    session = load_model()
    overlap = OVERLAP_FRAMES * FFT_HOP
    hop = WINDOW - overlap
    padded = np.concatenate([np.zeros(overlap // 2, dtype=np.float32), mono.astype(np.float32)])
    starts = range(0, len(padded), hop)
    windows = np.zeros((len(starts), WINDOW, 1), dtype=np.float32)
    for i, s in enumerate(starts):
        chunk = padded[s : s + WINDOW]
        windows[i, : len(chunk), 0] = chunk
    names = ["StatefulPartitionedCall:1", "StatefulPartitionedCall:2", "StatefulPartitionedCall:0"]
    from tqdm.auto import tqdm

    seconds = len(mono) / MODEL_RATE
    parts = []
    with tqdm(
        total=round(seconds), unit="s", desc="transcribing", leave=False,
        disable=not progress or seconds < 60,
    ) as bar:  # fmt: skip
        for i in range(0, len(windows), WINDOWS_PER_CALL):
            chunk = windows[i : i + WINDOWS_PER_CALL]
            parts.append(session.run(names, {"serving_default_input_2:0": chunk}))
            done = min(seconds, (i + len(chunk)) * hop / MODEL_RATE)
            bar.update(round(done) - bar.n)
    outputs = [np.concatenate([part[k] for part in parts]) for k in range(len(names))]
    n_frames = int(np.floor(len(mono) * FRAMES_PER_SECOND / MODEL_RATE))
    half = OVERLAP_FRAMES // 2
    result = {}
    for key, out in zip(("note", "onset", "contour"), outputs, strict=True):
        out = out[:, half:-half, :]
        result[key] = out.reshape(-1, out.shape[-1])[:n_frames]
    return result


def transcribe_audio(
    path: str | os.PathLike[str], thresholds: Thresholds | None = None, progress: bool = False
) -> Transcription:
    """The notes of a recording (see the module docstring).

    Raises:
        BadFileError: The recording is refused (:func:`read_audio`).
        UsageError: Bad thresholds, or basic-pitch is not installed.
    """
    import soxr

    thresholds = thresholds or Thresholds()
    thresholds.check()
    start = time.perf_counter()
    mono, rate = read_audio(path)
    audio = soxr.resample(mono, rate, MODEL_RATE) if rate != MODEL_RATE else mono
    loaded = load_model.cache_info().currsize > 0
    t0 = time.perf_counter()
    load_model()
    load_s = 0.0 if loaded else time.perf_counter() - t0
    outputs = model_outputs(audio, progress)
    creation = _note_creation()
    min_frames = round(thresholds.min_note_ms / 1000 * FRAMES_PER_SECOND)
    _, events = creation.model_output_to_notes(
        outputs,
        onset_thresh=thresholds.onset,
        frame_thresh=thresholds.frame,
        min_note_len=min_frames,
        melodia_trick=True,
    )
    events = sorted(events, key=lambda e: (e[0], e[2]))
    onset = np.array([e[0] for e in events], dtype=np.float64)
    end = np.array([e[1] for e in events], dtype=np.float64)
    pitch = np.array([e[2] for e in events], dtype=np.int64)
    velocity = np.clip(np.round(127 * np.array([e[3] for e in events])), 1, 127).astype(np.int64)
    return Transcription(
        onset_s=onset,
        end_s=end,
        pitch=pitch,
        velocity=velocity,
        audio_seconds=len(mono) / rate,
        audio=audio,
        model_load_s=load_s,
        seconds=time.perf_counter() - start,
    )


ONE_LINE_ONSET_S = 0.05
"""Notes starting this close together are one attack: in a single line, the loudest is kept."""
OVERTONES = frozenset((12, 19, 24, 28, 31, 34, 36))
"""Semitones from a note to its 2nd to 8th harmonics, rounded."""


def one_line(heard: Transcription) -> Transcription:
    """Only the melody of a single-line recording (a voice, a wind, a bowed line).

    The model also hears a tone's strong overtones as notes (a clarinet's twelfth, a voice's
    octave), quieter than the note and starting with it. Of notes starting within
    :data:`ONE_LINE_ONSET_S` of each other the loudest is kept; a quieter note that starts while
    a kept one sounds, an overtone's interval above it (:data:`OVERTONES`), is dropped; a kept
    note ends where the next begins.
    """
    order = np.lexsort((-heard.velocity, heard.onset_s))
    kept: list[int] = []
    for i in order.tolist():
        if kept:
            last = kept[-1]
            close = heard.onset_s[i] - heard.onset_s[last] < ONE_LINE_ONSET_S
            overtone = (
                heard.onset_s[i] < heard.end_s[last]
                and heard.velocity[i] < heard.velocity[last]
                and int(heard.pitch[i] - heard.pitch[last]) in OVERTONES
            )
            if close or overtone:
                continue
        kept.append(i)
    idx = np.array(kept, dtype=np.int64)
    end = heard.end_s[idx].copy()
    if len(idx) > 1:
        end[:-1] = np.minimum(end[:-1], heard.onset_s[idx][1:])
    return replace(
        heard,
        onset_s=heard.onset_s[idx],
        end_s=end,
        pitch=heard.pitch[idx],
        velocity=heard.velocity[idx],
    )


def warm_up() -> float:
    """Pay the first call's costs now: imports, the model's session, the compiled beat tracker.

    ``tuplet studio`` calls it in the background at launch, so the first recording opened is
    transcribed as fast as the later ones. Returns the seconds it took.
    """
    start = time.perf_counter()
    t = np.arange(MODEL_RATE) / MODEL_RATE  # one second of a plucked A
    tone = (0.3 * np.sin(2 * np.pi * 440 * t) * np.exp(-3 * t)).astype(np.float32)
    outputs = model_outputs(tone)
    _note_creation().model_output_to_notes(
        outputs, onset_thresh=0.5, frame_thresh=0.3, min_note_len=11, melodia_trick=True
    )
    estimate_tempo(_onset_envelope(np.tile(tone, 4)))
    return time.perf_counter() - start


def _onset_envelope(audio: np.ndarray) -> np.ndarray:
    import librosa

    return np.asarray(
        librosa.onset.onset_strength(y=audio, sr=MODEL_RATE, hop_length=FFT_HOP), dtype=np.float64
    )


@dataclass(frozen=True)
class Grid:
    """How a transcription was put on beats.

    Attributes:
        tempo: Beats per minute.
        tempo_from: ``"given"`` or ``"estimated"``.
        downbeat_s: Where beat 0 is in the recording (seconds).
        downbeat_from: ``"given"`` or how it was found.
        steps_per_beat: The grid.
        program: General MIDI program of every note.
        instrument: Its name.
        velocity: The one velocity given to every note (None: as heard).
        single_line: Only the melody was kept (:func:`one_line`).
    """

    tempo: float
    tempo_from: str
    downbeat_s: float
    downbeat_from: str
    steps_per_beat: int
    program: int
    instrument: str
    velocity: int | None = None
    single_line: bool = False

    def describe(self) -> str:
        """What was assumed, in one line."""
        step = {
            1: "beat",
            2: "eighth",
            3: "eighth-triplet",
            4: "sixteenth",
            6: "sixteenth-triplet",
            8: "thirty-second",
            12: "thirty-second-triplet",
        }[self.steps_per_beat]
        return (
            f"{self.tempo:.0f} BPM ({self.tempo_from}), 4/4, first downbeat at "
            f"{self.downbeat_s:.2f} s ({self.downbeat_from}), notes snapped to the {step}, "
            f"played by {self.instrument}"
            + (f" at velocity {self.velocity}" if self.velocity is not None else "")
            + (", one line (overtones and doubled attacks dropped)" if self.single_line else "")
        )


def estimate_tempo(envelope: np.ndarray) -> tuple[float, np.ndarray]:
    """Tempo (BPM, folded into :data:`TEMPO_RANGE`) and beat times (s) of an onset envelope."""
    import librosa

    if len(envelope) < 4 or not envelope.any():
        return 120.0, np.zeros(0)
    tempo, beats = librosa.beat.beat_track(
        onset_envelope=envelope, sr=MODEL_RATE, hop_length=FFT_HOP, start_bpm=100.0, units="time"
    )
    bpm = float(np.atleast_1d(tempo)[0]) or 120.0
    while bpm < TEMPO_RANGE[0]:
        bpm *= 2
    while bpm > TEMPO_RANGE[1]:
        bpm /= 2
    return bpm, np.asarray(beats, dtype=np.float64)


def to_grid(
    heard: Transcription,
    *,
    tempo: float | None = None,
    downbeat_s: float | None = None,
    steps_per_beat: int = 4,
    instrument: str = "piano",
    velocity: int | None = None,
    single_line: bool | None = None,
) -> tuple[Notes, Grid]:
    """The transcription as a note table on the beat grid (module docstring, step 3).

    Args:
        heard: What :func:`transcribe_audio` found.
        tempo: Beats per minute, or None to estimate it.
        downbeat_s: Where the first downbeat is (seconds), or None to take the tracked beat
            nearest the first note.
        steps_per_beat: Grid steps per beat (one of :data:`GRIDS`).
        instrument: A name people use (``violin``, ``voice``, ``piano``...).
        velocity: One velocity for every note, or None to keep the heard ones.
        single_line: Keep only the melody (:func:`one_line`); None: where the instrument plays
            one line (a voice, a wind, a bowed string: :data:`tuplet.instruments.LINE_INSTRUMENTS`).

    Returns:
        The notes (480 ticks per beat, one track, the tempo and 4/4 stated) and the grid used.

    Raises:
        UsageError: A bad tempo, grid or instrument name.
        BadFileError: Never; a transcription without notes gives an empty table.
    """
    if steps_per_beat not in GRIDS:
        raise UsageError(f"the grid must be one of {', '.join(map(str, GRIDS))} steps per beat")
    if velocity is not None and not 1 <= velocity <= 127:
        raise UsageError(f"a velocity must lie between 1 and 127, got {velocity}")
    if tempo is not None and not 20.0 <= tempo <= 400.0:
        raise UsageError(f"a tempo must lie between 20 and 400 BPM, got {tempo}")
    name, program = _pitched_instrument(instrument)
    if single_line is None:
        from tuplet.instruments import LINE_INSTRUMENTS

        single_line = name in LINE_INSTRUMENTS
    if single_line:
        heard = one_line(heard)
    bpm, tempo_from, t0, downbeat_from = _timing(heard, tempo, downbeat_s)
    step_ticks = TICKS_PER_BEAT // steps_per_beat
    on, off = _snap(heard, t0, bpm, steps_per_beat)
    onset_ticks = on * step_ticks
    notes = Notes(
        ticks_per_beat=TICKS_PER_BEAT,
        onset_ticks=onset_ticks,
        duration_ticks=(off - on) * step_ticks,
        pitch=heard.pitch.astype(np.int16),
        velocity=(heard.velocity if velocity is None else np.full(len(on), velocity)).astype(
            np.int16
        ),
        program=np.full(len(on), program, dtype=np.int16),
        is_drum=np.zeros(len(on), dtype=bool),
        track=np.zeros(len(on), dtype=np.int32),
        tempo_ticks=np.array([0], dtype=np.int64),
        tempo_qpm=np.array([bpm]),
        timesig_ticks=np.array([0], dtype=np.int64),
        timesig_numerator=np.array([BEATS_PER_BAR], dtype=np.int16),
        timesig_denominator=np.array([4], dtype=np.int16),
        tracks=(Track(name=name, channel=0, program=program),),
    ).sorted()
    grid = Grid(
        bpm, tempo_from, t0, downbeat_from, steps_per_beat, program, name, velocity, single_line
    )
    return notes, grid


def _pitched_instrument(instrument: str) -> tuple[str, int]:
    """The tuplet name and General MIDI program of a pitched instrument people name."""
    from tuplet.encoding import get_encoding
    from tuplet.encoding.config import instrument_code
    from tuplet.encoding.vocab import INSTRUMENT_PROGRAM
    from tuplet.instruments import resolve_instrument

    encoding = get_encoding("tuplet")
    name = resolve_instrument(instrument, encoding)
    if name == "drums":
        raise UsageError("a recording is transcribed as pitched notes: choose a pitched instrument")
    return name, int(INSTRUMENT_PROGRAM[instrument_code(name, encoding)])


def _timing(
    heard: Transcription, tempo: float | None, downbeat_s: float | None
) -> tuple[float, str, float, str]:
    """The tempo (BPM) and the first downbeat (seconds), each with where it came from."""
    if tempo is None:
        bpm, beats = estimate_tempo(_onset_envelope(heard.audio))
        tempo_from = "estimated"
    else:
        bpm, beats, tempo_from = float(tempo), np.zeros(0), "given"
    first = float(heard.onset_s[0]) if len(heard.onset_s) else 0.0
    if downbeat_s is not None:
        t0, downbeat_from = float(downbeat_s), "given"
    elif len(beats):
        t0 = float(beats[np.argmin(np.abs(beats - first))])
        downbeat_from = "the tracked beat nearest the first note"
    else:
        t0, downbeat_from = first, "the first note"
    return bpm, tempo_from, t0, downbeat_from


def _snap(
    heard: Transcription, t0: float, bpm: float, steps_per_beat: int
) -> tuple[np.ndarray, np.ndarray]:
    """Each note's start and end in grid steps from the downbeat (a pickup in the bar before)."""
    per_s = bpm / 60.0
    on = np.round((heard.onset_s - t0) * per_s * steps_per_beat).astype(np.int64)
    off = np.round((heard.end_s - t0) * per_s * steps_per_beat).astype(np.int64)
    off = np.maximum(off, on + 1)
    if len(on) and on.min() < 0:  # notes before the downbeat: a pickup, in the bar before
        bar = BEATS_PER_BAR * steps_per_beat
        lift = -(-int(-on.min()) // bar) * bar
        on, off = on + lift, off + lift
    return on, off


def audio_prompt(
    path: str | os.PathLike[str],
    *,
    tempo: float | None = None,
    instrument: str = "piano",
    steps_per_beat: int = 4,
    velocity: int | None = None,
    single_line: bool | None = None,
    thresholds: Thresholds | None = None,
) -> tuple[Notes, Grid, Transcription]:
    """A recording as a prompt: transcribed and put on the grid, or refused in one line.

    ``thresholds`` default to the instrument's (:func:`thresholds_for`).

    Raises:
        BadFileError: The recording is refused, or no note was heard in it.
    """
    heard = transcribe_audio(path, thresholds or thresholds_for(instrument))
    if not len(heard.pitch):
        raise BadFileError(Path(path), "no notes were heard in it (try a lower --onset-threshold)")
    notes, grid = to_grid(
        heard,
        tempo=tempo,
        steps_per_beat=steps_per_beat,
        instrument=instrument,
        velocity=velocity,
        single_line=single_line,
    )
    return notes, grid, heard
