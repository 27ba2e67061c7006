"""The options of ``tuplet generate``, in groups.

What it writes, how it runs, its checks, its mode, sampling and limits; :mod:`tuplet.cli.generate`
reads them.
"""

from __future__ import annotations

import argparse

from tuplet.cli.transcribe import add_grid_options

DESCRIPTION = """\
Generate music with a trained model (the default model, or --model CHECKPOINT).

Modes: nothing given: new music (the model picks the instruments); --instruments: new music for
those instruments; --prompt FILE: continue a MIDI or score file (its first --prompt-beats beats);
--infill START:END with --prompt: regenerate that span (beats from 0, end excluded; or bars with
a "bars" suffix: 4:8bars rewrites bars 5 to 8 as a DAW counts them), for every part or only the
--instruments named; --add-part NAME with --prompt: write a new part; --loop BARS: a loop that
repeats seamlessly: exactly BARS bars long (notes clipped at the end, the MIDI file ends on the
loop's end), its last bar rewritten with its first bar(s) placed after it so that it leads back
into them, the best of --tries rewrites kept by how likely the model finds the wrap-around
(with --prompt, the prompt's first BARS bars become the loop).

Each sample is written as OUT/sample-01.mid (a loop as OUT/loop-01-D-minor-112bpm.mid: its key
and tempo) with a JSON report (model, settings, seed, prompt, notes, beats, seconds, generation
time, notes/s; its originality against the model's training data; the bars where the model was
unsure), plus .wav (--wav) and .png (--png). A sample that
copies the training data is drawn again, then withheld; a prompt far outside what the model
knows makes it abstain (--force-prompt goes on).
Sampling follows the model's recommended settings (its config.json's "sampling", chosen on
validation data, with a mode's own knobs laid over them where it has some: the shipped model
draws a continuation's pitch at temperature 0.9; its MODEL_CARD.md lists them), else MMT's: top-k
with k = 10% of each field's vocabulary, temperature 1. Options replace them knob by knob and
take one value or per-field values, e.g. --temperature 1.0,pitch=1.2,duration=0.8; a single
value sets that knob for every field (--top-k-frac 0.1 --top-p 1 is MMT's sampler, whatever
the model recommends)."""


def add_options(p: argparse.ArgumentParser) -> None:
    """Every option of ``tuplet generate``, in groups."""
    _add_output_options(p)
    _add_run_options(p)
    _add_responsibility_options(p)
    _add_mode_options(p)
    _add_sampling_options(p)
    _add_limit_options(p)


def _add_output_options(p: argparse.ArgumentParser) -> None:
    """The model, how many samples, and what is written for each."""
    p.add_argument("--model", default=None, help="checkpoint folder (default: the shipped model)")
    p.add_argument("--out", default="generated", help="output folder (default: generated)")
    p.add_argument("--n", type=int, default=1, help="how many samples (default 1)")
    p.add_argument(
        "--seed",
        type=int,
        default=None,
        help="for repeatable output (the same seed and --n give the same samples; the n "
        "samples are drawn as one batch, so another --n gives others)",
    )
    p.add_argument("--force", action="store_true", help="overwrite existing files")
    p.add_argument("--wav", action="store_true", help="also render audio (FluidSynth)")
    p.add_argument("--png", action="store_true", help="also draw a piano roll")
    p.add_argument(
        "--stems",
        action="store_true",
        help="with --wav: also one WAV per track beside the mix, sample-aligned (the mix is "
        "their sum)",
    )
    p.add_argument(
        "--loudness",
        type=float,
        default=None,
        help="with --wav: bring the mix to this integrated loudness in LUFS, e.g. -14",
    )
    p.add_argument("--soundfont", default=None, help="a .sf2 file for --wav")


