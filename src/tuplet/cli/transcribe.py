"""``tuplet transcribe``: a recording (hummed, sung, played) -> a MIDI file on the beat grid."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from tuplet.errors import UsageError


def tempo_arg(value: str) -> float | None:
    """``auto`` (estimate it) or beats per minute."""
    if value.strip().lower() == "auto":
        return None
    try:
        return float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a tempo is auto or BPM, not {value!r}") from None


def _on_off_auto(value: str) -> bool | None:
    v = value.strip().lower()
    if v in ("on", "off", "auto"):
        return None if v == "auto" else v == "on"
    raise argparse.ArgumentTypeError(f"on, off or auto, not {value!r}")


def add_grid_options(p: argparse._ActionsContainer, prefix: str = "") -> None:
    """The options that put a recording on the grid (``--prompt-`` prefixed for generate)."""
    p.add_argument(
        f"--{prefix}instrument",
        default="piano",
        help="who plays the notes heard (default piano; e.g. violin, voice, flute)",
    )
    p.add_argument(
        f"--{prefix}tempo",
        type=tempo_arg,
        default=None,
        help="beats per minute, or auto to estimate it (default auto)",
    )
    p.add_argument(
        f"--{prefix}grid",
        type=int,
        default=4,
        help="grid steps per beat the notes snap to: 4 sixteenths (default), 3 or 6 triplets...",
    )
    p.add_argument(
        f"--{prefix}one-line",
        dest=f"{prefix.replace('-', '_')}one_line",
        type=_on_off_auto,
        default=None,
        help="keep only the melody (drop overtones heard as notes): on, off, or auto (default: "
        "on for voices, winds and bowed strings)",
    )
    p.add_argument(
        f"--{prefix}velocity",
        type=int,
        default=None,
        help="one velocity (1-127) for every note, e.g. the one a model trained on scores knows "
        "(default: as heard)",
    )


def cmd_transcribe(args: argparse.Namespace) -> int:
    """Transcribe, place on the grid, write the MIDI, say what was assumed."""
    from tuplet.io.midi import write_midi
    from tuplet.io.transcribe import Thresholds, thresholds_for, to_grid, transcribe_audio

    out = Path(args.out)
    if out.suffix.lower() not in (".mid", ".midi"):
        raise UsageError(f"{out}: --out must be a MIDI file (.mid)")
    if out.exists() and not args.force:
        raise UsageError(f"{out}: exists already (use --force to overwrite)")
    if not out.parent.is_dir():
        raise UsageError(f"{out}: its folder does not exist")
    onset = args.onset_threshold
    if onset is None:
        onset = thresholds_for(args.instrument).onset
    thresholds = Thresholds(onset, args.frame_threshold, args.min_note_ms)
    heard = transcribe_audio(args.file, thresholds, progress=not args.quiet)
    notes, grid = to_grid(
        heard,
        tempo=args.tempo,
        downbeat_s=args.downbeat,
        steps_per_beat=args.grid,
        instrument=args.instrument,
        velocity=args.velocity,
        single_line=args.one_line,
    )
    if not len(notes):
        raise UsageError(
            f"{args.file}: no notes were heard (try a lower --onset-threshold); nothing written"
        )
    write_midi(notes, out)
    print(transcription_summary(args.file, heard, notes))
    print(f"assumed: {grid.describe()}")
    print(f"wrote {out}")
    return 0


def transcription_summary(file: Any, heard: Any, notes: Any) -> str:
    """One line: notes heard, audio length, time taken, the model's first load."""
    load = (
        f"; the model's session loaded in {heard.model_load_s:.2f} s" if heard.model_load_s else ""
    )
    return (
        f"{file}: {len(notes)} notes heard in {heard.audio_seconds:.1f} s of audio, "
        f"{notes.length_beats:.1f} beats; transcribed in {heard.seconds:.1f} s{load}"
    )


def register(sub: Any) -> None:
    """Add ``tuplet transcribe`` to the command line."""
    p = sub.add_parser(
        "transcribe",
        help="a recording (WAV, FLAC, OGG, MP3: hummed, sung, played) to MIDI on the beat grid",
        description="Transcribe a recording with basic-pitch (on ONNX Runtime), estimate or take "
        "its tempo and first downbeat, snap the notes to the grid and write a MIDI file to use "
        "as a prompt. Refuses silence, clipping, files over 10 minutes and unusable sample "
        "rates in one line.",
    )
    p.add_argument("file", help="the recording")
    p.add_argument("--out", required=True, help="X.mid")
    add_grid_options(p)
    p.add_argument(
        "--downbeat",
        type=float,
        default=None,
        help="seconds into the recording of the first downbeat (default: the beat nearest "
        "the first note)",
    )
    p.add_argument(
        "--onset-threshold",
        type=float,
        default=None,
        help="how sure the model must be that a note starts (0..1; lower hears more; default "
        "0.5, 0.7 for bowed strings, 0.8 for a voice)",
    )
    p.add_argument(
        "--frame-threshold",
        type=float,
        default=0.3,
        help="how sure it must stay that the note sounds (0..1, default 0.3)",
    )
    p.add_argument(
        "--min-note-ms",
        type=float,
        default=127.7,
        help="shortest note kept, in ms (default 127.7)",
    )
    p.add_argument("--force", action="store_true", help="overwrite an existing output")
    p.add_argument("--quiet", action="store_true", help="no progress bar (shown past a minute)")
    p.set_defaults(handler=cmd_transcribe)
