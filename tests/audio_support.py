"""What the audio tests share: FluidSynth or a skip, a flute melody, the command line."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from tuplet.io import read_notes
from tuplet.notes import Notes, shift_ticks

CHORALE = Path(__file__).parent / "data" / "bwv66.6.mid"
FLUTE = 73


def require_fluidsynth() -> None:
    """Skip the calling test module where nothing can render (setup.sh installs FluidSynth)."""
    from tuplet.io import audio

    try:
        audio.find_fluidsynth()
        audio.find_soundfont()
    except audio.AudioUnavailable as exc:  # pragma: no cover - setup.sh installs both
        pytest.skip(f"rendering needs FluidSynth: {exc}", allow_module_level=True)


def flute_melody(n: int, lead_beats: int = 0) -> Notes:
    """The first ``n`` soprano notes of bwv66.6 on a flute, no track table, the first note
    ``lead_beats`` beats in (else where the chorale has it)."""
    notes = read_notes(CHORALE)
    tune = notes.select(notes.track == 0).select(np.arange(n))
    tune = replace(tune, program=np.full(n, FLUTE, dtype=np.int16), tracks=())
    if lead_beats:
        tune = shift_ticks(tune, lead_beats * tune.ticks_per_beat - int(tune.onset_ticks[0]))
    return tune


def run_tuplet(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``python -m tuplet ARGS`` in ``cwd``, its output captured."""
    return subprocess.run(
        [sys.executable, "-m", "tuplet", *args], capture_output=True, text=True, cwd=cwd,
        check=False,
    )  # fmt: skip
