"""A bounded pool of worker threads with a bounded queue, for the studio's generation jobs.

A job that cannot be queued is refused at once (:class:`Busy`): work never piles up. A job that
raises keeps its error as a message and the pool goes on. A queued job can be cancelled before
it starts; a running one is marked, runs to its end (the sampler cannot be stopped midway) and
its result is dropped.
"""

from __future__ import annotations

import queue
import secrets
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tuplet.errors import TupletError

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"


class Busy(TupletError):
    """The queue is full: try again later."""


@dataclass
class Job:
    """One unit of work and what became of it.

    Attributes:
        id: Random hex id (the only handle requests use).
        kind: What it does, for people ("generate", "rewrite"...).
        status: queued, running, done, failed or cancelled.
        result: What the function returned (done only).
        error: One line for people (failed only).
        created, started, finished: ``time.time()`` stamps (None until reached).
        cancel_requested: Set by :meth:`JobPool.cancel` on a running job.
        progress: What the job reports while it runs (``events``, ``notes``, ``cancel``: set
            on cancel, so that the job can stop itself), or None.
    """

    id: str
    kind: str
    fn: Callable[[Job], Any]
    status: str = QUEUED
    result: Any = None
    error: str | None = None
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    cancel_requested: bool = False
    progress: Any = None

    def to_dict(self) -> dict[str, Any]:
        """The job as the page polls it (without the result)."""
        now = time.time()
        return {
            "id": self.id,
            "kind": self.kind,
            "status": self.status,
            "error": self.error,
            "waited_seconds": round((self.started or now) - self.created, 2),
            "running_seconds": round((self.finished or now) - self.started, 2)
            if self.started
            else 0.0,
            "events": getattr(self.progress, "events", 0),
            "notes_drawn": getattr(self.progress, "notes", 0),
        }


class JobPool:
    """``workers`` threads taking jobs from a queue of at most ``max_queued`` waiting jobs.

    Args:
        workers: Threads running jobs at once (the model is shared: 1 is the safe default).
        max_queued: Jobs that may wait; one more is refused with :class:`Busy`.
        keep: Finished jobs remembered (the oldest are forgotten first).
    """

    def __init__(self, workers: int = 1, max_queued: int = 4, keep: int = 200) -> None:
        if workers < 1 or max_queued < 0:
            raise ValueError("workers must be >= 1 and max_queued >= 0")
        self.workers, self.max_queued, self.keep = workers, max_queued, keep
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._waiting = 0
        self._threads = [
            threading.Thread(target=self._work, name=f"tuplet-studio-{i}", daemon=True)
            for i in range(workers)
        ]
        for t in self._threads:
            t.start()

    def submit(self, kind: str, fn: Callable[[Job], Any]) -> Job:
        """Queue ``fn(job)``.

        Raises:
            Busy: ``max_queued`` jobs are already waiting.
        """
        with self._lock:
            if self._waiting >= self.max_queued:
                raise Busy(
                    f"busy, try again: {self._waiting} job(s) are waiting "
                    f"(at most {self.max_queued})"
                )
            job = Job(secrets.token_hex(8), kind, fn)
            self._jobs[job.id] = job
            self._waiting += 1
            self._forget_old()
        self._queue.put(job)
        return job

    def get(self, job_id: str) -> Job | None:
        """The job with this id, or None."""
        with self._lock:
            return self._jobs.get(job_id)

    def cancel(self, job_id: str) -> Job | None:
        """Cancel a queued job, or mark a running one so that its result is dropped."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                return None
            if job.status == QUEUED:
                job.status, job.finished = CANCELLED, time.time()
            elif job.status == RUNNING:
                job.cancel_requested = True
                if job.progress is not None:  # stops at the next sampling step
                    job.progress.cancel = True
            return job

    @property
    def waiting(self) -> int:
        """Jobs in the queue, not yet started."""
        with self._lock:
            return self._waiting

    def close(self) -> None:
        """Stop the workers after the jobs in hand (queued ones are cancelled)."""
        with self._lock:
            for job in self._jobs.values():
                if job.status == QUEUED:
                    job.status = CANCELLED
        for _ in self._threads:
            self._queue.put(None)

    def _forget_old(self) -> None:
        finished = [j for j in self._jobs.values() if j.status in (DONE, FAILED, CANCELLED)]
        for job in sorted(finished, key=lambda j: j.created)[: max(0, len(finished) - self.keep)]:
            del self._jobs[job.id]

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            with self._lock:
                self._waiting -= 1
                if job.status != QUEUED:  # cancelled while it waited
                    continue
                job.status, job.started = RUNNING, time.time()
            try:
                result = job.fn(job)
            except TupletError as exc:
                self._end(job, FAILED, error=str(exc))
            except Exception as exc:  # the pool, and the app, stay up
                traceback.print_exc()
                self._end(job, FAILED, error=f"internal error: {type(exc).__name__}: {exc}")
            else:
                self._end(job, DONE, result=result)

    def _end(self, job: Job, status: str, *, result: Any = None, error: str | None = None) -> None:
        with self._lock:
            if job.cancel_requested:
                status, result = CANCELLED, None
            job.status, job.result, job.error, job.finished = status, result, error, time.time()


__all__ = ["CANCELLED", "DONE", "FAILED", "QUEUED", "RUNNING", "Busy", "Job", "JobPool"]
