"""The studio under load: many generate requests at once against a live server.

Starts the studio (uvicorn, 127.0.0.1, a free port) on the default model (or --model) with a
fresh project in a temporary folder, opens a Bach chorale, then sends --requests generate
requests at once from --clients threads (mixed modes: generate, rewrite, continue). Each must
be answered: 202 (queued) or 503 ("busy, try again"); none may be lost or fail otherwise. While
the queue is full, plain GETs of /api/state are timed. Then every accepted job is followed to
its end. Prints the answers, the GET latencies, each job's wait and run times, and the
process's resident memory before, at the peak, and after.

    python bench/studio.py                               # default model, 50 requests
    python bench/studio.py --requests 50 --queue 4 --workers 1 --threads 1
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from machine import cpu_model
from studio_support import BACH, free_port, serve, wait_job
from tuplet.studio import create_app

TOKEN = "bench-token"
AUTH = {"X-Tuplet-Token": TOKEN}


def rss_mb() -> float:
    """Resident memory of this process now (MB)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def body(i: int) -> dict:
    kind = i % 3
    if kind == 0:
        return {"mode": "generate", "n": 2, "bars": 4, "seed": i}
    if kind == 1:
        return {"mode": "rewrite", "n": 2, "start_beat": 4 * (i % 4), "end_beat": 4 * (i % 4) + 4,
                "seed": i}  # fmt: skip
    return {"mode": "continue", "n": 2, "from_beat": 8, "bars": 2, "seed": i}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="checkpoint (default: the shipped model)")
    ap.add_argument("--requests", type=int, default=50)
    ap.add_argument("--clients", type=int, default=25, help="threads sending them")
    ap.add_argument("--queue", type=int, default=4, help="the studio's max_queued")
    ap.add_argument("--workers", type=int, default=1, help="the studio's workers")
    ap.add_argument("--threads", type=int, default=1, help="torch threads")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"machine: {cpu_model()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}; "
          f"torch {torch.__version__}, {args.threads} thread(s)")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        app = create_app(args.model, Path(tmp) / "project", TOKEN, port=port,
                         workers=args.workers, max_queued=args.queue)  # fmt: skip
        rss = {"start": rss_mb()}
        with serve(app, port) as base, httpx.Client(base_url=base, timeout=60) as http:
            http.post("/api/open", params={"name": BACH.name}, content=BACH.read_bytes(),
                      headers=AUTH)  # fmt: skip
            warm = http.post("/api/actions", json=body(0), headers=AUTH).json()["id"]
            wait_job(http.get, warm, timeout=600)  # the model is loaded: time the load only
            rss["model loaded"] = rss_mb()
            peak = [rss_mb()]
            stop = threading.Event()

            def watch() -> None:
                while not stop.is_set():
                    peak.append(rss_mb())
                    time.sleep(0.05)

            watcher = threading.Thread(target=watch, daemon=True)
            watcher.start()
            start = time.perf_counter()
            with ThreadPoolExecutor(args.clients) as ex:
                answers = list(ex.map(
                    lambda i: http.post("/api/actions", json=body(i), headers=AUTH),
                    range(args.requests),
                ))  # fmt: skip
            sent = time.perf_counter() - start
            gets = []
            for _ in range(20):  # while the accepted jobs fill the queue
                t = time.perf_counter()
                state = http.get("/api/state")
                gets.append(time.perf_counter() - t)
                assert state.status_code == 200
                if state.json()["queue"]["waiting"] == 0:
                    break
            accepted = [r.json()["id"] for r in answers if r.status_code == 202]
            ends = [wait_job(http.get, j, timeout=1200) for j in accepted]
            stop.set()
            watcher.join()
            rss["peak"] = max(peak)
            rss["after"] = rss_mb()
    codes = Counter(r.status_code for r in answers)
    refused = [r for r in answers if r.status_code == 503]
    clear = all("busy, try again" in r.json()["error"] for r in refused)
    print(f"\n{args.requests} requests from {args.clients} clients in {sent:.2f} s, "
          f"workers {args.workers}, queue {args.queue}")  # fmt: skip
    print(f"answers: {dict(sorted(codes.items()))} (503 all say 'busy, try again': {clear}); "
          f"lost: {args.requests - sum(codes.values())}")  # fmt: skip
    print(f"GET /api/state while the queue was full: {len(gets)} requests, median "
          f"{1000 * statistics.median(gets):.1f} ms, max {1000 * max(gets):.1f} ms")  # fmt: skip
    waited = ", ".join(f"{e['waited_seconds']:.1f}" for e in ends)
    ran = ", ".join(f"{e['running_seconds']:.1f}" for e in ends)
    print(f"accepted jobs: {dict(Counter(e['status'] for e in ends))}; waited {waited} s; "
          f"ran {ran} s")  # fmt: skip
    print("resident memory (MB): " + ", ".join(f"{k} {v:.0f}" for k, v in rss.items()))
    print(f"peak RSS of the process (getrusage): "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")  # fmt: skip


if __name__ == "__main__":
    main()
