"""What ``tuplet generate`` writes: each piece's MIDI file, audio, piano roll and report.

:func:`free_paths` names the files before anything is generated (and refuses to overwrite
without ``--force``); :func:`write_pieces` writes them in stages (old files cleared, the music,
the JSON report, a few lines for the person at the terminal).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tuplet.cli.generate_checks import unsure_bars, withhold
from tuplet.errors import UsageError

if TYPE_CHECKING:
    from tuplet.generation.generate import Generation, LoadedModel


def free_paths(args: argparse.Namespace) -> list[dict[str, Path]]:
    """The samples' files, refused if any exists without --force; no WAV without FluidSynth."""
    prefix = "sample" if args.loop is None else "loop"
    paths = output_paths(args.out, args.keep or args.n, wav=args.wav, png=args.png, prefix=prefix)
    existing = [p for files in paths for p in files.values() if p.exists()]
    if args.loop is not None:  # a loop's name ends with its key and tempo
        existing += [q for f in paths for q in f["midi"].parent.glob(f"{f['midi'].stem}-*")]
    if existing and not args.force:
        more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
        raise UsageError(f"{existing[0]}: exists already{more}; use --force to overwrite")
    if args.wav:  # a broken SoundFont fails before the generation, not after
        from tuplet.io.audio import AudioUnavailable, find_fluidsynth, find_soundfont

        try:
            find_fluidsynth()
            find_soundfont(args.soundfont)
        except AudioUnavailable as e:  # the rest of the output is still worth having
            print(f"note: no WAV: {e}", file=sys.stderr)
            args.wav = False
            paths = [{k: v for k, v in files.items() if k != "wav"} for files in paths]
    return paths


def output_paths(
    out_dir: str | Path, n: int, *, wav: bool, png: bool, prefix: str = "sample"
) -> list[dict[str, Path]]:
    """The files of ``n`` samples: ``OUT/sample-01.mid``, ``.json`` (and ``.wav``, ``.png``).

    Loops (``prefix`` ``loop``) get their key and tempo added to the name once they are made
    (:func:`named_loop`).
    """
    width = max(2, len(str(n)))
    suffixes = {"midi": ".mid", "report": ".json"}
    if wav:
        suffixes["wav"] = ".wav"
    if png:
        suffixes["png"] = ".png"
    return [
        {kind: Path(out_dir) / f"{prefix}-{i:0{width}d}{ext}" for kind, ext in suffixes.items()}
        for i in range(1, n + 1)
    ]


def named_loop(files: dict[str, Path], notes: Any) -> dict[str, Path]:
    """A loop's files named by its key and tempo: ``loop-01-D-minor-112bpm.mid``..."""
    from tuplet.generation.loop import loop_label

    label = loop_label(notes)
    return {k: p.with_name(f"{p.stem}-{label}{p.suffix}") for k, p in files.items()}


def write_pieces(
    generation: Generation,
    lm: LoadedModel,
    args: argparse.Namespace,
    paths: list[dict[str, Path]],
    checks: list[tuple[Any, int]] | None = None,
    judgement: Any = None,
    picks: list[tuple[int, Any]] | None = None,
) -> None:
    """Each piece's files (MIDI, and WAV, stems, PNG as asked) and report, and a few lines.

    A piece the originality check blocked is withheld instead.
    """
    from tuplet.io import atomic_output

    Path(args.out).mkdir(parents=True, exist_ok=True)
    doubts = (lm.info.get("scope") or {}).get("entropy_warn") is not None  # measured?
    for i, (piece, files) in enumerate(zip(generation.pieces, paths, strict=True)):
        check = checks[i] if checks is not None else None
        if check is not None and check[0].verdict == "block":
            withhold(generation, i, lm, args, files, check)
            continue
        if args.force:
            _clear_old(files)
        files = _write_music(piece, files, args, generation.mode)
        unsure = unsure_bars(lm, piece) if doubts else None
        pick = picks[i] if picks is not None else None
        data = _report(generation, i, lm, args, files, unsure, pick, judgement, check)
        with atomic_output(files["report"]) as tmp:
            tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        _say(piece, files, args, i, unsure, pick, check)


def _clear_old(files: dict[str, Path]) -> None:
    """An overwritten sample keeps no audio, picture or stems of the one before."""
    for kind, ext in (("wav", ".wav"), ("png", ".png")):
        if kind not in files:
            files["midi"].with_suffix(ext).unlink(missing_ok=True)
    midi = files["midi"]  # stems of tracks the new one may not have
    for stem in midi.parent.glob(f"{midi.stem}.[0-9][0-9]-*.wav"):
        stem.unlink(missing_ok=True)


