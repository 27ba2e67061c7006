"""Audio in: how well and how fast tuplet transcribes, on audio rendered from known notes.

Pieces from the bundled music21 corpus (Bach chorales: their soprano lines as melodies, and
the four parts together on a piano) and five keyboard pieces (Joplin, Mozart, Chopin, Clara
Schumann) are rendered with FluidSynth on several instruments, then
transcribed back with :func:`tuplet.io.transcribe.transcribe_audio` (basic-pitch's ONNX
model on onnxruntime). Against the source notes it reports, per instrument:

* note precision, recall and F1 by ``mir_eval.transcription`` with a 50 ms onset tolerance,
  without offsets (onset and pitch) and with them (mir_eval's default: the offset within 20% of
  the note's length or 50 ms), as ``tuplet transcribe --instrument NAME`` gives them (one line
  for voices, winds and bowed strings: :func:`tuplet.io.transcribe.one_line`), and the raw
  onset F1 of every note the model heard (at the instrument's default thresholds:
  :func:`tuplet.io.transcribe.thresholds_for`);
* the same after :func:`tuplet.io.transcribe.to_grid` places the notes on the sixteenth grid at
  the source's tempo and first onset: a note counts when its grid onset and pitch equal a
  source note's;
* the tempo the beat tracker estimates, against the source's (error in percent, octave
  errors folded).

Speed: seconds of audio per second of CPU (the process's CPU time, all threads) and per
second of wall clock, for the first call in the process (imports, the model's session,
librosa's compiled beat tracker) and for the later ones.

    python bench/transcribe.py                      # 8 chorales, 6 instruments
    python bench/transcribe.py --pieces 2 --beats 16  # a quick look
"""

from __future__ import annotations

import argparse
import collections
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from machine import cpu_model

INSTRUMENTS = {  # name: General MIDI program, and the --instrument a musician would give
    "flute": (73, "flute"),
    "violin": (40, "violin"),
    "clarinet": (71, "clarinet"),
    "trumpet": (56, "trumpet"),
    "voice (choir aahs)": (52, "voice"),
    "piano melody": (0, "piano"),
}


PIANO_PIECES = (  # keyboard music of the bundled corpus, as written for it
    "joplin/maple_leaf_rag.mxl",
    "mozart/k545",
    "chopin/mazurka06-2.krn",
    "schumann_clara/polonaise_op1n1.mxl",
    "schumann_clara/polonaise_op1n2.mxl",
)


def hz(pitch: np.ndarray) -> np.ndarray:
    return 440.0 * 2 ** ((np.asarray(pitch, dtype=float) - 69) / 12)


def intervals(notes) -> np.ndarray:
    start = notes.seconds(notes.onset_ticks)
    return np.stack([start, notes.seconds(notes.onset_ticks + notes.duration_ticks)], axis=1)


def scores(source, heard, instrument: str) -> dict[str, float]:
    """Raw onset F1, then P/R/F1 with offsets after the instrument's default (one line or not)."""
    from tuplet.instruments import LINE_INSTRUMENTS
    from tuplet.io.transcribe import one_line

    raw = _scores(source, heard)
    line = instrument in LINE_INSTRUMENTS or instrument == "voice"
    shown = _scores(source, one_line(heard)) if line else raw
    return {"raw onset F1": raw["onset F1"], **shown}


def _scores(source, heard) -> dict[str, float]:
    import mir_eval

    ref, ref_p = intervals(source), hz(source.pitch)
    est, est_p = np.stack([heard.onset_s, heard.end_s], axis=1), hz(heard.pitch)
    if not len(est):
        return {"onset P": 0.0, "onset R": 0.0, "onset F1": 0.0, "offset F1": 0.0}
    p, r, f, _ = mir_eval.transcription.precision_recall_f1_overlap(
        ref, ref_p, est, est_p, onset_tolerance=0.05, offset_ratio=None
    )
    _, _, f_off, _ = mir_eval.transcription.precision_recall_f1_overlap(
        ref, ref_p, est, est_p, onset_tolerance=0.05
    )
    return {"onset P": p, "onset R": r, "onset F1": f, "offset F1": f_off}


