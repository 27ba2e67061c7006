"""Reading untrusted files safely, in parallel: spawned workers, deadlines, crash recovery.

:func:`read_file` reads, filters and encodes every song of one file and never raises for a bad
file. :func:`run_pool` runs it over many files in ``spawn``-ed worker processes (our own small
pool: ``multiprocessing.Pool`` hangs when a worker dies): the parent gives each file a deadline
and kills a worker that overruns it; a worker that dies (a native crash, the memory limit, a
kill) costs only its file, recorded with the signal, and is replaced. Results are handed on in
input order, with a bounded look-ahead, so memory stays flat and the outcome does not depend on
the number of workers.
"""

from __future__ import annotations

import collections
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tuplet.corpus import store

if TYPE_CHECKING:
    from tuplet.notes import Notes


@dataclass(frozen=True)
class Filters:
    """MMT's preprocessing filters (the paper's values are the defaults).

    Attributes:
        min_beats: Songs shorter than this (in beats, from the first note) are dropped.
        max_beats: Songs longer than this are dropped.
        min_notes: Songs with fewer notes than this are dropped.
    """

    min_beats: float = 40.0
    max_beats: float = 8000.0
    min_notes: int = 50

    def reason(self, notes: Notes) -> str | None:
        """Why the paper's filters drop a piece (one line), or None if it passes.

        The length is measured as the official pipeline does, before the first note is moved
        to beat 0 (see :func:`tuplet.encoding.mmt_filter_reason`).
        """
        from tuplet.encoding import mmt_filter_reason

        return mmt_filter_reason(
            notes, min_beats=self.min_beats, max_beats=self.max_beats, min_notes=self.min_notes
        )


