"""What the studio's tests share: a tiny random-weight model and a live server on a free port."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from tuplet.encoding import get_encoding
from tuplet.model.checkpoint import save_checkpoint
from tuplet.model.transformer import MusicTransformer, preset

DATA = Path(__file__).parent / "data"
BACH = DATA / "bwv66.6.mid"
TOKEN = "test-token-0123456789"


def save_tiny(folder: Path, name: str = "tuplet", max_beat: int = 64) -> Path:
    """A tiny random-weight checkpoint (as tests/test_generate_cli.py makes them)."""
    enc = get_encoding(name, max_beat=max_beat)
    torch.manual_seed(0)
    config = preset(
        "tiny",
        enc.fields,
        enc.vocab_sizes,
        max_seq_len=256,
        defined_fields=tuple(map(tuple, enc.defined_fields.tolist())),
    )
    return save_checkpoint(folder, MusicTransformer(config), encoding=enc.to_dict())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serve(app: Any, port: int) -> Iterator[str]:
    """Run ``app`` with uvicorn on 127.0.0.1:``port`` in a thread; yields its base URL."""
    import uvicorn

    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the studio server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def wait_job(get: Any, job_id: str, timeout: float = 60.0) -> dict[str, Any]:
    """Poll ``/api/jobs/ID`` until the job is over; returns its last answer."""
    deadline = time.monotonic() + timeout
    while True:
        data = get(f"/api/jobs/{job_id}").json()
        if data["status"] in ("done", "failed", "cancelled"):
            return data
        if time.monotonic() > deadline:
            raise TimeoutError(f"job {job_id} still {data['status']}")
        time.sleep(0.05)