def _write_music(
    piece: Any, files: dict[str, Path], args: argparse.Namespace, mode: str
) -> dict[str, Path]:
    """The piece's MIDI file, and its WAV (mixed, with stems) and piano roll as asked.

    A loop is written to loop (its name gets its key and tempo). Returns the files written.
    """
    from tuplet.generation.loop import loop_midi_notes
    from tuplet.io import write_midi

    notes = piece.notes
    loop_seconds = None
    if "loop_beats" in piece.details:
        beats = int(piece.details["loop_beats"])
        notes = loop_midi_notes(notes, beats)
        files = named_loop(files, notes)
        loop_seconds = float(notes.seconds(beats * notes.ticks_per_beat))
    write_midi(notes, files["midi"])
    if args.wav and (args.stems or args.loudness is not None):
        from tuplet.io.mixdown import render_mix

        mixed = render_mix(
            notes,
            files["wav"],
            stems=args.stems,
            loudness=args.loudness,
            soundfont=args.soundfont,
            loop_seconds=loop_seconds,
        )
        stems = {f"stem {label}": p for label, p in zip(mixed.labels, mixed.stems, strict=True)}
        files = {**files, **stems}
    elif args.wav:
        from tuplet.io.audio import render_wav

        render_wav(notes, files["wav"], soundfont=args.soundfont, loop_seconds=loop_seconds)
    if args.png:
        from tuplet.io.pianoroll import draw_pianoroll

        draw_pianoroll(notes, files["png"], title=f"{mode}: {files['midi'].name}")
    return files


def _report(
    generation: Generation,
    i: int,
    lm: LoadedModel,
    args: argparse.Namespace,
    files: dict[str, Path],
    unsure: dict[str, Any] | None,
    pick: tuple[int, Any] | None,
    judgement: Any,
    check: tuple[Any, int] | None,
) -> dict[str, Any]:
    """The piece's JSON report: the generation's, with the prompt, files and checks."""
    from datetime import datetime, timezone

    from tuplet.generation.generate import report

    data = report(generation, i, lm)
    data["created"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    data["prompt"] = None if args.prompt is None else {"file": str(args.prompt)}
    if getattr(args, "prompt_assumed", None):
        data["prompt"]["transcribed"] = args.prompt_assumed
    if args.prompt is not None and args.prompt_beats is not None:
        data["prompt"]["beats"] = args.prompt_beats
    data["files"] = {kind: str(path) for kind, path in files.items()}
    if unsure is not None:
        data["unsure_bars"] = unsure
    if pick is not None:
        drawn, score = pick
        data["pick"] = {"rank": i + 1, "of": args.n, "drawn": drawn + 1,
                        "adventurous": args.adventurous, **score.to_dict()}  # fmt: skip
    if judgement is not None:
        data["prompt_judged"] = {**judgement.to_dict(), "forced": bool(args.force_prompt)}
    if check is not None:
        data["originality"] = {**check[0].to_dict(), "redraws": check[1]}
    elif args.originality != "off":
        data["originality"] = None  # no index of the model's training data at hand
    return data


def _say(
    piece: Any,
    files: dict[str, Path],
    args: argparse.Namespace,
    i: int,
    unsure: dict[str, Any] | None,
    pick: tuple[int, Any] | None,
    check: tuple[Any, int] | None,
) -> None:
    """What was written, and what a musician should know about it."""
    print(
        f"wrote {files['midi']}: {len(piece.notes)} notes ({piece.new_notes} new), "
        f"{piece.notes.length_beats:.1f} beats, {piece.notes.length_seconds:.1f} s"
    )
    if check is not None:
        again = f" (drawn {check[1] + 1} times)" if check[1] else ""
        print(f"  {check[0].summary()}{again}")
    if unsure and unsure["bars"]:
        listed = ", ".join(str(b) for b in unsure["bars"])
        print(f"  note: the model was unsure in bar(s) {listed} (its choices there were "
              "more open than in 95% of bars of its own style)")  # fmt: skip
    if pick is not None:
        drawn, sc = pick
        novelty = "-" if sc.novelty is None else f"{sc.novelty:.2f}"
        print(f"  kept #{i + 1} of {args.n} (candidate {drawn + 1}): score "
              f"{sc.total:.2f} = novelty {novelty}, surprise {sc.surprise:.2f}, "
              f"value {sc.value:.2f}")  # fmt: skip
    covered, before = (
        piece.details.get(k) for k in ("beats_with_new_notes", "beats_with_notes_before")
    )
    if covered is not None and before and covered < before / 2:
        print(
            f"  note: the new notes fill {covered} beats, where the piece had notes on "
            f"{before}: much of the span is empty (try another --seed)"
        )
    if piece.details.get("silent_instruments"):
        silent = ", ".join(piece.details["silent_instruments"])
        print(f"  note: {silent} did not play in {files['midi'].name} (another --seed may)")


__all__ = ["free_paths", "named_loop", "output_paths", "write_pieces"]
