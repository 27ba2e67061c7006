"""Audio a musician can drop into a DAW: a mix, one stem per track, a target loudness, FLAC.

:func:`render_mix` renders each track alone with FluidSynth (:mod:`tuplet.io.audio`) as
32-bit float audio, pads every stem to the longest one, and writes the mix as their sum, so
the stems line up sample for sample and add up to the mix (within the output's rounding).
With ``loudness`` the mix is brought to that integrated loudness (ITU-R BS.1770, gated, as
``pyloudnorm`` measures it) and every stem gets the same gain; where the target would push the
mix's peak past -1 dBFS the gain stops there, and the result says so. Files are WAV or FLAC
by their suffix, 24-bit, written to a temporary name and renamed when complete.

Without stems or a loudness target, :func:`tuplet.io.audio.render_wav` (one FluidSynth run,
16-bit WAV) is the faster path, and ``tuplet render`` uses it.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tuplet.errors import MissingExtraError, TupletError, UsageError
from tuplet.io import atomic_output
from tuplet.notes import Notes

AUDIO_SUFFIXES = {".wav": "WAV", ".flac": "FLAC"}
"""Output formats by suffix, as ``soundfile`` names them."""
SUBTYPE = "PCM_24"
PEAK_CEILING_DB = -1.0
"""The loudest sample a loudness target may raise the mix to (dBFS)."""
MIN_LOUDNESS, MAX_LOUDNESS = -70.0, 0.0
"""Loudness targets accepted (LUFS)."""


@dataclass(frozen=True)
class MixResult:
    """What :func:`render_mix` wrote and measured.

    Attributes:
        mix: The mix file.
        stems: One file per track, in track order (empty without stems).
        labels: Each stem's label (its number, then its track's name or instrument).
        seconds: Length of every file.
        loudness: Integrated loudness of the mix as written (LUFS); None where it is too short
            or too quiet to measure (under 0.4 s, or silent).
        gain_db: The gain applied to reach the target (0 without one).
        peak_db: The mix's loudest sample (dBFS).
        limited: The target would have pushed the peak past the ceiling; the gain stopped there.
    """

    mix: Path
    stems: tuple[Path, ...]
    labels: tuple[str, ...]
    seconds: float
    loudness: float | None
    gain_db: float
    peak_db: float
    limited: bool


def audio_format(path: str | os.PathLike[str]) -> str:
    """The ``soundfile`` format of an output path (WAV or FLAC), or a clear error."""
    suffix = Path(path).suffix.lower()
    if suffix not in AUDIO_SUFFIXES:
        raise UsageError(f"{path}: audio is written as .wav or .flac, not {suffix or 'no suffix'}")
    return AUDIO_SUFFIXES[suffix]


def stem_groups(notes: Notes) -> list[tuple[str, np.ndarray]]:
    """The stems of a piece: ``(label, note mask)`` per track that has notes, in order.

    Tracks are :func:`tuplet.notes.track_keys`'s (the file's, or one per instrument for a
    generated piece). Labels are ``01-violin``-style: the track's name (else its instrument),
    lower-case with dashes, numbered over the tracks that sound.
    """
    from tuplet.notes import track_keys

    keys, tracks = track_keys(notes)
    sounding = [i for i in range(len(tracks)) if (keys == i).any()]
    return [(f"{n:02d}-{_slug(tracks[i][0])}", keys == i) for n, i in enumerate(sounding, 1)]


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40] or "track"


def stem_paths(mix: str | os.PathLike[str], labels: list[str]) -> list[Path]:
    """Where the stems of ``mix`` go: beside it, ``piece.01-violin.wav`` and so on."""
    out = Path(mix)
    return [out.with_name(f"{out.stem}.{label}{out.suffix}") for label in labels]


def render_mix(
    notes: Notes,
    out_path: str | os.PathLike[str],
    *,
    stems: bool = False,
    loudness: float | None = None,
    soundfont: str | os.PathLike[str] | None = None,
    sample_rate: int = 44100,
    loop_seconds: float | None = None,
    scratch_dir: str | os.PathLike[str] | None = None,
) -> MixResult:
    """Render a piece to a mix (and its stems), optionally at a target loudness.

    Args:
        notes: The piece.
        out_path: The mix, ``.wav`` or ``.flac``; stems go beside it (:func:`stem_paths`).
        stems: Also write one file per track.
        loudness: Target integrated loudness in LUFS (e.g. -14), or None to keep FluidSynth's
            level.
        soundfont: A ``.sf2`` file; default as :func:`tuplet.io.audio.find_soundfont`.
        sample_rate: Samples per second.
        loop_seconds: Make every file a seamless loop of this length (the tail folded into
            the start, as :func:`tuplet.io.audio.render_wav` does).
        scratch_dir: Where the stems' MIDI files and raw renders are made (a temporary folder
            inside it, removed after); default the system's temporary folder.

    Returns:
        What was written and measured.

    Raises:
        UsageError: A bad suffix, target or folder; a piece without notes.
        TupletError: fluidsynth or a SoundFont is missing, or a render fails.
    """
    try:
        import soundfile as sf
    except ImportError:
        raise MissingExtraError("soundfile", "audio") from None

    out = Path(out_path)
    fmt = _check_request(notes, out, loudness)
    groups = stem_groups(notes) if stems else [("mix", np.ones(len(notes), dtype=bool))]
    audio = _render_groups(notes, groups, out, soundfont, sample_rate, scratch_dir)
    audio, frames = _to_length(audio, sample_rate, loop_seconds)
    mix, audio, measured, gain_db, limited = _level(audio, sample_rate, loudness, out)
    peak_db = float(20 * np.log10(max(float(np.abs(mix).max()), 1e-12)))
    paths = stem_paths(out, [label for label, _ in groups]) if stems else []
    writes = [*zip(paths, audio, strict=True), (out, mix)] if stems else [(out, mix)]
    for path, data in writes:
        with atomic_output(path, path.suffix) as tmp:
            sf.write(tmp, np.clip(data, -1.0, 1.0), sample_rate, format=fmt, subtype=SUBTYPE)
    return MixResult(
        mix=out,
        stems=tuple(paths),
        labels=tuple(label for label, _ in groups) if stems else (),
        seconds=frames / sample_rate,
        loudness=measured,
        gain_db=float(gain_db),
        peak_db=peak_db,
        limited=limited,
    )


def _check_request(notes: Notes, out: Path, loudness: float | None) -> str:
    """The output's audio format, after refusing a missing folder, a bad target, no notes."""
    fmt = audio_format(out)
    if not out.parent.is_dir():
        raise UsageError(f"{out}: cannot write audio: its folder does not exist")
    if loudness is not None and not MIN_LOUDNESS <= loudness <= MAX_LOUDNESS:
        raise UsageError(
            f"a loudness target must lie between {MIN_LOUDNESS:.0f} and {MAX_LOUDNESS:.0f} "
            f"LUFS, got {loudness}"
        )
    if not len(notes):
        raise UsageError(f"{out}: the piece has no notes to render")
    return fmt


