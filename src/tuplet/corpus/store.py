"""The on-disk dataset format: append-only files, a commit log, and crash recovery.

A dataset folder made by :func:`tuplet.corpus.prepare` holds:

=====================  ==================================================================
file                   contents
=====================  ==================================================================
``codes.bin``          every kept sequence, one after another: raw little-endian ``int16``
                       rows of ``n_fields`` codes (``dataset.json`` states dtype and width)
``index.jsonl``        one JSON line per kept sequence: ``item``, ``file``, ``offset`` and
                       ``length`` (in rows of ``codes.bin``), ``split``, ``hash``,
                       ``n_notes``, ``n_beats``, ``programs``, ``drums``
``files.jsonl``        the commit log: one JSON line per input file fully handled
                       (``file`` key, ``path``, ``size``, ``mtime_ns``, ``sha256``,
                       ``source``, ``items``)
``skipped.csv``        every input file or song not used: ``item,reason,detail,file``
``provenance.jsonl``   one record per source item (see :mod:`tuplet.responsibility.provenance`)
``dataset.json``       encoding, counts, filters, split rule, sources, tuplet version;
                       written atomically at the end of every run
=====================  ==================================================================

Crash safety without a database: the writer handles one input file at a time and appends, in
this order, its codes (flushed), its index lines, its skipped rows and provenance records, and
last its line in ``files.jsonl``, which commits the file. :func:`recover` (run at the start of
every preparation) keeps only lines that belong to committed files, drops a torn last line,
and truncates ``codes.bin`` to the end of the last kept sequence; so a run killed at any point
(Ctrl-C, ``kill -9``) leaves a folder the next run completes. Writes are flushed, not fsynced,
per file (a killed process loses nothing; a power cut may lose the last files, which the next
run redoes); ``dataset.json`` is written atomically and the data files fsynced at the end.

One writer at a time: :func:`prepare <tuplet.corpus.prepare>` holds an exclusive lock on the
folder's ``.lock`` file for its whole run, and a training run holds a shared one while it reads
the folder (:func:`lock_folder`); whoever comes second is refused with a message naming the
folder and who holds it. The lock is the operating system's (``flock``): a killed process
leaves none behind.

Rows of files dropped from a dataset (deleted or changed sources) stay in ``codes.bin`` as dead
rows that no index line points to; ``dataset.json`` counts them.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from tuplet.errors import UsageError

CODES_FILE = "codes.bin"
INDEX_FILE = "index.jsonl"
FILES_FILE = "files.jsonl"
SKIPPED_FILE = "skipped.csv"
PROVENANCE_FILE = "provenance.jsonl"
INFO_FILE = "dataset.json"
LOCK_FILE = ".lock"
CODES_DTYPE = "<i2"
"""Little-endian int16: every code of both encodings is below 32768 (checked when writing)."""
SKIPPED_COLUMNS = ("item", "reason", "detail", "file")
FORMAT_NAME = "tuplet-dataset"
FORMAT_VERSION = 1


class DamagedDatasetError(UsageError):
    """A dataset folder's ``dataset.json`` cannot be read or is damaged (one line, naming it)."""


# ---------------------------------------------------------------- small file helpers
def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder + os.replace."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _complete_lines(path: Path) -> list[str]:
    """The lines of a text file that end with a newline (a torn last line is left out)."""
    if not path.exists():
        return []
    data = path.read_bytes()
    end = data.rfind(b"\n")
    if end < 0:
        return []
    return data[: end + 1].decode("utf-8", errors="replace").splitlines()


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The complete, parseable JSON lines of ``path`` (a torn or broken line is left out)."""
    out = []
    for line in _complete_lines(path):
        try:
            value = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            out.append(value)
    return out


def _is_count(value: Any, least: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= least


def valid_entry(entry: dict[str, Any]) -> bool:
    """Whether an ``index.jsonl`` line holds what readers rely on, with the right types."""
    return (
        all(isinstance(entry.get(k), str) for k in ("item", "file", "split", "hash"))
        and _is_count(entry.get("offset"), 0)
        and _is_count(entry.get("length"), 1)
    )


def jsonl_bytes(records: Iterable[dict[str, Any]]) -> bytes:
    """JSON lines (compact, keys in insertion order) for ``records``."""
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode("utf-8")


def read_skipped(path: Path) -> list[dict[str, str]]:
    """The rows of ``skipped.csv`` (complete lines only) as dicts of its columns."""
    lines = _complete_lines(path)
    if not lines:
        return []
    rows = []
    for row in csv.reader(lines[1:]):
        if len(row) == len(SKIPPED_COLUMNS):
            rows.append(dict(zip(SKIPPED_COLUMNS, row, strict=True)))
    return rows


def skipped_bytes(rows: Iterable[dict[str, str]], header: bool) -> bytes:
    """CSV text for skipped rows (each field made one line), with the header if asked."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    if header:
        writer.writerow(SKIPPED_COLUMNS)
    for row in rows:
        writer.writerow([" ".join(str(row.get(c, "")).split()) for c in SKIPPED_COLUMNS])
    return buf.getvalue().encode("utf-8")


