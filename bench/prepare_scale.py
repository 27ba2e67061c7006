"""``tuplet data prepare`` on a larger corpus: in-process against worker processes.

``bench/prepare.py`` compares the per-file work with miditok and pretty_midi on 300 files,
where starting worker processes is a large share of a run. Here the same 300 chorales are
copied ``--copies`` times (10: 3,000 files, in sub-folders; the copies are encoded like any
file and then skipped as duplicates), and whole ``tuplet.corpus.prepare`` runs with
``jobs=1`` (in this process) and ``jobs=N`` (worker processes) take turns, ``--rounds`` times:
wall seconds, CPU seconds of this process and its workers, files per second and per
CPU-second.

Run: ``python bench/prepare_scale.py [--copies 10] [--jobs 2] [--rounds 2]``
(after ``python bench/prepare.py`` has made ``data-out/bench-midi/``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from machine import cpu_model

ROOT = Path(__file__).resolve().parent.parent
WORK_DIR = ROOT / "data-out"
SHORT_DIR = WORK_DIR / "bench-midi"


def copies(n: int) -> Path:
    """``data-out/bench-midi-xN/``: the chorales ``n`` times, one sub-folder per copy."""
    folder = WORK_DIR / f"bench-midi-x{n}"
    files = sorted(SHORT_DIR.glob("*.mid"))
    if not files:
        raise SystemExit(f"{SHORT_DIR} holds no MIDI files: run python bench/prepare.py first")
    if sum(1 for _ in folder.rglob("*.mid")) != n * len(files):
        shutil.rmtree(folder, ignore_errors=True)
        for k in range(n):
            (folder / f"copy{k}").mkdir(parents=True)
            for f in files:
                shutil.copy(f, folder / f"copy{k}" / f.name)
    return folder


def run(source: Path, jobs: int) -> tuple[float, float]:
    """(wall, CPU) seconds of one prepare run into a fresh folder."""
    from tuplet.corpus import prepare

    out = Path(tempfile.mkdtemp(dir=WORK_DIR, prefix="bench-scale-"))
    try:
        c0, t0 = os.times(), time.perf_counter()
        prepare([str(source)], out, jobs=jobs, progress=False, filters=None)
        wall, c1 = time.perf_counter() - t0, os.times()
    finally:
        shutil.rmtree(out, ignore_errors=True)
    keys = ("user", "system", "children_user", "children_system")
    return wall, sum(getattr(c1, k) - getattr(c0, k) for k in keys)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--copies", type=int, default=10)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    source = copies(args.copies)
    n = sum(1 for _ in source.rglob("*.mid"))
    load = os.getloadavg()
    print(f"machine: {cpu_model()}, {os.cpu_count()} cores, load average {load[0]:.1f}")
    print(f"{n} files ({args.copies} copies of {SHORT_DIR.name}), {args.rounds} rounds\n")
    results: dict[int, list[tuple[float, float]]] = {1: [], args.jobs: []}
    for r in range(args.rounds):
        order = [1, args.jobs] if r % 2 == 0 else [args.jobs, 1]
        for jobs in order:
            results[jobs].append(run(source, jobs))
    print(f"{'jobs':>4} {'wall s':>8} {'CPU s':>8} {'files/s':>8} {'files/CPU-s':>12}")
    rates = {}
    for jobs, runs in results.items():
        wall = statistics.median(w for w, _ in runs)
        cpu = statistics.median(c for _, c in runs)
        rates[jobs] = (n / wall, n / cpu)
        print(f"{jobs:>4} {wall:>8.2f} {cpu:>8.2f} {n / wall:>8.0f} {n / cpu:>12.0f}")
    one, many = rates[1], rates[args.jobs]
    print(
        f"\njobs={args.jobs} against jobs=1: {many[0] / one[0]:.2f}x the files per second, "
        f"{many[1] / one[1]:.2f}x the files per CPU-second"
    )
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
