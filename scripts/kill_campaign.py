"""Kill ``tuplet data prepare`` and ``tuplet train`` at random points, fill the disk under them.

Campaigns (each runs the real command line, one process at a time):

* ``prepare``: an uninterrupted ``tuplet data prepare`` of a small folder (the test fixtures
  and 40 of music21's Bach chorales) is the reference; then, ``--kills`` times, the same
  command into a fresh folder is killed with SIGKILL at a random moment of its run and run
  again until it completes. The dataset must then hold exactly the reference's content: the
  same index entries and codes, the same skipped rows, commit log and provenance, a
  ``dataset.json`` equal but for its time, no dead rows and no temporary files.
* ``train``: the same with ``tuplet train --preset tiny`` (40 steps, a validation and a save
  every 5): after the kill the command is run again as a user would (``--resume`` once the run
  folder holds a checkpoint, which the refusal of the plain command says). ``losses.csv`` must
  then equal the uninterrupted run's row for row (step, split, losses, learning rate), and the
  ``best/`` and ``last/`` weights must be identical.
* ``disk-full`` (needs root, for a small tmpfs): prepare, train and generate write onto a
  filesystem that runs out of space; each must stop with a one-line message and leave nothing
  half-written as if complete; once space is freed the same command completes, with the
  reference's result.

    nice -n 10 .venv/bin/python scripts/kill_campaign.py prepare --kills 20 --seed 20
    nice -n 10 .venv/bin/python scripts/kill_campaign.py train --kills 20 --seed 20
    nice -n 10 .venv/bin/python scripts/kill_campaign.py disk-full

Each prints one line per kill and a summary, writes ``--report`` (JSON) if asked, and exits 1
if any check failed.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
TUPLET = [sys.executable, "-m", "tuplet"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
REASON = "kill campaign: music21 chorales copied into a folder, rights not declared"


# ------------------------------------------------------------------------- helpers
def run(cmd: list[str], timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """Run a command to its end; its output captured."""
    return subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=timeout)


def run_killed(cmd: list[str], after_s: float) -> bool:
    """Start ``cmd``, SIGKILL it after ``after_s`` seconds; False if it had already finished."""
    proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        proc.wait(timeout=after_s)
        return False
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return True


def leftovers(folder: Path) -> list[str]:
    """Temporary files or folders a writer left (names with .tmp or .old)."""
    return sorted(
        str(p.relative_to(folder))
        for p in folder.rglob("*")
        if ".tmp" in p.name or p.name.endswith(".old")
    )


def source_folder(work: Path) -> Path:
    """A small folder of real files: the fixtures and 40 Bach chorales."""
    from tuplet.io.score import music21_corpus_paths

    src = work / "src"
    src.mkdir(parents=True, exist_ok=True)
    for p in DATA.glob("*.*"):
        if p.suffix in (".mid", ".mxl", ".krn", ".abc"):
            shutil.copy2(p, src / p.name)
    for p in music21_corpus_paths("bach")[:40]:
        shutil.copy2(p, src / p.name)
    return src


# ------------------------------------------------------------------------- prepare
def prepare_cmd(src: Path, out: Path) -> list[str]:
    """The prepare command of the campaign (one process: --jobs 1)."""
    return [*TUPLET, "data", "prepare", str(src), "--out", str(out), "--jobs", "1", "--quiet",
            "--no-filter"]  # fmt: skip


def dataset_content(folder: Path) -> dict[str, Any]:
    """Everything a dataset holds, but for the time it was written."""
    from tuplet.corpus import store

    info = json.loads((folder / store.INFO_FILE).read_text())
    info.pop("updated", None)
    index = store.read_jsonl(folder / store.INDEX_FILE)
    reader = store.CodesReader(folder)
    codes = {e["item"]: reader.codes(e["offset"], e["length"]).tolist() for e in index}
    rows = (folder / store.CODES_FILE).stat().st_size // (2 * int(info["n_fields"]))
    return {
        "info": info,
        "index": index,
        "codes": codes,
        "files": store.read_jsonl(folder / store.FILES_FILE),
        "skipped": store.read_skipped(folder / store.SKIPPED_FILE),
        "provenance": store.read_jsonl(folder / store.PROVENANCE_FILE),
        "dead_rows": rows - sum(e["length"] for e in index),
    }


def differences(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """The keys on which two contents differ."""
    return [k for k in a if a[k] != b.get(k)]


def campaign_prepare(kills: int, rng: random.Random, work: Path) -> dict[str, Any]:
    """Kill prepare ``kills`` times at random moments; check each completed dataset."""
    src = source_folder(work)
    ref = work / "ref"
    t0 = time.perf_counter()
    done = run(prepare_cmd(src, ref))
    ref_s = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"the reference prepare failed: {done.stderr}")
    reference = dataset_content(ref)
    print(f"reference: {ref_s:.1f} s, {len(reference['index'])} sequences, "
          f"{len(reference['skipped'])} skipped", flush=True)  # fmt: skip
    results = []
    while len(results) < kills:
        out = work / f"kill-{len(results)}"
        shutil.rmtree(out, ignore_errors=True)
        after = rng.uniform(0.5, ref_s)
        if not run_killed(prepare_cmd(src, out), after):
            continue  # it finished first: draw another moment
        from tuplet.corpus import store

        committed = len(store.read_jsonl(out / store.FILES_FILE))
        again = run(prepare_cmd(src, out))
        problems = [] if again.returncode == 0 else [f"rerun failed: {again.stderr.strip()}"]
        if not problems:
            problems += [f"differs in {k}" for k in differences(reference, dataset_content(out))]
            problems += [f"left {x}" for x in leftovers(out)]
        results.append({"kill_after_s": round(after, 2), "files_committed_at_kill": committed,
                        "problems": problems})  # fmt: skip
        print(f"kill {len(results)}: after {after:.1f} s ({committed} files committed): "
              f"{'; '.join(problems) or 'identical to the reference'}", flush=True)  # fmt: skip
        shutil.rmtree(out, ignore_errors=True)
    return {"reference_s": round(ref_s, 1), "sequences": len(reference["index"]),
            "kills": results}  # fmt: skip


# --------------------------------------------------------------------------- train
def train_cmd(dataset: Path, out: Path, resume: bool = False) -> list[str]:
    """The training command of the campaign: a tiny model, 40 steps, a save every 5."""
    cmd = [*TUPLET, "train", str(dataset), "--out", str(out), "--preset", "tiny",
           "--steps", "40", "--batch-size", "2", "--max-seq-len", "64", "--max-beat", "32",
           "--valid-every", "5", "--valid-batches", "1", "--warmup-steps", "4",
           "--decay-steps", "40", "--seed", "3", "--quiet",
           "--allow-unverified", "--reason", REASON]  # fmt: skip
    return cmd + (["--resume"] if resume else [])


def run_until_done(dataset: Path, out: Path) -> subprocess.CompletedProcess[str]:
    """Run training as a user would after a kill: the same command, or --resume if it says so."""
    done = run(train_cmd(dataset, out))
    if done.returncode != 0 and "--resume" in done.stderr:
        done = run(train_cmd(dataset, out, resume=True))
    return done


def losses(run_dir: Path) -> list[tuple[str, ...]]:
    """The rows of a run's losses.csv, without the speed and time columns."""
    with (run_dir / "losses.csv").open(newline="") as f:
        return [(r["step"], r["split"], r["loss"], r["nll_per_note"], r["lr"])
                for r in csv.DictReader(f)]  # fmt: skip