def _render_groups(
    notes: Notes,
    groups: list[tuple[str, np.ndarray]],
    out: Path,
    soundfont: str | os.PathLike[str] | None,
    sample_rate: int,
    scratch_dir: str | os.PathLike[str] | None,
) -> list[np.ndarray]:
    """Each group's notes rendered by FluidSynth: (frames, channels) float arrays."""
    import soundfile as sf

    from tuplet.io.audio import render_wav

    audio: list[np.ndarray] = []
    with tempfile.TemporaryDirectory(prefix="tuplet-mix-", dir=scratch_dir) as scratch:
        for i, (_, mask) in enumerate(groups):
            wav = Path(scratch) / f"{i:03d}.wav"
            render_wav(notes.select(mask), wav, soundfont=soundfont, sample_rate=sample_rate,
                       sample_format="float")  # fmt: skip
            data, rate = sf.read(wav, dtype="float64", always_2d=True)
            if rate != sample_rate:
                raise TupletError(f"{out}: fluidsynth wrote {rate} Hz, not {sample_rate}")
            audio.append(data)
    return audio


def _to_length(
    audio: list[np.ndarray], sample_rate: int, loop_seconds: float | None
) -> tuple[list[np.ndarray], int]:
    """Every render at one length: the longest, or folded into a loop of ``loop_seconds``."""
    from tuplet.io.audio import fold_loop

    if loop_seconds is not None:
        frames = round(loop_seconds * sample_rate)
        return [fold_loop(a, frames) for a in audio], frames
    frames = max(len(a) for a in audio)
    return [np.pad(a, ((0, frames - len(a)), (0, 0))) for a in audio], frames


def _level(
    audio: list[np.ndarray], sample_rate: int, loudness: float | None, out: Path
) -> tuple[np.ndarray, list[np.ndarray], float | None, float, bool]:
    """The mix and stems at the loudness target (the peak kept under the ceiling).

    Returns the mix, the stems, the mix's measured loudness, the gain in dB and whether the
    ceiling limited it.
    """
    mix = np.sum(audio, axis=0)
    gain_db, limited = 0.0, False
    measured = _loudness(mix, sample_rate)
    if loudness is None:
        return mix, audio, measured, gain_db, limited
    if measured is None:
        raise UsageError(f"{out}: too short or too quiet to measure its loudness")
    gain_db = loudness - measured
    peak = float(np.abs(mix).max())
    ceiling = 10 ** (PEAK_CEILING_DB / 20)
    if peak * 10 ** (gain_db / 20) > ceiling:
        gain_db, limited = 20 * np.log10(ceiling / peak), True
    scale = 10 ** (gain_db / 20)
    mix = mix * scale
    return mix, [a * scale for a in audio], _loudness(mix, sample_rate), gain_db, limited


def _loudness(audio: np.ndarray, sample_rate: int) -> float | None:
    """Integrated loudness (LUFS) by ITU-R BS.1770-4, or None where it cannot be measured."""
    try:
        import pyloudnorm
    except ImportError:
        raise MissingExtraError("pyloudnorm", "audio") from None

    if len(audio) < 0.4 * sample_rate:
        return None
    value = float(pyloudnorm.Meter(sample_rate).integrated_loudness(audio))
    return value if np.isfinite(value) else None


def describe(result: MixResult) -> str:
    """One line for the terminal: what was written, how loud, and any limit hit."""
    parts = [f"wrote {result.mix} ({result.seconds:.1f} s"]
    if result.stems:
        parts.append(f", {len(result.stems)} stems beside it")
    parts.append(")")
    if result.loudness is not None:
        parts.append(f"; {result.loudness:.1f} LUFS, peak {result.peak_db:.1f} dBFS")
    if result.gain_db:
        parts.append(f", gain {result.gain_db:+.1f} dB")
    if result.limited:
        parts.append(f" (stopped at the {PEAK_CEILING_DB:.0f} dBFS peak ceiling)")
    return "".join(parts)
