"""Dataset preparation speed: tuplet against miditok's REMI and a pretty_midi MMT-style extraction.

Every rival reads the same MIDI files from their paths and turns them into tokens or note
tuples, in this one process, on one core. tuplet is measured at three levels:

1. the per-file hot path in-process: ``tuplet.io.read_midi`` + ``tuplet.encoding.encode``
   (``mmt`` and ``tuplet`` encodings), interleaved with the rivals;
2. the whole pipeline ``tuplet.corpus.prepare(..., jobs=1)``, which reads in this process and
   also hashes, shifts to the first beat, sniffs metadata, builds provenance and writes the
   dataset folder (tuplet encoding; no filters, so every file is encoded, as by the rivals);
3. the same with ``jobs=2`` (two spawned worker processes).

Rivals:

* ``miditok REMI``: ``miditok.REMI(TokenizerConfig(use_programs=True))`` (one token stream
  for all tracks, as a multitrack model needs), ``tokenizer.encode(path)``;
* ``pretty_midi MMT-style``: pretty_midi reading, then a per-note Python loop computing MMT's
  ``(beat, position, pitch, duration, program)`` at 12 ticks per beat from the file's beat
  times (the way MMT-style preprocessing is usually written; :func:`pretty_midi_mmt`).

Inputs, made once (``data-out/`` is not versioned):

* ``data-out/bench-midi/``: 300 Bach chorales from music21's corpus, each read with
  ``tuplet.io.read_notes``, set to 480 ticks per beat (``tuplet.notes.to_resolution``) and
  written with ``tuplet.io.write_midi`` (about 270 notes per file);
* ``data-out/bench-midi-long/``: 30 longer files, each ten of those chorales one after
  another (about 2,700 notes per file, nearer the size of pop or orchestral MIDI files).

The machine may be shared, so the main figure is files per CPU-second (this process and its
worker processes), which the load hardly changes; wall-clock rates are printed beside it.
Rivals take turns on chunks of files (level 1) or whole runs (levels 2-3), in an order rotated
every round; the report gives medians over rounds, ratios and the load averages.

Run: ``python bench/prepare.py [--rounds 3] [--profile]``
"""

from __future__ import annotations

import argparse
import bisect
import cProfile
import io
import os
import platform
import pstats
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
WORK_DIR = ROOT / "data-out"
SHORT_DIR = WORK_DIR / "bench-midi"
LONG_DIR = WORK_DIR / "bench-midi-long"
STARTUP_DIR = WORK_DIR / "bench-midi-startup"
N_SHORT, N_LONG, PIECES_PER_LONG = 300, 30, 10
TICKS_PER_BEAT = 480
MMT_RESOLUTION = 12
MMT_MAX_DURATION_TICKS = 384  # MMT's longest known duration (32 beats at 12 ticks per beat)
BASELINE = "miditok REMI"

Seconds = tuple[float, float]  # (wall, CPU)


# ------------------------------------------------------------------------- machine
def machine_lines() -> list[str]:
    """CPU model, cores, library versions and load, for the report header."""
    from importlib.metadata import version

    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    packages = ("numpy", "torch", "symusic", "miditok", "pretty_midi")
    versions = f"python {platform.python_version()}, " + ", ".join(
        f"{name} {version(name)}" for name in packages
    )
    return [f"machine: {cpu}, {cores} cores available", versions, load_line()]


def load_line() -> str:
    """The 1/5/15-minute load averages."""
    one, five, fifteen = os.getloadavg()
    return f"load average: {one:.2f} {five:.2f} {fifteen:.2f}"