def weights(folder: Path) -> bytes:
    """The weights file of a checkpoint."""
    return (folder / "model.safetensors").read_bytes()


def training_dataset(work: Path) -> Path:
    """A small prepared dataset (14 chorales)."""
    from tuplet.io.score import music21_corpus_paths

    src = work / "train-src"
    src.mkdir(parents=True, exist_ok=True)
    for p in music21_corpus_paths("bach")[:14]:
        shutil.copy2(p, src / p.name)
    out = work / "train-data"
    done = run(prepare_cmd(src, out))
    if done.returncode != 0:
        raise SystemExit(f"preparing the training data failed: {done.stderr}")
    return out


def campaign_train(kills: int, rng: random.Random, work: Path) -> dict[str, Any]:
    """Kill training ``kills`` times at random moments; check each resumed run."""
    dataset = training_dataset(work)
    ref = work / "ref-run"
    t0 = time.perf_counter()
    done = run(train_cmd(dataset, ref))
    ref_s = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"the reference run failed: {done.stderr}")
    ref_losses = losses(ref)
    print(f"reference: {ref_s:.1f} s, {len(ref_losses)} loss rows", flush=True)
    results = []
    while len(results) < kills:
        out = work / f"run-{len(results)}"
        shutil.rmtree(out, ignore_errors=True)
        after = rng.uniform(1.0, ref_s)
        if not run_killed(train_cmd(dataset, out), after):
            continue
        step = None
        trainer = out / "last" / "trainer.safetensors"
        if trainer.exists():
            from tuplet.model.checkpoint import load_state

            try:
                step = load_state(out / "last", "trainer")[1]["state"]["step"]
            except Exception as exc:  # a corrupt state file is a finding, not a crash here
                step = f"unreadable: {exc}"
        again = run_until_done(dataset, out)
        problems = [] if again.returncode == 0 else [f"rerun failed: {again.stderr.strip()}"]
        if not problems:
            if losses(out) != ref_losses:
                problems.append("losses.csv differs from the uninterrupted run's")
            for which in ("best", "last"):
                if weights(out / which) != weights(ref / which):
                    problems.append(f"{which}/ weights differ")
            problems += [f"left {x}" for x in leftovers(out)]
        results.append({"kill_after_s": round(after, 2), "saved_step_at_kill": step,
                        "problems": problems})  # fmt: skip
        print(f"kill {len(results)}: after {after:.1f} s (last/ at step {step}): "
              f"{'; '.join(problems) or 'same losses and weights as the reference'}",
              flush=True)  # fmt: skip
        shutil.rmtree(out, ignore_errors=True)
    return {"reference_s": round(ref_s, 1), "loss_rows": len(ref_losses), "kills": results}


