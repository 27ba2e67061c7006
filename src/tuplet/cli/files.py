"""``tuplet show``, ``render``, ``encode``, ``decode``: one music file at a time."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from tuplet.errors import UsageError


def cmd_show(args: argparse.Namespace) -> int:
    """Print what a music file holds (with a MIDI file's own track names)."""
    from tuplet.analysis.describe import describe_notes
    from tuplet.io import MIDI_EXTENSIONS, read_notes

    notes = read_notes(args.file)
    names = None
    if Path(args.file).suffix.lower() in MIDI_EXTENSIONS:
        from tuplet.io.midi import read_midi_track_names

        names = read_midi_track_names(args.file)
    print(describe_notes(notes, name=str(args.file), track_names=names))
    if Path(args.file).suffix.lower() == ".abc":  # an ABC file may hold many tunes
        text = Path(args.file).read_text(encoding="utf-8", errors="replace")
        tunes = sum(line.startswith("X:") for line in text.splitlines())
        if tunes > 1:
            print(f"(the first of {tunes} tunes; tuplet data prepare reads them all)")
    return 0


def _refuse_overwrite(path: Path, force: bool) -> None:
    if path.exists() and not force:
        raise UsageError(f"{path}: exists already (use --force to overwrite)")


def cmd_render(args: argparse.Namespace) -> int:
    """Render a music file to WAV audio or a piano-roll PNG."""
    from tuplet.io import read_notes

    out = Path(args.out)
    suffix = out.suffix.lower()
    if suffix not in (".wav", ".flac", ".png"):
        raise UsageError(f"{out}: --out must end in .wav, .flac or .png")
    if suffix == ".png" and (args.stems or args.loudness is not None):
        raise UsageError(f"{out}: --stems and --loudness are for audio (.wav or .flac)")
    _refuse_overwrite(out, args.force)
    notes = read_notes(args.file)
    if suffix == ".flac" or args.stems or args.loudness is not None:
        from tuplet.io.mixdown import describe, render_mix, stem_groups, stem_paths

        if args.stems and not args.force:
            for path in stem_paths(out, [label for label, _ in stem_groups(notes)]):
                _refuse_overwrite(path, False)
        print(
            describe(
                render_mix(
                    notes, out, stems=args.stems, loudness=args.loudness, soundfont=args.soundfont
                )
            )
        )
        return 0
    if suffix == ".wav":
        from tuplet.io.audio import render_wav

        render_wav(notes, out, soundfont=args.soundfont)
    else:
        from tuplet.io.pianoroll import draw_pianoroll

        draw_pianoroll(notes, out, title=Path(args.file).name)
    print(f"wrote {out}")
    return 0


def cmd_encode(args: argparse.Namespace) -> int:
    """Encode a music file as note-tuple codes (CSV or .npy).

    By default the codes are those ``tuplet data prepare`` stores for the file: the piece
    moved earlier so that its first note lies in beat 0 (``mmt``, as MMT's ``extract.py``
    does) or in the first bar (``tuplet``), and, for ``mmt``, MIDI read as MusPy reads it.
    ``--keep-beats`` keeps the file's own beats.
    """
    import numpy as np

    from tuplet.encoding import (
        adjust_resolution,
        codes_to_csv,
        encode,
        get_encoding,
        midi_reader_for,
        shift_to_first_beat,
    )
    from tuplet.io import read_notes

    out = Path(args.out)
    _refuse_overwrite(out, args.force)
    config = get_encoding(args.encoding)
    notes = read_notes(args.file, midi_reader=midi_reader_for(config))
    res = config.resolution
    moved_ticks = 0
    if args.keep_beats:
        piece = notes
    else:
        piece = shift_to_first_beat(notes, config)
        # every note moves by the same ticks, so the last one tells how far
        moved_ticks = int(adjust_resolution(notes, res).onset_ticks.max() - piece.onset_ticks.max())
    codes = encode(piece, config)
    if out.suffix.lower() == ".csv":
        codes_to_csv(codes, config, out)
    elif out.suffix.lower() == ".npy":
        tmp = out.with_name(out.name + ".tmp.npy")
        np.save(tmp, codes)
        os.replace(tmp, out)
    else:
        raise UsageError(f"{out}: --out must end in .csv or .npy")
    print(f"wrote {out}: {len(codes)} events x {codes.shape[1]} fields ({config.name} encoding)")
    if moved_ticks:
        print(
            f"  note: moved {moved_ticks / res:g} beats earlier, so that the first note lies in "
            f"the first {'beat' if config.name == 'mmt' else 'bar'}, as `tuplet data prepare` "
            "stores it (--keep-beats keeps the file's beats)"
        )
    kept = int((codes[:, 0] == config.type_codes["note"]).sum())
    if kept < len(notes):
        lost = "drums, programs it has no instrument for, " if config.name == "mmt" else ""
        print(
            f"  note: {kept} of the file's {len(notes)} notes are encoded (the {config.name} "
            f"encoding leaves out {lost}notes past beat {config.max_beat} and merges copies)"
        )
    return 0


def cmd_decode(args: argparse.Namespace) -> int:
    """Decode note-tuple codes (CSV or .npy) back to a MIDI file."""
    import numpy as np

    from tuplet.encoding import codes_from_csv, decode, get_encoding
    from tuplet.encoding.config import valid_rows
    from tuplet.io.midi import write_midi

    out = Path(args.out)
    if out.suffix.lower() not in (".mid", ".midi"):
        raise UsageError(f"{out}: decode writes MIDI: give a .mid file (render it for audio)")
    _refuse_overwrite(out, args.force)
    config = get_encoding(args.encoding)
    src = Path(args.codes)
    if not src.is_file():
        raise UsageError(f"{src}: no such file")
    if src.suffix.lower() == ".csv":
        codes = codes_from_csv(src, config)
    elif src.suffix.lower() == ".npy":
        try:
            codes = np.load(src, allow_pickle=False)
        except Exception as exc:  # numpy raises many types on a damaged header: the file's
            reason = " ".join(str(exc).split())[:160] or type(exc).__name__
            raise UsageError(f"{src}: not a readable .npy array ({reason})") from None
    else:
        raise UsageError(f"{src}: codes must be a .csv or .npy file")
    notes = decode(codes, config)
    write_midi(notes, out)
    print(f"wrote {out}: {len(notes)} notes")
    rows = np.asarray(codes)
    if rows.ndim == 2 and rows.dtype.kind in "iu" and rows.shape[1] == len(config.fields):
        note_type = config.type_codes["note"]
        bad = int((rows[:, 0] == note_type).sum() - valid_rows(rows, config, "note").sum())
        if bad:
            print(f"  note: {bad} note row(s) with a code out of range were skipped")
    return 0


def register(sub: Any) -> None:
    """Add the file commands to the ``tuplet`` parser."""
    p = sub.add_parser(
        "show",
        help="tracks and their names, instruments, notes, length, bars, tempo, meter and key "
        "(estimated where unstated) of a file; says when it looks like a played performance",
    )
    p.add_argument("file")
    p.set_defaults(handler=cmd_show)

    p = sub.add_parser(
        "render",
        help="render a file to audio (.wav, .flac; stems, loudness) or a piano roll (.png)",
    )
    p.add_argument("file")
    p.add_argument("--out", required=True, help="X.wav, X.flac or X.png")
    p.add_argument(
        "--stems",
        action="store_true",
        help="also one file per track beside the mix (X.01-violin.wav ...), sample-aligned; "
        "the mix is their sum",
    )
    p.add_argument(
        "--loudness",
        type=float,
        default=None,
        help="bring the mix to this integrated loudness in LUFS (ITU-R BS.1770), e.g. -14; "
        "stems get the same gain",
    )
    p.add_argument("--soundfont", default=None, help="a .sf2 file (default: General MIDI)")
    p.add_argument("--force", action="store_true", help="overwrite an existing output")
    p.set_defaults(handler=cmd_render)

    p = sub.add_parser("encode", help="encode a file as note-tuple codes")
    p.add_argument("file")
    p.add_argument("--encoding", default="tuplet", choices=["mmt", "tuplet"])
    p.add_argument("--out", required=True, help="X.csv or X.npy")
    p.add_argument(
        "--keep-beats",
        action="store_true",
        help="keep the file's beats (default: move the first note to the first beat (mmt) "
        "or bar (tuplet), as `tuplet data prepare` does)",
    )
    p.add_argument("--force", action="store_true")
    p.set_defaults(handler=cmd_encode)

    p = sub.add_parser("decode", help="decode note-tuple codes back to MIDI")
    p.add_argument("codes", help="a .csv or .npy file of codes")
    p.add_argument("--encoding", default="tuplet", choices=["mmt", "tuplet"])
    p.add_argument("--out", required=True, help="X.mid")
    p.add_argument("--force", action="store_true")
    p.set_defaults(handler=cmd_decode)