# ------------------------------------------------------------------------- inputs
def make_short_files() -> list[Path]:
    """The first N_SHORT readable Bach chorales of music21's corpus as MIDI files (made once)."""
    from tuplet.io import read_notes, write_midi
    from tuplet.io.score import music21_corpus_paths
    from tuplet.notes import to_resolution

    SHORT_DIR.mkdir(parents=True, exist_ok=True)
    have = len(list(SHORT_DIR.glob("*.mid")))
    t0 = time.perf_counter()
    for src in music21_corpus_paths("bach"):
        out = SHORT_DIR / (src.stem + ".mid")
        if have >= N_SHORT:
            break
        if out.exists():
            continue
        try:
            write_midi(to_resolution(read_notes(src), TICKS_PER_BEAT), out)
            have += 1
        except Exception as exc:  # an unreadable score is simply not one of the inputs
            print(f"  skipped {src.name}: {exc}")
    if time.perf_counter() - t0 > 5:
        print(f"  made the chorale MIDI files in {time.perf_counter() - t0:.0f} s")
    return sorted(SHORT_DIR.glob("*.mid"))


def make_long_files(short: list[Path]) -> list[Path]:
    """N_LONG files of PIECES_PER_LONG consecutive chorales each, one after another (made once).

    Each chorale starts on the first whole 4/4 bar after the end of the previous one; the
    tempo, time-signature and key maps are the first chorale's.
    """
    from tuplet.io import read_midi, write_midi
    from tuplet.notes import concat, shift_ticks

    LONG_DIR.mkdir(parents=True, exist_ok=True)
    bar_ticks = 4 * TICKS_PER_BEAT
    for k in range(N_LONG):
        out = LONG_DIR / f"chorales-{k:02d}.mid"
        if out.exists():
            continue
        parts, offset = [], 0
        for path in short[k * PIECES_PER_LONG : (k + 1) * PIECES_PER_LONG]:
            notes = read_midi(path)
            parts.append(shift_ticks(notes, offset))
            offset += -(-notes.end_ticks // bar_ticks) * bar_ticks
        write_midi(concat(parts), out)
    return sorted(LONG_DIR.glob("*.mid"))[:N_LONG]


def make_startup_folders(short: list[Path]) -> dict[int, Path]:
    """Folders holding ``jobs`` chorale files, to time a run's start-up with every worker."""
    folders = {}
    for jobs in (1, 2):
        folder = STARTUP_DIR / f"{jobs}-files"
        folder.mkdir(parents=True, exist_ok=True)
        for path in short[:jobs]:
            if not (folder / path.name).exists():
                shutil.copyfile(path, folder / path.name)
        folders[jobs] = folder
    return folders


# ------------------------------------------------------------------------- rivals
def pretty_midi_mmt(path: Path) -> np.ndarray:
    """MMT-style note tuples the usual way: pretty_midi, beat times, a loop over notes.

    Returns:
        int64 array (n_notes, 5): beat, position, pitch, duration, program (12 ticks per
        beat; drums dropped, durations clipped to MMT's longest), sorted.
    """
    import pretty_midi

    pm = pretty_midi.PrettyMIDI(str(path))
    beat_times = list(pm.get_beats())
    last_gap = beat_times[-1] - beat_times[-2] if len(beat_times) > 1 else 0.5

    def to_ticks(seconds: float) -> int:
        i = max(bisect.bisect_right(beat_times, seconds) - 1, 0)
        gap = beat_times[i + 1] - beat_times[i] if i + 1 < len(beat_times) else last_gap
        return round((i + (seconds - beat_times[i]) / gap) * MMT_RESOLUTION)

    rows = []
    for instrument in pm.instruments:
        if instrument.is_drum:
            continue
        for note in instrument.notes:
            onset = to_ticks(note.start)
            duration = min(max(to_ticks(note.end) - onset, 1), MMT_MAX_DURATION_TICKS)
            beat, position = divmod(onset, MMT_RESOLUTION)
            rows.append((beat, position, note.pitch, duration, instrument.program))
    rows.sort()
    return np.array(rows, dtype=np.int64).reshape(-1, 5)


def make_rivals() -> dict[str, Callable[[Path], int]]:
    """Name -> function reading one file and returning the number of rows or tokens made."""
    import miditok

    from tuplet.encoding import encode, get_encoding
    from tuplet.io import read_midi

    mmt, tup = get_encoding("mmt"), get_encoding("tuplet")
    remi = miditok.REMI(miditok.TokenizerConfig(use_programs=True))

    def remi_tokens(path: Path) -> int:
        seq = remi.encode(path)
        return sum(len(s) for s in seq) if isinstance(seq, list) else len(seq)

    return {
        "tuplet read+encode mmt": lambda p: len(encode(read_midi(p), mmt)),
        "tuplet read+encode tuplet": lambda p: len(encode(read_midi(p), tup)),
        BASELINE: remi_tokens,
        "pretty_midi MMT-style": lambda p: len(pretty_midi_mmt(p)),
    }


# ------------------------------------------------------------------------- measuring
def hot_path_round(
    rivals: dict[str, Callable[[Path], int]], paths: list[Path], shift: int, chunk: int
) -> dict[str, Seconds]:
    """(wall, CPU) seconds per rival over every file.

    Rivals take turns on chunks of ``chunk`` files (order rotated by ``shift``), so a change
    in the machine's load hits them alike while each keeps its caches warm within a chunk.
    """
    names = list(rivals)
    names = names[shift % len(names) :] + names[: shift % len(names)]
    wall = dict.fromkeys(names, 0.0)
    cpu = dict.fromkeys(names, 0.0)
    for start in range(0, len(paths), chunk):
        part = paths[start : start + chunk]
        for name in names:
            fn = rivals[name]
            w0, c0 = time.perf_counter(), time.process_time()
            for path in part:
                fn(path)
            cpu[name] += time.process_time() - c0
            wall[name] += time.perf_counter() - w0
    return {name: (wall[name], cpu[name]) for name in names}


def prepare_seconds(source: Path, jobs: int) -> Seconds:
    """(wall, CPU) seconds of one ``tuplet.corpus.prepare`` run into a fresh folder.

    CPU counts this process and its worker processes (they are joined before it returns).
    """
    from tuplet.corpus import prepare

    out = Path(tempfile.mkdtemp(dir=WORK_DIR, prefix="bench-prepare-"))
    try:
        c0 = os.times()
        t0 = time.perf_counter()
        report = prepare([str(source)], out, jobs=jobs, progress=False, filters=None)
        wall = time.perf_counter() - t0
        c1 = os.times()
    finally:
        shutil.rmtree(out, ignore_errors=True)
    if report.skipped:
        print(f"  note: prepare skipped {report.skipped} ({report.skipped_by_reason})")
    keys = ("user", "system", "children_user", "children_system")
    return wall, sum(getattr(c1, k) - getattr(c0, k) for k in keys)


def profile_prepare(source: Path) -> None:
    """Print where a ``jobs=1`` prepare run spends its time (cProfile, top functions)."""
    from tuplet.corpus import prepare

    out = Path(tempfile.mkdtemp(dir=WORK_DIR, prefix="bench-prepare-"))
    profiler = cProfile.Profile()
    try:
        profiler.enable()
        prepare([str(source)], out, jobs=1, progress=False, filters=None)
        profiler.disable()
    finally:
        shutil.rmtree(out, ignore_errors=True)
    for key in ("cumulative", "tottime"):
        buf = io.StringIO()
        pstats.Stats(profiler, stream=buf).sort_stats(key).print_stats(20)
        lines = buf.getvalue().splitlines()
        start = next(i for i, line in enumerate(lines) if "ncalls" in line)
        print(f"\ncProfile of prepare({source.name}, jobs=1), by {key}:")
        print("\n".join(line.replace(str(ROOT) + "/", "") for line in lines[start : start + 21]))


@dataclass
class InputSet:
    """One set of input files and the timings gathered on it."""

    name: str
    folder: Path
    paths: list[Path]
    n_notes: int
    chunk: int
    runs: dict[str, list[Seconds]]


def report(s: InputSet, rounds: int) -> None:
    """Print rates per core (per CPU-second, per wall second / jobs) and ratios to miditok."""

    def median(name: str, which: int) -> float:
        return statistics.median(run[which] for run in s.runs[name])

    n = len(s.paths)
    base_cpu, base_wall = n / median(BASELINE, 1), n / median(BASELINE, 0)
    print(f"\n{s.name}: {n} files, {s.n_notes} notes; medians of {rounds} rounds")
    print(
        f"{'':28} {'files/CPU-s':>11} {'notes/CPU-s':>11} {'x REMI':>7}"
        f" {'files/s/core (wall)':>20} {'x REMI':>7}"
    )
    for name in s.runs:
        jobs = 2 if name.endswith("jobs=2") else 1
        per_cpu, per_wall = n / median(name, 1), n / median(name, 0) / jobs
        print(
            f"{name:28} {per_cpu:11.1f} {per_cpu * s.n_notes / n:11.0f} {per_cpu / base_cpu:7.2f}"
            f" {per_wall:20.1f} {per_wall / base_wall:7.2f}"
        )
    spread = "; ".join(
        f"{k} {min(r[0] for r in v):.2f}-{max(r[0] for r in v):.2f}" for k, v in s.runs.items()
    )
    print(f"  (wall seconds per round, min-max: {spread})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (median)")
    parser.add_argument("--profile", action="store_true", help="also profile prepare(jobs=1)")
    args = parser.parse_args()

    print("tuplet dataset-preparation benchmark (bench/prepare.py)")
    for line in machine_lines():
        print(line)
    from tuplet.io import read_midi

    short = make_short_files()
    long = make_long_files(short)
    startup = make_startup_folders(short)
    sets = []
    for name, folder, paths, chunk in (
        ("Bach chorales", SHORT_DIR, short, 25),
        (f"{PIECES_PER_LONG} chorales per file", LONG_DIR, long, 3),
    ):
        n_notes = sum(len(read_midi(p)) for p in paths)
        kib = sum(p.stat().st_size for p in paths) / 1024
        where = folder.relative_to(ROOT)
        print(f"inputs: {where}: {len(paths)} files, {n_notes} notes, {kib:.0f} KiB")
        sets.append(InputSet(name, folder, paths, n_notes, chunk, {}))
    print(
        "  made from music21's Bach chorales: tuplet.io.read_notes -> to_resolution(480) -> "
        f"tuplet.io.write_midi; long files = {PIECES_PER_LONG} chorales one after another"
    )

    rivals = make_rivals()
    counts = {name: sum(fn(p) for p in short[:20]) for name, fn in rivals.items()}  # warm-up
    print("output for the first 20 chorales (rows or tokens): " + ", ".join(
        f"{k} {v}" for k, v in counts.items()))  # fmt: skip
    prepare_seconds(startup[1], 1)  # warm-up (imports)

    startup_runs: dict[int, list[Seconds]] = {1: [], 2: []}
    for r in range(args.rounds):
        for s in sets:
            for name, seconds in hot_path_round(rivals, s.paths, r, s.chunk).items():
                s.runs.setdefault(name, []).append(seconds)
            for jobs in (1, 2) if r % 2 == 0 else (2, 1):
                s.runs.setdefault(f"tuplet prepare jobs={jobs}", []).append(
                    prepare_seconds(s.folder, jobs)
                )
        for jobs in (1, 2):
            startup_runs[jobs].append(prepare_seconds(startup[jobs], jobs))
        print(f"  round {r + 1}/{args.rounds} done; {load_line()}")

    print(
        "\nper core = per CPU-second of this process and its workers (robust to the load), "
        "and per wall second / jobs"
    )
    for s in sets:
        report(s, args.rounds)
    print("\nstart-up of a prepare run (a folder of `jobs` files; median wall / CPU seconds):")
    for jobs in (1, 2):
        wall = statistics.median(w for w, _ in startup_runs[jobs])
        cpu = statistics.median(c for _, c in startup_runs[jobs])
        print(f"  jobs={jobs}: {wall:.2f} / {cpu:.2f} s")
    print(load_line())
    if args.profile:
        for s in sets:
            profile_prepare(s.folder)


if __name__ == "__main__":
    main()