# ----------------------------------------------------------------------- disk full
class SmallDisk:
    """A tmpfs of ``size_mb`` mounted on ``path``, filled so that only ``free_kb`` are left."""

    def __init__(self, path: Path, size_mb: int) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(path)],
                       check=True)  # fmt: skip

    def leave(self, free_kb: int) -> None:
        """Fill the disk so that about ``free_kb`` KiB stay free."""
        filler = self.path / ".filler"
        filler.unlink(missing_ok=True)
        st = os.statvfs(self.path)
        size = max(0, st.f_bavail * st.f_frsize - free_kb * 1024)
        with open(filler, "wb") as f:
            f.write(b"\0" * size)

    def free(self) -> None:
        """Remove the filler."""
        (self.path / ".filler").unlink(missing_ok=True)

    def close(self) -> None:
        """Unmount."""
        subprocess.run(["umount", str(self.path)], check=False)


def one_line_error(done: subprocess.CompletedProcess[str]) -> str | None:
    """The error line if the command failed with one line naming no space, else None."""
    lines = [x for x in done.stderr.strip().splitlines() if x.startswith("tuplet: error:")]
    if done.returncode == 1 and len(lines) == 1 and "No space left" in lines[0]:
        return lines[0]
    return None


def campaign_disk_full(work: Path) -> dict[str, Any]:
    """Prepare, train and generate onto a full disk; then free it and run again."""
    if os.geteuid() != 0:
        raise SystemExit("disk-full needs root (it mounts a small tmpfs)")
    results: dict[str, Any] = {}
    disk = SmallDisk(work / "small", 64)
    try:
        # prepare: the dataset outgrows the space left
        src = source_folder(work)
        ref = work / "ref"
        run(prepare_cmd(src, ref))
        out = disk.path / "data"
        disk.leave(200)
        full = run(prepare_cmd(src, out))
        line = one_line_error(full)
        info_path = out / "dataset.json"
        info = json.loads(info_path.read_text()) if info_path.exists() else {}
        disk.free()
        again = run(prepare_cmd(src, out))
        same = again.returncode == 0 and not differences(dataset_content(ref), dataset_content(out))
        results["prepare"] = {"message": line or full.stderr.strip()[-300:],
                              "marked_incomplete": info.get("complete") is False,
                              "next_run_recovers": same, "leftovers": leftovers(out)}  # fmt: skip
        print("prepare:", results["prepare"], flush=True)

        # train: checkpoints stop fitting part-way through the run
        dataset = training_dataset(work)
        ref_run = work / "ref-run"
        run(train_cmd(dataset, ref_run))
        out = disk.path / "run"
        disk.leave(1500)
        full = run(train_cmd(dataset, out))
        line = one_line_error(full)
        loadable = True
        if (out / "last").exists():
            from tuplet.model.checkpoint import load_checkpoint

            try:
                load_checkpoint(out / "last")
            except Exception:
                loadable = False
        left = leftovers(out)
        disk.free()
        again = run_until_done(dataset, out)
        same = again.returncode == 0 and losses(out) == losses(ref_run)
        results["train"] = {"message": line or full.stderr.strip()[-300:],
                            "last_loadable": loadable, "leftovers": left,
                            "next_run_recovers": same}  # fmt: skip
        print("train:", results["train"], flush=True)

        # generate: the output folder has no room for the piece
        out = disk.path / "gen"
        disk.leave(0)
        gen = [*TUPLET, "generate", "--model", str(ref_run / "best"), "--n", "1",
               "--max-beats", "16", "--seed", "1", "--out", str(out)]  # fmt: skip
        full = run(gen)
        line = one_line_error(full)
        out.mkdir(exist_ok=True)
        left = leftovers(out)
        partial = sorted(p.name for p in out.glob("*") if p.stat().st_size == 0)
        disk.free()
        again = run(gen)
        results["generate"] = {"message": line or full.stderr.strip()[-300:], "leftovers": left,
                               "empty_files": partial, "next_run_ok": again.returncode == 0,
                               "next_run_error": again.stderr.strip()[-300:]}  # fmt: skip
        print("generate:", results["generate"], flush=True)
    finally:
        disk.close()
    return results


def main() -> int:
    """Run one campaign from the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("campaign", choices=["prepare", "train", "disk-full"])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=20)
    parser.add_argument("--report", type=Path, default=None)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix=f"tuplet-{args.campaign}-"))
    t0 = time.perf_counter()
    try:
        if args.campaign == "prepare":
            report = campaign_prepare(args.kills, rng, work)
        elif args.campaign == "train":
            report = campaign_train(args.kills, rng, work)
        else:
            report = campaign_disk_full(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report["seconds"] = round(time.perf_counter() - t0, 1)
    if args.report is not None:
        args.report.write_text(json.dumps(report, indent=2) + "\n")
    if "kills" in report:
        failed = [k for k in report["kills"] if k["problems"]]
        print(f"{len(report['kills'])} kills, {len(failed)} with problems, "
              f"{report['seconds']:.0f} s")  # fmt: skip
        return 1 if failed else 0
    ok = all(
        r.get("next_run_recovers", r.get("next_run_ok")) and not r["leftovers"]
        and str(r["message"]).startswith("tuplet: error:")
        for r in report.values() if isinstance(r, dict)
    )  # fmt: skip
    print("disk-full:", "every check passed" if ok else "a check failed")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