def _add_run_options(p: argparse.ArgumentParser) -> None:
    """Where and how the model runs, and what is shown meanwhile."""
    p.add_argument("--device", default=None, help="cpu, cuda... (default: cuda if any)")
    p.add_argument(
        "--threads", type=int, default=None, help="CPU threads (1 is fastest on a busy machine)"
    )
    p.add_argument(
        "--dtype",
        default="float32",
        choices=["float32", "bfloat16", "float16", "int8"],
        help="the blocks' weights as trained (float32), halved with the KV cache (bfloat16, "
        "float16) or quartered (int8, CPU only): faster on a CPU, slightly different",
    )
    p.add_argument(
        "--compile",
        action="store_true",
        help="decode each step as one compiled graph: 3-4x faster for one piece on a CPU (for "
        "several at once, 1.3x with --dtype bfloat16 on a CPU with bf16 products); the first "
        "run with a model and settings on a machine compiles it "
        "(about a minute) into a package on disk (~/.cache/tuplet/compiled), which later runs "
        "load in milliseconds",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _add_responsibility_options(p: argparse.ArgumentParser) -> None:
    """Originality, candidates kept, scope: what the report judges."""
    p.add_argument(
        "--originality",
        default="check",
        choices=["check", "off"],
        help="score every sample against the model's training data and draw again, then "
        "withhold, one that copies it (default: check)",
    )
    p.add_argument(
        "--keep",
        type=int,
        default=None,
        metavar="K",
        help="draw --n candidates and keep the K best by novelty, surprise and value (each "
        "report holds its scores)",
    )
    p.add_argument(
        "--adventurous",
        type=float,
        default=0.0,
        metavar="0..1",
        help="with --keep: favour the novel and the surprising over the safe (also samples "
        "a little hotter)",
    )
    p.add_argument(
        "--force-prompt",
        dest="force_prompt",
        action="store_true",
        help="generate even when the model abstains on the prompt (out of its depth); the "
        "report records it",
    )
    p.add_argument(
        "--no-scope",
        dest="no_scope",
        action="store_true",
        help="do not judge the prompt against what the model knows",
    )
    p.add_argument(
        "--block-cs",
        dest="block_cs",
        type=float,
        default=None,
        metavar="CS",
        help="withhold a sample with a 16-beat window this close to a training piece (0..1; "
        "default: the model's calibrated threshold, 0.9 or above)",
    )
    p.add_argument(
        "--block-verbatim",
        dest="block_verbatim",
        type=int,
        default=None,
        metavar="NOTES",
        help="withhold a sample that quotes this many notes of a training melody in a row",
    )
    p.add_argument(
        "--redraws",
        type=int,
        default=3,
        help="times a copying sample is drawn again before it is withheld (default 3)",
    )


def _add_mode_options(p: argparse.ArgumentParser) -> None:
    """What to generate: new music, from a prompt, a fill, a part, a loop."""
    m = p.add_argument_group("modes")
    m.add_argument(
        "--instruments",
        default=None,
        help="comma-separated, e.g. piano,violin or guitar,bass,drums; families such as "
        "strings (violin, viola, cello) name several (see --list-instruments)",
    )
    m.add_argument(
        "--list-instruments",
        dest="list_instruments",
        action="store_true",
        help="list the instrument names, families and aliases the model takes, and stop",
    )
    m.add_argument(
        "--prompt",
        default=None,
        help="a MIDI or score file to work from, or a recording (.wav .flac .ogg .mp3: "
        "transcribed first, as tuplet transcribe does)",
    )
    m.add_argument("--prompt-beats", dest="prompt_beats", type=int, default=None)
    add_grid_options(m, prefix="prompt-")
    m.add_argument("--infill", default=None, metavar="START:END", help="e.g. 16:32 or 4:8bars")
    m.add_argument("--add-part", dest="add_part", default=None, metavar="INSTRUMENT")
    m.add_argument("--loop", type=int, default=None, metavar="BARS")
    m.add_argument("--meter", default=None, help="meter of a new loop (default 4/4)")
    m.add_argument(
        "--tries",
        type=int,
        default=None,
        help="whole loops, and seams of the best, to choose from (4 each)",
    )


def _add_sampling_options(p: argparse.ArgumentParser) -> None:
    """How each field is drawn."""
    s = p.add_argument_group("sampling (one value, or per field: 1.0,pitch=1.2)")
    s.add_argument("--temperature", default=None, help="default 1")
    s.add_argument("--top-k-frac", dest="top_k_frac", default=None, help="default 0.1")
    s.add_argument("--top-k", dest="top_k", default=None, help="a fixed k instead")
    s.add_argument("--top-p", dest="top_p", default=None, help="default 1 (off)")
    s.add_argument(
        "--min-p",
        dest="min_p",
        default=None,
        help="keep codes at least this fraction as likely as the likeliest; default 0 (off)",
    )
    s.add_argument(
        "--any-instrument",
        dest="any_instrument",
        action="store_true",
        help="let new notes use any instrument, not only the declared or requested ones",
    )


def _add_limit_options(p: argparse.ArgumentParser) -> None:
    """How long a piece may be, and the sampler's rules."""
    lim = p.add_argument_group("limits")
    lim.add_argument(
        "--max-events",
        dest="max_events",
        type=int,
        default=None,
        help="most events per sequence, prompt included (default: the model's context)",
    )
    lim.add_argument(
        "--max-beats",
        dest="max_beats",
        type=int,
        default=None,
        help="no note starts at or after this beat (the last notes may ring past it)",
    )
    lim.add_argument("--max-notes", dest="max_notes", type=int, default=None, help="most new notes")
    lim.add_argument(
        "--max-gap",
        dest="max_gap",
        type=int,
        default=None,
        metavar="BEATS",
        help="most beats from one event to the next (default: the model's; the shipped "
        "model's, 8, is the 95th percentile of its training pieces' longest)",
    )
    lim.add_argument(
        "--rules-off",
        dest="rules_off",
        default=None,
        metavar="RULES",
        help="sampler rules to switch off, e.g. range,polyphony (tuplet.generation.constraints)",
    )
    lim.add_argument(
        "--min-notes",
        dest="min_notes",
        type=int,
        default=1,
        help="no end before this many new notes, unless the piece reaches --max-beats' last "
        "beat first (default 1)",
    )


__all__ = ["DESCRIPTION", "add_options"]
