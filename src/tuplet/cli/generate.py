"""``tuplet generate``: new music, continuations, infills, added parts and seamless loops."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tuplet.cli.generate_checks import (
    blocking,
    check_keep,
    check_originality,
    judge_prompt,
    keep_best,
)
from tuplet.cli.generate_options import DESCRIPTION, add_options
from tuplet.cli.generate_output import free_paths, write_pieces
from tuplet.errors import BadFileError, UsageError

if TYPE_CHECKING:
    from tuplet.encoding import EncodingConfig
    from tuplet.generation.generate import LoadedModel
    from tuplet.generation.sample import SamplingSettings
    from tuplet.notes import Notes

_SPAN = re.compile(r"^\s*(\d+)\s*:\s*(\d+)\s*(bars?|beats?)?\s*$")
_DEVICE = re.compile(r"^(cpu|cuda|mps|xpu)(:\d+)?$")
_LIST_HINT = "`tuplet generate --list-instruments` lists every name"
_FLAGS = {
    "temperature": "--temperature",
    "top_k_frac": "--top-k-frac",
    "top_k": "--top-k",
    "top_p": "--top-p",
    "min_p": "--min-p",
}



def _field_values(text: str, flag: str) -> tuple[float | None, dict[str, float]]:
    """``"1.0,pitch=1.2"`` -> (1.0, {"pitch": 1.2})."""
    default, per_field = None, {}
    for part in text.split(","):
        name, _, value = part.rpartition("=")
        try:
            number = float(value)
        except ValueError:
            raise UsageError(
                f"{flag}: expected a number or FIELD=NUMBER items, e.g. 1.0,pitch=1.2; got {text!r}"
            ) from None
        if name.strip():
            per_field[name.strip()] = number
        else:
            default = number
    return default, per_field


def _settings(args: argparse.Namespace, base: SamplingSettings | None = None) -> SamplingSettings:
    """The settings of ``base`` (default MMT's) with the knobs given on the command line."""
    from tuplet.generation.sample import SamplingSettings

    values: dict[str, Any] = {}
    per_field: dict[str, dict[str, float]] = {}
    for knob in _FLAGS:
        text = getattr(args, knob)
        if text is None:
            continue
        default, fields = _field_values(text, _FLAGS[knob])
        if default is not None:
            values[knob] = int(default) if knob == "top_k" and default.is_integer() else default
        for name, value in fields.items():
            per_field.setdefault(name, {})[knob] = value
    return (base or SamplingSettings()).updated(values, per_field)


def _span(text: str, notes: Notes) -> tuple[int, int]:
    from tuplet.generation.generate import bar_beats

    match = _SPAN.match(text)
    if match is None:
        raise UsageError(
            f"--infill: expected START:END in beats or START:ENDbars (e.g. 16:32 or 4:8bars), "
            f"got {text!r}"
        )
    start, end = int(match.group(1)), int(match.group(2))
    if start >= end:
        raise UsageError(f"--infill {text}: the span is empty; END must come after START")
    if (match.group(3) or "").startswith("bar"):
        return bar_beats(notes, start, end)
    return start, end


def _meter(text: str) -> tuple[int, int]:
    match = re.match(r"^\s*(\d+)\s*/\s*(\d+)\s*$", text)
    if match is None:
        raise UsageError(f"--meter: expected NUMERATOR/DENOMINATOR such as 4/4, got {text!r}")
    return int(match.group(1)), int(match.group(2))


def _mode(args: argparse.Namespace) -> str:
    """Which mode the options ask for; refuse combinations that make no sense."""
    chosen = [
        flag
        for flag, value in (("--infill", args.infill), ("--add-part", args.add_part))
        if value is not None
    ]
    if args.loop is not None:
        chosen.append("--loop")
    if len(chosen) > 1:
        raise UsageError(f"choose one of {' and '.join(chosen)}")
    if chosen and chosen[0] in ("--infill", "--add-part") and args.prompt is None:
        raise UsageError(f"{chosen[0]} needs --prompt FILE (the piece to work on)")
    if args.add_part is not None and args.instruments is not None:
        raise UsageError("--add-part names its instrument: leave out --instruments")
    if args.prompt_beats is not None and (chosen or args.prompt is None):
        raise UsageError("--prompt-beats only goes with --prompt alone (a continuation)")
    if (args.meter is not None or args.tries is not None) and args.loop is None:
        raise UsageError("--meter and --tries only go with --loop")
    if args.loop is not None and args.prompt is not None:
        for what in ("instruments", "meter"):
            if getattr(args, what) is not None:
                raise UsageError(f"a loop made from --prompt keeps its {what}: leave out --{what}")
    if chosen:
        return chosen[0].lstrip("-")
    if args.prompt is not None:
        return "continuation"
    return "instruments" if args.instruments is not None else "unconditional"


def _read_prompt(
    path: str, encoding: EncodingConfig, args: argparse.Namespace | None = None
) -> tuple[Notes, int]:
    """The prompt's notes, and its length in beats as the model's encoding holds it.

    A recording (:data:`tuplet.io.transcribe.AUDIO_IN_SUFFIXES`) is transcribed and put on the
    grid first (``--prompt-instrument``, ``--prompt-tempo``, ``--prompt-grid``), and what was
    assumed is printed and kept in ``args.prompt_assumed``.

    Raises:
        BadFileError: A folder, an unknown file type, an unreadable file, no notes, or no
            note that the encoding can hold.
    """
    import math

    from tuplet.encoding import decode, encode
    from tuplet.io import SUPPORTED_EXTENSIONS, read_notes

    if not Path(path).exists():
        raise BadFileError(path, "no such file (--prompt needs a MIDI or score file)")
    if Path(path).is_dir():
        raise BadFileError(path, "is a folder, not a MIDI or score file (--prompt takes one file)")
    from tuplet.io.transcribe import AUDIO_IN_SUFFIXES

    suffix = Path(path).suffix.lower()
    if suffix in AUDIO_IN_SUFFIXES:
        from tuplet.cli.transcribe import transcription_summary
        from tuplet.io.transcribe import audio_prompt

        notes, grid, heard = audio_prompt(
            path,
            tempo=getattr(args, "prompt_tempo", None),
            instrument=getattr(args, "prompt_instrument", "piano"),
            steps_per_beat=getattr(args, "prompt_grid", 4),
            velocity=getattr(args, "prompt_velocity", None),
            single_line=getattr(args, "prompt_one_line", None),
        )
        print(transcription_summary(path, heard, notes))
        print(f"assumed: {grid.describe()}")
        if args is not None:
            args.prompt_assumed = grid.describe()
    elif suffix not in SUPPORTED_EXTENSIONS:
        raise BadFileError(
            path,
            f"unknown file type '{suffix or '(none)'}': --prompt takes a MIDI or score file "
            f"({', '.join(SUPPORTED_EXTENSIONS)}) or a recording "
            f"({', '.join(AUDIO_IN_SUFFIXES)})",
        )
    else:
        try:
            notes = read_notes(path)
        except BadFileError as exc:
            raise BadFileError(
                path, f"{exc.problem} (--prompt needs a MIDI or score file)"
            ) from None
    if len(notes) == 0:
        raise BadFileError(path, "has no notes to use as a prompt (choose a file with notes)")
    big = encoding.with_max_beat(1_000_000)
    codes = encode(notes, big)
    if not (codes[:, 0] == encoding.type_codes["note"]).any():
        raise BadFileError(
            path,
            f"none of its notes fits the model's {encoding.name} encoding "
            "(it drops drums and some programs): choose another file or model",
        )
    return notes, math.ceil(decode(codes, big).end_ticks / encoding.resolution)


def _check_prompt_beats(args: argparse.Namespace, prompt: Notes, length: int) -> None:
    """Refuse --prompt-beats or an --infill span that the prompt is too short for."""
    if args.prompt_beats is not None and args.prompt_beats > length:
        raise UsageError(
            f"--prompt-beats {args.prompt_beats}: {args.prompt} is {length} beats long; give "
            f"at most {length}, or leave --prompt-beats out to continue all of it"
        )
    if args.infill is not None:
        start, end = _span(args.infill, prompt)
        if start >= length:  # as generation.generate.infill would say, before the model loads
            raise UsageError(
                f"--infill {args.infill} (beats {start}:{end}): span {start}:{end} is outside "
                f"the piece (beats 0:{length}): give START:END with START inside the piece"
            )


def _run(
    args: argparse.Namespace,
    mode: str,
    lm: LoadedModel,
    prompt: Notes | None,
    names: list[str] | None,
) -> Any:
    """Generate in ``mode``; ``names`` are the encoding's names of --instruments/--add-part."""
    from tuplet.generation import generate as g
    from tuplet.generation.sample import Limits

    options = g.GenerationOptions(
        n=args.n,
        seed=args.seed,
        settings=_settings(args, lm.settings_for(mode)),
        limits=Limits(
            max_events=args.max_events,
            max_beats=args.max_beats,
            max_notes=args.max_notes,
            min_notes=args.min_notes,
            max_gap_beats=args.max_gap,
        ),
        any_instrument=args.any_instrument,
        progress=not args.quiet,
        rules_off=_rules_off(args),
        decoder="compiled" if args.compile else "eager",
    )
    if mode == "loop":
        from tuplet.generation.loop import loop

        meter = None if args.meter is None else _meter(args.meter)
        tries = 4 if args.tries is None else args.tries
        return loop(
            lm,
            args.loop,
            prompt=prompt,
            instruments=names,
            meter=meter,
            tries=tries,
            options=options,
        )
    if mode == "infill":
        assert prompt is not None
        start, end = _span(args.infill, prompt)
        try:
            return g.infill(lm, prompt, start, end, instruments=names, options=options)
        except g.SpanError as e:  # say which beats the span (perhaps in bars) is
            raise UsageError(f"--infill {args.infill} (beats {start}:{end}): {e}") from None
    if mode == "add-part":
        assert prompt is not None
        assert names is not None
        return g.add_part(lm, prompt, names[0], options=options)
    if mode == "continuation":
        assert prompt is not None
        return g.continuation(
            lm, prompt, prompt_beats=args.prompt_beats, instruments=names, options=options
        )
    return g.unconditional(lm, instruments=names, options=options)


def _model_config(model: str | None) -> tuple[dict[str, Any], EncodingConfig]:
    """The checkpoint's config.json and encoding, read as JSON only (no torch): fast."""
    from tuplet.encoding import EncodingConfig
    from tuplet.generation.sample import default_model_path
    from tuplet.model.checkpoint import CONFIG_NAME, load_checkpoint_config

    folder = default_model_path() if model is None else Path(model)
    info = load_checkpoint_config(folder)
    try:
        return info, EncodingConfig.from_dict(info["encoding"])
    except (UsageError, TypeError) as e:
        raise BadFileError(folder / CONFIG_NAME, f"invalid encoding config ({e})") from None


def _check_numbers(args: argparse.Namespace, info: dict[str, Any]) -> None:
    """Refuse counts and limits out of range (the model's max_seq_len from its config.json)."""
    if args.n < 1:
        raise UsageError(f"--n must be at least 1, got {args.n}")
    if (args.stems or args.loudness is not None) and not args.wav:
        raise UsageError("--stems and --loudness shape the audio: add --wav")
    if args.loudness is not None:
        from tuplet.io.mixdown import MAX_LOUDNESS, MIN_LOUDNESS

        if not MIN_LOUDNESS <= args.loudness <= MAX_LOUDNESS:
            raise UsageError(
                f"--loudness must lie between {MIN_LOUDNESS:.0f} and {MAX_LOUDNESS:.0f} LUFS, "
                f"got {args.loudness}"
            )
    if args.redraws < 0:
        raise UsageError(f"--redraws must be 0 or more, got {args.redraws}")
    if args.block_cs is not None and not 0.0 < args.block_cs <= 1.0:
        raise UsageError(f"--block-cs must be in (0, 1], got {args.block_cs}")
    if args.block_verbatim is not None and args.block_verbatim < 3:
        raise UsageError(f"--block-verbatim must be at least 3 notes, got {args.block_verbatim}")
    for name in ("max_notes", "max_beats", "max_events", "threads", "loop", "tries", "max_gap"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            flag = "--" + name.replace("_", "-")
            raise UsageError(f"{flag} must be at least 1, got {getattr(args, name)}")
    if args.min_notes < 0 or (args.max_notes is not None and args.min_notes > args.max_notes):
        raise UsageError(f"--min-notes must be 0..--max-notes, got {args.min_notes}")
    if args.prompt_beats is not None and args.prompt_beats < 1:
        raise UsageError(f"--prompt-beats must be at least 1, got {args.prompt_beats}")
    limit = info["model"].get("max_seq_len")
    if args.max_events is not None and isinstance(limit, int) and args.max_events > limit:
        raise UsageError(f"--max-events {args.max_events}: at most the model's max_seq_len {limit}")
    if args.device is not None and not _DEVICE.match(args.device):
        raise UsageError(f"unknown device {args.device!r} (use cpu, cuda or cuda:N)")
    if args.meter is not None:
        _meter(args.meter)
    _rules_off(args)


def _rules_off(args: argparse.Namespace) -> tuple[str, ...]:
    """The rules --rules-off names (checked against the sampler's rules)."""
    from tuplet.generation.rules import RULES

    names = tuple(x.strip() for x in (args.rules_off or "").split(",") if x.strip())
    unknown = [x for x in names if x not in RULES]
    if unknown:
        raise UsageError(f"--rules-off: unknown rule {unknown[0]!r} (rules: {', '.join(RULES)})")
    return names


def _instrument_names(args: argparse.Namespace, encoding: EncodingConfig) -> list[str] | None:
    """The encoding's names of --instruments (families expanded) or of --add-part's one."""
    from tuplet.instruments import UnknownInstrument, resolve_instrument, resolve_instruments

    if args.add_part is not None:
        flag, text = "--add-part", args.add_part
    elif args.instruments is not None:
        flag, text = "--instruments", args.instruments
    else:
        return None
    try:
        if flag == "--add-part":
            return [resolve_instrument(text, encoding)]
        return resolve_instruments(text.split(","), encoding)
    except UnknownInstrument as e:
        raise UsageError(f"{flag}: {e}; {_LIST_HINT}") from None
    except UsageError as e:
        raise UsageError(f"{flag}: {e}") from None


def cmd_generate(args: argparse.Namespace) -> int:
    """Generate as asked, write the samples and their reports, print what was written.

    Every argument that can be checked without the model is checked first, against the
    encoding named in the checkpoint's config.json, so that a mistake is answered in a
    fraction of a second; torch and the weights load only then.
    """
    from tuplet.generation.settings import recommended

    info, encoding = _model_config(args.model)
    if args.list_instruments:
        from tuplet.instruments import list_names

        print(list_names(encoding))
        return 0
    mode = _mode(args)
    _check_numbers(args, info)
    check_keep(args, info)
    base = recommended(info.get("sampling"), mode)
    _settings(args, base).resolve(encoding.fields, encoding.vocab_sizes)  # bad knobs fail now
    names = _instrument_names(args, encoding)
    if mode in ("infill", "add-part"):
        from tuplet.generation.generate import check_fill_config

        check_fill_config(encoding, info)
    prompt = None
    if args.prompt is not None:
        prompt, length = _read_prompt(args.prompt, encoding, args)
        _check_prompt_beats(args, prompt, length)
    paths = free_paths(args)

    import torch

    from tuplet.generation.generate import load_model

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    lm = load_model(args.model, device=device, dtype=args.dtype)
    index = None
    if args.originality != "off":
        from tuplet.responsibility.originality import index_for_model

        index = index_for_model(args.model)
        if index is not None and (args.block_cs is not None or args.block_verbatim is not None):
            index.thresholds = blocking(args, index.thresholds)
    judgement = None
    if prompt is not None and info.get("scope") and not args.no_scope:
        judgement = judge_prompt(args, lm, info, prompt)
    generation = _run(args, mode, lm, prompt, names)
    checks = None
    if index is not None:
        generation, checks = check_originality(
            args, prompt, generation, index, lambda again: _run(again, mode, lm, prompt, names)
        )
    elif args.originality != "off":
        print("note: no index of this model's training data here: originality not checked")
    picks = None
    if args.keep is not None:
        generation, checks, picks = keep_best(args, lm, info, prompt, generation, checks, index)
    write_pieces(generation, lm, args, paths, checks, judgement, picks)
    print(
        f"{mode}: {len(generation.pieces)} sample(s) in {generation.seconds:.1f} s "
        f"({generation.notes_per_second:.0f} new notes/s), seed {generation.seed}"
    )
    return 0


def register(sub: Any) -> None:
    """Add ``tuplet generate`` to the ``tuplet`` parser."""
    p = sub.add_parser(
        "generate",
        help="generate music: new, continued, infilled, an added part, or a seamless loop",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_options(p)
    p.set_defaults(handler=cmd_generate)