def file_sha256(path: Path) -> str | None:
    """SHA-256 hex digest of a file's bytes, or None if it cannot be read."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return None
    return digest.hexdigest()


def codes_hash(codes: np.ndarray) -> str:
    """SHA-256 hex digest of a code array as stored (little-endian int16 rows, with width)."""
    data = np.ascontiguousarray(codes, dtype=store.CODES_DTYPE).tobytes()
    return hashlib.sha256(f"{codes.shape[1]}:".encode() + data).hexdigest()


def read_file(path: str, encoding: str, filters: Filters | None) -> dict[str, Any]:
    """Read, filter and encode every song of one file (runs in a worker process).

    Never raises for a bad file: problems are returned as skipped items.

    Returns:
        ``{"sha256", "error": None | (reason, detail), "songs": [...]}``; each song is
        ``{"song", "meta", "n_notes", "length_beats"}`` plus either ``codes``, ``hash``,
        ``programs``, ``drums`` (encoded) or ``reason`` and ``detail`` (skipped).
    """
    from tuplet.encoding import encode, get_encoding, midi_reader_for, shift_to_first_beat
    from tuplet.errors import BadFileError
    from tuplet.io import SCORE_EXTENSIONS, read_notes
    from tuplet.responsibility.sniff import sniff_metadata

    p = Path(path)
    config = get_encoding(encoding)
    result: dict[str, Any] = {"sha256": file_sha256(p), "error": None, "songs": []}
    broken: list[BadFileError] = []
    try:
        songs: list[tuple[str, Notes]]
        if p.suffix.lower() in SCORE_EXTENSIONS:
            from tuplet.io.score import read_score_all

            songs = read_score_all(p, skipped=broken)
        else:
            songs = [(p.name, read_notes(p, midi_reader=midi_reader_for(config)))]
    except BadFileError as exc:
        result["error"] = ("unreadable", exc.problem)
        return result
    except Exception as exc:  # a reader bug is still this file's problem, not the run's
        result["error"] = ("unreadable", f"{type(exc).__name__}: {' '.join(str(exc).split())}")
        return result
    note_type = config.type_codes["note"]
    for err in broken:
        song = p.name + ("#" + err.path.rsplit("#", 1)[1] if "#" in err.path else "")
        result["songs"].append({"song": song, "reason": "unreadable", "detail": err.problem})
    for song, notes in songs:
        entry: dict[str, Any] = {"song": song, "meta": sniff_metadata(p, song)}
        entry.update(n_notes=len(notes), length_beats=None)
        reason = filters.reason(notes) if filters is not None else None
        if reason is not None:
            entry.update(reason="filtered", detail=reason)
            result["songs"].append(entry)
            continue
        try:
            shifted = shift_to_first_beat(notes, config)
            codes = encode(shifted, config)
        except Exception as exc:  # an encoder bug must not stop the run: record it
            detail = f"{type(exc).__name__}: {' '.join(str(exc).split())}"[:200]
            entry.update(reason="unencodable", detail=detail)
            result["songs"].append(entry)
            continue
        is_note = codes[:, 0] == note_type
        entry.update(length_beats=round(shifted.length_beats, 3), n_notes=int(is_note.sum()))
        if not is_note.any():
            entry.update(reason="unencodable", detail="no note the encoding can hold")
        else:
            entry.update(
                codes=codes,
                hash=codes_hash(codes),
                programs=np.unique(notes.program[~notes.is_drum]).tolist(),
                drums=bool(notes.is_drum.any()),
            )
        result["songs"].append(entry)
    return result


@dataclass(frozen=True)
class WorkerSettings:
    """What every worker of a run needs (sent once, when it starts).

    Attributes:
        encoding: The encoding name.
        filters: The filters, or None.
        memory_limit_mb: Address-space limit of the worker process (None: none).
        preload_scores: Load the score reader at start-up (when the run has score files), so
            that its import time does not count against the first score's deadline.
        hook: Called with each path before it is read (tests and debugging).
    """

    encoding: str
    filters: Filters | None
    memory_limit_mb: int | None = None
    preload_scores: bool = False
    hook: Callable[[str], None] | None = None


READY = "ready"


def _worker_main(conn: Any, settings: WorkerSettings) -> None:
    """Worker loop: say READY, then receive ``(index, path)`` and send ``(index, result)``.

    None, or the parent's end of the pipe closing, stops it.
    """
    import faulthandler
    import importlib
    import signal

    faulthandler.enable()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    if settings.memory_limit_mb:
        try:
            import resource

            limit = settings.memory_limit_mb * 1024 * 1024
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        except (ImportError, ValueError, OSError):
            pass  # no such limit on this platform: the deadline still holds
    # warm the readers up, so that no file's deadline pays for imports
    modules = ["tuplet.io.midi", "tuplet.encoding", "tuplet.responsibility.provenance"]
    modules += ["tuplet.io.score", "music21.converter"] if settings.preload_scores else []
    for module in modules:
        importlib.import_module(module)
    conn.send((READY, None))
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        index, path = task
        if settings.hook is not None:
            settings.hook(path)
        try:
            result = read_file(path, settings.encoding, settings.filters)
        except MemoryError:
            result = {"sha256": None, "error": ("crashed", "out of memory"), "songs": []}
        conn.send((index, result))


# --------------------------------------------------------------------- parent side
class _Worker:
    def __init__(self, ctx: Any, settings: WorkerSettings) -> None:
        parent_end, child_end = ctx.Pipe()
        self.process = ctx.Process(target=_worker_main, args=(child_end, settings), daemon=True)
        self.process.start()
        child_end.close()
        self.conn = parent_end
        self.ready = False
        self.tasks: collections.deque[int] = collections.deque()  # sent, in the worker's order
        self.started = 0.0  # when the first of them started

    def stop(self, kill: bool = False) -> None:
        if kill:
            self.process.kill()
        else:
            try:
                self.conn.send(None)
            except OSError:
                pass
        self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.conn.close()


def _death_reason(exitcode: int | None) -> str:
    import signal

    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        return f"the reader crashed ({name})"
    return f"the reader exited unexpectedly (exit code {exitcode})"


DEPTH = 2
"""Files sent to a worker ahead of its results: it starts the next one without waiting for
the parent (the deadline of each counts from when the one before it came back)."""

MAX_STARTUP_FAILURES = 3
"""A worker that dies before it is ready this many times in a row stops the run."""


def run_pool(
    paths: list[Path],
    jobs: int,
    settings: WorkerSettings,
    timeout_s: float,
    on_result: Callable[[int, dict[str, Any]], None],
) -> None:
    """Read ``paths`` in ``jobs`` spawned workers; call ``on_result`` in input order.

    Raises:
        TupletError: Workers cannot even start (they die before they are ready).
    """
    pool = _Pool(paths, jobs, settings, timeout_s)
    try:
        while pool.next_commit < len(paths):
            pool.feed()
            pool.wait()
            for i in range(len(pool.workers)):
                pool.tend(i)
            while pool.next_commit in pool.done:
                on_result(pool.next_commit, pool.done.pop(pool.next_commit))
                pool.next_commit += 1
    finally:
        for w in pool.workers:
            w.stop(kill=bool(w.tasks) or not w.ready)


def _failed(reason: str, detail: str) -> dict[str, Any]:
    return {"sha256": None, "error": (reason, detail), "songs": []}


class _Pool:
    """The workers of one :func:`run_pool` call, the files they hold, and the results back.

    Files are sent in input order, at most :data:`DEPTH` to a worker and a look-ahead ahead of
    the next result to commit; a file sent to a worker that died before starting it goes to
    another (``retry``).
    """

    def __init__(
        self, paths: list[Path], jobs: int, settings: WorkerSettings, timeout_s: float
    ) -> None:
        import multiprocessing

        self.ctx = multiprocessing.get_context("spawn")
        self.paths, self.settings, self.timeout_s = paths, settings, timeout_s
        self.lookahead = max(32, 8 * jobs)
        self.workers = [_Worker(self.ctx, settings) for _ in range(min(jobs, len(paths)))]
        self.done: dict[int, dict[str, Any]] = {}
        self.retry: collections.deque[int] = collections.deque()  # sent to one that then died
        self.next_task = self.next_commit = self.startup_failures = 0

    def feed(self) -> None:
        """Send each ready worker files until it holds :data:`DEPTH`."""
        for w in self.workers:
            while w.ready and len(w.tasks) < DEPTH:
                if self.retry:
                    task = self.retry.popleft()
                elif self.next_task < min(len(self.paths), self.next_commit + self.lookahead):
                    task, self.next_task = self.next_task, self.next_task + 1
                else:
                    break
                try:
                    w.conn.send((task, str(self.paths[task])))
                except OSError:  # it died since it was last seen: in tend(), as a death
                    self.retry.appendleft(task)
                    break
                if not w.tasks:
                    w.started = time.monotonic()
                w.tasks.append(task)

    def wait(self) -> None:
        """Until a worker says something or dies, or the first deadline passes."""
        from multiprocessing.connection import wait

        busy = [w for w in self.workers if w.tasks]
        now = time.monotonic()
        deadline_s = min((w.started + self.timeout_s - now for w in busy), default=1.0)
        watched = [w for w in self.workers if w.tasks or not w.ready]
        wait([w.conn for w in watched] + [w.process.sentinel for w in watched],
             max(0.0, deadline_s) + 0.01)  # fmt: skip

    def _replace(self, i: int) -> None:
        self.workers[i].stop(kill=True)
        self.workers[i] = _Worker(self.ctx, self.settings)

    def tend(self, i: int) -> None:
        """Worker ``i``: see it start, take its results, replace it if it died or hung."""
        w = self.workers[i]
        if not w.ready:
            self._starting(i)
        elif not w.tasks:
            if not w.process.is_alive():
                self._replace(i)
        else:
            self._collect(i)

    def _starting(self, i: int) -> None:
        from tuplet.errors import TupletError

        w = self.workers[i]
        if w.conn.poll():
            try:
                w.ready = w.conn.recv()[0] == READY
                self.startup_failures = 0
            except (EOFError, OSError):
                pass
        if not w.ready and not w.process.is_alive():
            self.startup_failures += 1
            if self.startup_failures >= MAX_STARTUP_FAILURES:
                raise TupletError(f"file readers cannot start: {_death_reason(w.process.exitcode)}")
            self._replace(i)

    def _collect(self, i: int) -> None:
        w = self.workers[i]
        received = False
        try:
            while w.tasks and w.conn.poll():
                index, result = w.conn.recv()
                self.done[index] = result
                w.tasks.popleft()  # results come back in the order sent
                w.started = time.monotonic()  # the next one starts now
                received = True
        except (EOFError, OSError):
            pass  # died while sending: handled as a death below
        if not w.tasks or (received and w.process.is_alive()):
            return
        task = w.tasks.popleft()  # the file it was reading when it died or hung
        if not w.process.is_alive():
            w.process.join()
            self.done[task] = _failed("crashed", _death_reason(w.process.exitcode))
        elif time.monotonic() - w.started > self.timeout_s:
            self.done[task] = _failed("timeout", f"took longer than {self.timeout_s:g} s")
        else:
            w.tasks.appendleft(task)
            return
        self.retry.extend(w.tasks)  # sent but not started: another worker reads them
        w.tasks.clear()
        self._replace(i)