def load_info(out_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``dataset.json`` of a dataset folder.

    Raises:
        UsageError: The folder is not a prepared dataset.
        DamagedDatasetError: Its description cannot be read or is damaged.
    """
    path = Path(out_dir) / INFO_FILE
    try:
        info = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise UsageError(
            f"{out_dir}: not a prepared dataset (no {INFO_FILE}; run 'tuplet data prepare')"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        reason = " ".join(str(exc).split())[:160]
        raise DamagedDatasetError(f"{path}: unreadable dataset description ({reason})") from None
    if not isinstance(info, dict) or info.get("format") != FORMAT_NAME:
        raise UsageError(f"{path}: not a tuplet dataset description")
    problem = _info_problem(info)
    if problem:
        raise DamagedDatasetError(f"{path}: damaged dataset description ({problem})")
    return info


def _info_problem(info: dict[str, Any]) -> str | None:
    """What is wrong with the fields of a ``dataset.json`` that readers rely on, or None."""
    from tuplet.encoding import EncodingConfig

    if info.get("codes_dtype", CODES_DTYPE) != CODES_DTYPE:
        return f"codes_dtype {info.get('codes_dtype')!r}, expected {CODES_DTYPE!r}"
    try:
        config = EncodingConfig.from_dict(info["encoding"])
    except Exception as exc:  # any field may be damaged: each failure means the same
        return f"its encoding: {type(exc).__name__}: {' '.join(str(exc).split())}"[:200]
    if info.get("n_fields") != len(config.fields):
        return f"n_fields {info.get('n_fields')!r}, the encoding has {len(config.fields)}"
    return None


# ------------------------------------------------------------------------------ lock
@contextlib.contextmanager
def lock_folder(folder: Path, *, shared: bool, holder: str, busy: str) -> Iterator[None]:
    """Hold an exclusive (writer) or shared (reader) lock on ``folder`` while in the block.

    The lock is ``flock`` on ``folder/.lock``, so it goes with the process that holds it (a
    ``kill -9`` leaves none behind). It is never waited for: a conflicting holder is refused at
    once. An exclusive holder writes ``holder`` and its process id into the file, so that the
    refusal can say who it is. Where ``flock`` does not exist (Windows), nothing is locked.

    Args:
        folder: The folder (must exist).
        shared: Take a shared lock (readers) instead of an exclusive one (the writer).
        holder: Who takes it, e.g. ``"tuplet data prepare"``.
        busy: What the refusal says after the folder's name when no writer holds the lock
            (readers do), e.g. ``"is being read by a training run"``.

    Raises:
        UsageError: Another process holds a conflicting lock; the message names the folder and,
            when the other holds it exclusively, who and which process.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not on POSIX
        yield
        return
    path = folder / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
    except BlockingIOError:
        who = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
        if who and not _holds_shared(fd):
            busy = f"is being written by {who}"
        os.close(fd)
        raise UsageError(f"{folder}: {busy}; try again when it has finished") from None
    try:
        if not shared:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{holder} (process {os.getpid()})\n".encode(), 0)
        yield
    finally:
        if not shared:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
        os.close(fd)  # closing releases the lock


def _holds_shared(fd: int) -> bool:
    """Whether the lock on ``fd``'s file is held shared (readers), not by a writer."""
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    fcntl.flock(fd, fcntl.LOCK_UN)
    return True


# -------------------------------------------------------------------------- recovery
class Journal:
    """What a dataset folder holds after :func:`recover`: the committed files and their rows."""

    def __init__(
        self,
        files: list[dict[str, Any]],
        index: list[dict[str, Any]],
        skipped: list[dict[str, str]],
        provenance: list[dict[str, Any]],
        codes_rows: int,
    ) -> None:
        self.files = files
        self.index = index
        self.skipped = skipped
        self.provenance = provenance
        self.codes_rows = codes_rows

    def files_by_key(self) -> dict[str, dict[str, Any]]:
        """The committed file records by key."""
        return {f["file"]: f for f in self.files}


def recover(out_dir: Path, n_fields: int) -> Journal:
    """Bring a dataset folder back to its last committed state and return what it holds.

    Lines of ``index.jsonl``, ``skipped.csv`` and ``provenance.jsonl`` whose file has no
    line in ``files.jsonl`` (a run stopped part-way through that file) are dropped, as is a
    torn last line anywhere; so are the lines of a committed file whose lines are damaged or
    missing, or whose codes are past the end of ``codes.bin`` (its commit is withdrawn, and
    the run reads it again); ``codes.bin`` is cut after the last kept sequence. Files are
    rewritten (atomically) only when something was dropped.

    Args:
        out_dir: The dataset folder (may hold nothing yet).
        n_fields: Codes per row.

    Returns:
        The committed state.
    """
    files_path = out_dir / FILES_FILE
    files = [f for f in read_jsonl(files_path) if isinstance(f.get("file"), str)]
    raw_index = read_jsonl(out_dir / INDEX_FILE)
    raw_skipped = read_skipped(out_dir / SKIPPED_FILE)
    raw_prov = read_jsonl(out_dir / PROVENANCE_FILE)
    files = _whole_files(files, raw_index, raw_skipped, raw_prov)
    committed = {f["file"] for f in files}
    index = [e for e in raw_index if e.get("file") in committed]
    skipped = [r for r in raw_skipped if r["file"] in committed]
    provenance = [p for p in raw_prov if p.get("file") in committed]

    row_bytes = n_fields * np.dtype(CODES_DTYPE).itemsize
    codes_path = out_dir / CODES_FILE
    have_rows = codes_path.stat().st_size // row_bytes if codes_path.exists() else 0
    # a committed entry always has its rows (they are flushed before its index line): one
    # that points past the end (a damaged folder) sends its file to be read again
    short = {e["file"] for e in index if e["offset"] + e["length"] > have_rows}
    if short:
        files = [f for f in files if f["file"] not in short]
        index = [e for e in index if e["file"] not in short]
        skipped = [r for r in skipped if r["file"] not in short]
        provenance = [p for p in provenance if p.get("file") not in short]
    end_rows = max((e["offset"] + e["length"] for e in index), default=0)

    for path, kept, to_bytes, header_lines in (
        (files_path, files, jsonl_bytes, 0),
        (out_dir / INDEX_FILE, index, jsonl_bytes, 0),
        (out_dir / SKIPPED_FILE, skipped, _skipped_with_header, 1),
        (out_dir / PROVENANCE_FILE, provenance, jsonl_bytes, 0),
    ):
        if _needs_rewrite(path, len(kept), header_lines):
            write_atomic(path, to_bytes(kept))
    if codes_path.exists() and codes_path.stat().st_size != end_rows * row_bytes:
        with open(codes_path, "r+b") as f:
            f.truncate(end_rows * row_bytes)
    return Journal(files, index, skipped, provenance, end_rows)


def _whole_files(
    files: list[dict[str, Any]],
    index: list[dict[str, Any]],
    skipped: list[dict[str, str]],
    provenance: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """The committed files whose lines are all there and sound (the others are read again).

    A file's record says how many songs it had (``items``); each is an index entry or a
    skipped row, and each has a provenance record (a file refused whole has one skipped row
    and one record). A damaged line (a disk error, a hand edit) whose file can be told is held
    against that file; one that cannot be told away is simply dropped.
    """
    damaged = {e.get("file") for e in index if not valid_entry(e)}
    damaged |= {p.get("file") for p in provenance if not isinstance(p.get("item"), str)}
    songs: dict[Any, int] = {}
    for e in index:
        songs[e.get("file")] = songs.get(e.get("file"), 0) + 1
    for r in skipped:
        songs[r["file"]] = songs.get(r["file"], 0) + 1
    records: dict[Any, int] = {}
    for p in provenance:
        records[p.get("file")] = records.get(p.get("file"), 0) + 1
    whole = []
    for f in files:
        items = f.get("items")
        if f["file"] in damaged:
            continue
        if items is not None:  # datasets from before the count was kept: trusted
            expected = max(1, items) if _is_count(items, 0) else -1
            if songs.get(f["file"], 0) != expected or records.get(f["file"], 0) != expected:
                continue
        whole.append(f)
    return whole


def _skipped_with_header(rows: list[dict[str, str]]) -> bytes:
    return skipped_bytes(rows, header=True)


def _needs_rewrite(path: Path, n_kept: int, header_lines: int) -> bool:
    """Whether a data file holds a torn line or lines other than the ``n_kept`` kept ones."""
    if not path.exists():
        return False
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        return True
    return data.count(b"\n") - header_lines != n_kept


def drop_files(out_dir: Path, journal: Journal, keys: set[str]) -> Journal:
    """Remove every trace of the files ``keys`` (their rows in codes.bin become dead rows).

    The commit log is rewritten first, so a crash part-way leaves rows of uncommitted files,
    which the next :func:`recover` drops.
    """
    if not keys:
        return journal
    files = [f for f in journal.files if f["file"] not in keys]
    index = [e for e in journal.index if e["file"] not in keys]
    skipped = [r for r in journal.skipped if r["file"] not in keys]
    provenance = [p for p in journal.provenance if p.get("file") not in keys]
    write_atomic(out_dir / FILES_FILE, jsonl_bytes(files))
    write_atomic(out_dir / INDEX_FILE, jsonl_bytes(index))
    write_atomic(out_dir / SKIPPED_FILE, skipped_bytes(skipped, header=True))
    write_atomic(out_dir / PROVENANCE_FILE, jsonl_bytes(provenance))
    return Journal(files, index, skipped, provenance, journal.codes_rows)


def reset(out_dir: Path) -> None:
    """Delete every data file of a dataset folder (the folder itself stays)."""
    for name in (FILES_FILE, INDEX_FILE, SKIPPED_FILE, PROVENANCE_FILE, CODES_FILE, INFO_FILE):
        (out_dir / name).unlink(missing_ok=True)


# ---------------------------------------------------------------------------- writer
class StoreWriter:
    """Appends whole input files to a dataset folder, committing each one (see module doc).

    Use as a context manager; :meth:`add_file` is the only way rows are added.
    """

    def __init__(self, out_dir: Path, n_fields: int, codes_rows: int) -> None:
        self.out_dir = out_dir
        self.n_fields = n_fields
        self.codes_rows = codes_rows
        self._codes = open(out_dir / CODES_FILE, "ab")
        self._index = open(out_dir / INDEX_FILE, "ab")
        skipped_path = out_dir / SKIPPED_FILE
        new_skipped = not skipped_path.exists() or skipped_path.stat().st_size == 0
        self._skipped = open(skipped_path, "ab")
        if new_skipped:
            self._skipped.write(skipped_bytes([], header=True))
            self._skipped.flush()
        self._provenance = open(out_dir / PROVENANCE_FILE, "ab")
        self._files = open(out_dir / FILES_FILE, "ab")

    def __enter__(self) -> StoreWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add_file(
        self,
        file_record: dict[str, Any],
        sequences: list[tuple[dict[str, Any], np.ndarray]],
        skipped: list[dict[str, str]],
        provenance: list[dict[str, Any]],
    ) -> list[dict[str, Any]]:
        """Append one input file's results and commit it.

        Args:
            file_record: Its ``files.jsonl`` line (must hold ``file``, the key).
            sequences: ``(index entry without offset/length, codes (n, n_fields))`` per kept
                song; ``offset`` and ``length`` are filled in here.
            skipped: Its ``skipped.csv`` rows (``file`` is set here).
            provenance: Its provenance records (``file`` is set here).

        Returns:
            The index entries written.

        Raises:
            ValueError: A sequence has the wrong width or a code outside int16.
        """
        key = file_record["file"]
        entries = []
        for entry, codes in sequences:
            if codes.ndim != 2 or codes.shape[1] != self.n_fields:
                raise ValueError(
                    f"{key}: codes of shape {codes.shape}, expected (n, {self.n_fields})"
                )
            if codes.size and (codes.min() < -32768 or codes.max() > 32767):
                raise ValueError(f"{key}: a code does not fit in int16")
            self._codes.write(np.ascontiguousarray(codes, dtype=CODES_DTYPE).tobytes())
            entries.append({**entry, "file": key, "offset": self.codes_rows, "length": len(codes)})
            self.codes_rows += len(codes)
        self._codes.flush()
        self._index.write(jsonl_bytes(entries))
        self._index.flush()
        self._skipped.write(skipped_bytes([{**r, "file": key} for r in skipped], header=False))
        self._skipped.flush()
        self._provenance.write(jsonl_bytes({**p, "file": key} for p in provenance))
        self._provenance.flush()
        self._files.write(jsonl_bytes([file_record]))
        self._files.flush()
        return entries

    def close(self) -> None:
        """Fsync and close every file (all of them, even if one fails; then that error)."""
        error: OSError | None = None
        for f in (self._codes, self._index, self._skipped, self._provenance, self._files):
            if f.closed:
                continue
            try:
                f.flush()
                os.fsync(f.fileno())
            except OSError as exc:  # a full disk: what was not written is dropped on recovery
                error = error or exc
            finally:
                try:
                    f.close()
                except OSError as exc:
                    error = error or exc
        if error is not None:
            raise error


# ---------------------------------------------------------------------------- reader
class CodesReader:
    """Read-only access to the sequences of a dataset folder (memory-mapped, opened lazily).

    Pickling drops the memory map (it is reopened on first use), so a reader travels cheaply
    to DataLoader worker processes.
    """

    def __init__(self, out_dir: str | os.PathLike[str]) -> None:
        self.out_dir = Path(out_dir)
        self.info = load_info(self.out_dir)
        self.n_fields = int(self.info["n_fields"])
        self.dtype = np.dtype(self.info.get("codes_dtype", CODES_DTYPE))
        self._codes: np.ndarray | None = None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_codes"] = None
        return state

    def entries(self, split: str | None = None) -> list[dict[str, Any]]:
        """Index entries (in dataset order), of one split if given.

        Raises:
            UsageError: A line of ``index.jsonl`` is damaged (``tuplet data prepare`` of the
                same sources repairs the folder).
        """
        entries = read_jsonl(self.out_dir / INDEX_FILE)
        for number, entry in enumerate(entries, 1):
            if not valid_entry(entry):
                raise UsageError(
                    f"{self.out_dir / INDEX_FILE}: entry {number} is damaged; run the same "
                    "tuplet data prepare again to repair the dataset"
                )
        return [e for e in entries if split is None or e.get("split") == split]

    def _rows(self) -> np.ndarray:
        if self._codes is None:
            path = self.out_dir / CODES_FILE
            size = path.stat().st_size if path.exists() else 0
            n_rows = size // (self.n_fields * self.dtype.itemsize)
            if n_rows == 0:
                self._codes = np.zeros((0, self.n_fields), dtype=self.dtype)
            else:
                mm = np.memmap(path, dtype=self.dtype, mode="r", shape=(n_rows * self.n_fields,))
                self._codes = mm.reshape(n_rows, self.n_fields)
        return self._codes

    def codes(self, offset: int, length: int) -> np.ndarray:
        """The sequence at ``offset`` (rows) of ``length`` rows, as a new int64 array."""
        rows = self._rows()
        if offset < 0 or offset + length > len(rows):
            raise UsageError(f"{self.out_dir}: index points past the end of {CODES_FILE}")
        return np.asarray(rows[offset : offset + length], dtype=np.int64)


def iter_sequences(
    out_dir: str | os.PathLike[str], split: str | None = None
) -> Iterator[tuple[dict[str, Any], np.ndarray]]:
    """Yield ``(index entry, codes)`` for every kept sequence (of one split if given)."""
    reader = CodesReader(out_dir)
    for entry in reader.entries(split):
        yield entry, reader.codes(entry["offset"], entry["length"])


def move_to_split(out_dir: Path, items: set[str], split: str, note: str) -> dict[str, int]:
    """Put ``items`` of a finished dataset in ``split``; returns the sequences per split.

    ``index.jsonl``, the records' splits in ``provenance.jsonl`` and the counts of
    ``dataset.json`` (which keeps a non-empty ``note`` as its split's ``held_out``) are each
    rewritten atomically, under the folder's writer lock (a training run reading it refuses,
    and is refused).

    Raises:
        UsageError: Another process holds the folder.
    """
    with lock_folder(out_dir, shared=False, holder="tuplet personalize",
                     busy="is in use by another process"):  # fmt: skip
        entries = read_jsonl(out_dir / INDEX_FILE)
        if items:
            records = read_jsonl(out_dir / PROVENANCE_FILE)
            for row in (*entries, *records):
                if row.get("item") in items:
                    row["split"] = split
            write_atomic(out_dir / PROVENANCE_FILE, jsonl_bytes(records))
            write_atomic(out_dir / INDEX_FILE, jsonl_bytes(entries))
        counts = {s: sum(e["split"] == s for e in entries) for s in ("train", "valid", "test")}
        info = load_info(out_dir)
        if items or (note and info["split"].get("held_out") != note):
            info["counts"].update(counts)
            info["split"]["held_out"] = note
            write_atomic(out_dir / INFO_FILE, (json.dumps(info, indent=2) + "\n").encode("utf-8"))
    return counts
