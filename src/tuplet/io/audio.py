"""Audio rendering: note tables or MIDI files -> WAV, through the FluidSynth command line.

The Debian ``fluidsynth`` program renders offline (``-F``) with a General MIDI SoundFont; it
runs as a child process with a deadline, so a hang cannot stall the caller.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from tuplet.errors import TupletError, UsageError
from tuplet.io import atomic_output, check_readable_file
from tuplet.notes import Notes

if TYPE_CHECKING:
    import numpy as np

SOUNDFONT_ENV = "TUPLET_SOUNDFONT"
"""Environment variable naming a SoundFont (.sf2) to use when none is passed."""
SYSTEM_SOUNDFONTS: tuple[Path, ...] = (
    Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"),
    Path("/usr/share/sounds/sf2/default-GM.sf2"),
)
INSTALL_HINT = (
    "install it with: apt-get install fluidsynth fluid-soundfont-gm (or: bash scripts/setup.sh)"
)


class AudioUnavailable(TupletError):
    """This machine cannot render audio: fluidsynth or a General MIDI SoundFont is missing.

    Raised only for what is not installed, never for a file the caller named: a caller that can
    do without audio (``tuplet generate --wav``) catches it, says why in one line and goes on.
    """
TIMEOUT_BASE_S = 60.0
"""Deadline for one render: this, plus :data:`TIMEOUT_PER_AUDIO_S` per second of audio."""
TIMEOUT_PER_AUDIO_S = 1.0
GAIN = 0.5
"""FluidSynth's master gain (its default, 0.2, renders a chorale at about -26 dBFS peak)."""


def find_soundfont(soundfont: str | os.PathLike[str] | None = None) -> Path:
    """The SoundFont to render with: the argument, else ``$TUPLET_SOUNDFONT``, else the system's.

    Args:
        soundfont: A ``.sf2`` file, or None to look it up.

    Returns:
        An existing SoundFont file.

    Raises:
        TupletError: The named SoundFont does not exist or is not a SoundFont 2 file.
        AudioUnavailable: None was named and none is installed (with the install hint).
    """
    named = soundfont if soundfont is not None else os.environ.get(SOUNDFONT_ENV) or None
    if named is not None:
        source = "" if soundfont is not None else f" (from ${SOUNDFONT_ENV})"
        if not Path(named).is_file():
            raise TupletError(f"{os.fspath(named)}: no such SoundFont file{source}")
        try:
            with open(named, "rb") as f:
                head = f.read(12)
        except OSError as e:
            raise TupletError(
                f"{os.fspath(named)}: cannot be read ({e.strerror}){source}"
            ) from None
        # FluidSynth falls back to another font, silently, on a file it cannot load
        if head[:4] != b"RIFF" or head[8:12] != b"sfbk":
            raise TupletError(f"{os.fspath(named)}: not a SoundFont 2 (.sf2) file{source}")
        return Path(named)
    for candidate in SYSTEM_SOUNDFONTS:
        if candidate.is_file():
            return candidate
    raise AudioUnavailable(
        f"no General MIDI SoundFont found (looked for {', '.join(map(str, SYSTEM_SOUNDFONTS))} "
        f"and ${SOUNDFONT_ENV}); {INSTALL_HINT}"
    )


def find_fluidsynth() -> str:
    """The path of the fluidsynth program.

    Raises:
        AudioUnavailable: It is not installed (with the install hint).
    """
    exe = shutil.which("fluidsynth")
    if exe is None:
        raise AudioUnavailable(f"the fluidsynth program is not installed; {INSTALL_HINT}")
    return exe