def grid_scores(source, heard, instrument: str) -> dict[str, float]:
    from tuplet.io.transcribe import to_grid

    t0 = int(source.onset_ticks[0])
    first, next_beat = source.seconds([t0, t0 + source.ticks_per_beat])
    tempo = 60.0 / float(next_beat - first)  # in force at the first note (the excerpt keeps it)
    first = float(first)
    placed, _ = to_grid(heard, tempo=tempo, downbeat_s=first, instrument=instrument)
    want = collections.Counter(
        zip(
            ((source.onset_ticks - source.onset_ticks[0]) * 480 // source.ticks_per_beat).tolist(),
            source.pitch.tolist(),
            strict=True,
        )
    )
    got = collections.Counter(zip(placed.onset_ticks.tolist(), placed.pitch.tolist(), strict=True))
    hits = sum((want & got).values())
    p = hits / max(1, sum(got.values()))
    r = hits / max(1, sum(want.values()))
    _, grid = to_grid(heard)
    ratio = grid.tempo / tempo
    ratio = min((ratio * k for k in (0.5, 1.0, 2.0)), key=lambda x: abs(np.log(x)))
    return {
        "grid P": p,
        "grid R": r,
        "grid F1": 2 * p * r / (p + r) if p + r else 0.0,
        "tempo error %": 100 * abs(ratio - 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pieces", type=int, default=8, help="chorales")
    parser.add_argument("--beats", type=int, default=32, help="beats of each piece")
    parser.add_argument("--no-keyboard", action="store_true", help="leave the keyboard pieces out")
    args = parser.parse_args()

    from music21 import corpus

    from tuplet.io import read_notes
    from tuplet.io.audio import render_wav

    paths = sorted(corpus.getComposer("bach"), key=lambda p: p.name)
    sources = []
    for path in paths:
        if len(sources) == args.pieces:
            break
        try:
            notes = read_notes(path)
        except Exception:  # a corpus file tuplet cannot read is left out
            continue
        if len(np.unique(notes.track)) != 4:
            continue
        notes = notes.select(notes.onset_ticks < args.beats * notes.ticks_per_beat)
        sources.append((path.stem, notes))

    root = Path(corpus.__file__).parent
    pianos = []
    for rel in () if args.no_keyboard else PIANO_PIECES:
        path = root / rel
        if path.is_dir():
            path = sorted(path.iterdir())[0]
        notes = read_notes(path)
        pianos.append(
            (path.stem, notes.select(notes.onset_ticks < args.beats * notes.ticks_per_beat))
        )

    rows: dict[str, list[dict[str, float]]] = collections.defaultdict(list)
    speed = {"first": [], "later": []}

    def played(piece, program: int):
        return replace(piece, program=np.full(len(piece), program, np.int16), tracks=())

    jobs = []
    for name, notes in sources:
        soprano = notes.select(notes.track == 0)
        for inst, (prog, given) in INSTRUMENTS.items():
            jobs.append((name, inst, given, played(soprano, prog)))
        jobs.append((name, "piano, four parts", "piano", played(notes, 0)))
    for name, notes in pianos:
        jobs.append((name, "piano pieces", "piano", played(notes, 0)))

    with tempfile.TemporaryDirectory() as scratch:
        for name, inst, given, piece in jobs:
            wav = Path(scratch) / "x.wav"
            render_wav(piece, wav)
            first = not speed["first"]
            w0, c0 = time.perf_counter(), time.process_time()
            from tuplet.io.transcribe import (  # the first call's imports count
                thresholds_for,
                transcribe_audio,
            )

            heard = transcribe_audio(wav, thresholds_for(given))
            wall, cpu = time.perf_counter() - w0, time.process_time() - c0
            speed["first" if first else "later"].append((heard.audio_seconds, wall, cpu))
            rows[inst].append({**scores(piece, heard, given), **grid_scores(piece, heard, given)})
            print(f"{name} {inst}: {rows[inst][-1]['onset F1']:.3f}", flush=True)

    print(f"\nmachine: {cpu_model()}; {len(sources)} chorales, first {args.beats} beats each")
    keys = ["raw onset F1", "onset P", "onset R", "onset F1", "offset F1", "grid P", "grid R",
            "grid F1", "tempo error %"]  # fmt: skip
    print("| instrument | notes | " + " | ".join(keys) + " |")
    print("|---|---:|" + "---:|" * len(keys))
    for inst, results in rows.items():
        means = [np.mean([r[k] for r in results]) for k in keys]
        cells = [
            f"{m:.1f}" if k.endswith("%") else f"{m:.3f}" for k, m in zip(keys, means, strict=True)
        ]
        print(f"| {inst} | {len(results)} pieces | " + " | ".join(cells) + " |")
    for kind, runs in speed.items():
        audio_s = sum(r[0] for r in runs)
        wall = sum(r[1] for r in runs)
        cpu = sum(r[2] for r in runs)
        print(
            f"{kind} call{'s' if len(runs) > 1 else ''} ({len(runs)}): {audio_s:.0f} s of audio, "
            f"{audio_s / cpu:.1f} s of audio per CPU second, {audio_s / wall:.1f} per wall second"
        )


if __name__ == "__main__":
    main()