def render_wav(
    notes_or_midi_path: Notes | str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    soundfont: str | os.PathLike[str] | None = None,
    sample_rate: int = 44100,
    loop_seconds: float | None = None,
    sample_format: str = "s16",
) -> Path:
    """Render notes (or a MIDI file) to a 16-bit stereo WAV file with FluidSynth.

    The audio lasts as long as the notes plus FluidSynth's release tail (up to a few
    seconds), or, with ``loop_seconds``, exactly that long: the tail that sounds past the loop's
    end is mixed into its start, as it sounds when the loop plays again, so the file repeats
    seamlessly. The WAV is written to a temporary name in the output folder and renamed when
    complete.

    Args:
        notes_or_midi_path: A note table, or the path of a ``.mid`` file.
        out_path: The ``.wav`` file to write (overwritten if present).
        soundfont: A ``.sf2`` file; default ``$TUPLET_SOUNDFONT``, else the system's GM font.
        sample_rate: Samples per second.
        loop_seconds: Make a seamless loop of this length (see above; 16-bit only).
        sample_format: ``"s16"`` (16-bit PCM) or ``"float"`` (32-bit float, for
            :mod:`tuplet.io.mixdown`, which mixes and folds loops itself).

    Returns:
        ``out_path`` as a :class:`~pathlib.Path`.

    Raises:
        TupletError: fluidsynth or a SoundFont is missing (with the install hint), or the
            render fails or overruns its deadline.
        BadFileError: The MIDI file cannot be read.
        UsageError: The output folder does not exist, or the sample rate is not positive.
    """
    from tuplet.io.midi import read_midi, write_midi

    out = Path(out_path)
    if not out.parent.is_dir():
        raise UsageError(f"{out}: cannot write audio: its folder does not exist")
    if sample_rate <= 0:
        raise UsageError(f"sample rate must be positive, got {sample_rate}")
    if sample_format not in ("s16", "float"):
        raise UsageError(f"sample format must be s16 or float, got {sample_format!r}")
    if loop_seconds is not None and sample_format != "s16":
        raise UsageError("a loop is folded in 16-bit audio only")
    if loop_seconds is not None and not loop_seconds > 0:
        raise UsageError(f"a loop must last more than 0 s, got {loop_seconds}")
    exe = find_fluidsynth()
    sf2 = find_soundfont(soundfont)
    with tempfile.TemporaryDirectory(prefix="tuplet-render-") as scratch:
        if isinstance(notes_or_midi_path, Notes):
            notes = notes_or_midi_path
            midi = write_midi(notes, Path(scratch) / "render.mid")
        else:
            midi = check_readable_file(notes_or_midi_path)
            notes = read_midi(midi)  # validates the file before a native synth sees it
        timeout_s = TIMEOUT_BASE_S + TIMEOUT_PER_AUDIO_S * notes.length_seconds
        with atomic_output(out, ".wav") as tmp:
            # -n no MIDI input, -i no shell, -q quiet, -F render to a file; -T fixes the file
            # type, since the temporary name does not end in .wav
            command = [exe, "-n", "-i", "-q", "-F", str(tmp), "-T", "wav", "-r", str(sample_rate)]
            command += ["-O", sample_format, "-g", str(GAIN)]
            command += [str(sf2), str(midi)]
            try:
                done = subprocess.run(
                    command, capture_output=True, text=True, timeout=timeout_s, check=False
                )
            except subprocess.TimeoutExpired:
                raise TupletError(
                    f"{out}: fluidsynth did not finish within {timeout_s:.0f} s"
                ) from None
            if done.returncode != 0 or not tmp.is_file() or tmp.stat().st_size <= 44:
                detail = " ".join((done.stderr or done.stdout).split())[:200] or "no output"
                raise TupletError(
                    f"{out}: fluidsynth failed (exit code {done.returncode}): {detail}"
                )
            if loop_seconds is not None:
                _fold_into_loop(tmp, round(loop_seconds * sample_rate))
    return out


def fold_loop(audio: np.ndarray, frames: int) -> np.ndarray:
    """Audio ``(n, channels)`` as exactly ``frames`` frames that repeat seamlessly.

    What sounds past the end is added onto the start (once per loop length it spans, in the
    input's dtype); audio shorter than the loop is padded with silence.
    """
    import numpy as np

    loop = np.zeros((frames, audio.shape[1]), dtype=audio.dtype)
    for start in range(0, len(audio), frames):
        chunk = audio[start : start + frames]
        loop[: len(chunk)] += chunk
    return loop


def _fold_into_loop(path: Path, frames: int) -> None:
    """Rewrite a 16-bit WAV file as exactly ``frames`` frames that repeat seamlessly.

    The audio past the end is added onto the start (once per loop length it spans), with
    saturation at 16 bits; audio shorter than the loop is padded with silence.
    """
    import wave

    import numpy as np

    with wave.open(str(path), "rb") as w:
        params = w.getparams()
        audio = np.frombuffer(w.readframes(params.nframes), dtype="<i2")
    loop = fold_loop(audio.reshape(-1, params.nchannels).astype(np.int32), frames)
    with wave.open(str(path), "wb") as w:
        w.setparams(params)
        w.writeframes(np.clip(loop, -32768, 32767).astype("<i2").tobytes())
