"""Corpus preparation: find the files, read them safely in parallel, encode, de-duplicate, split.

:func:`prepare` turns SOURCES (folders, searched recursively, and ``music21:NAME`` corpora
bundled with music21) into a dataset folder (format: :mod:`tuplet.corpus.store`), with provenance
(:mod:`tuplet.responsibility.provenance`) and a record of every file or song not used and why.

How it holds up on large, untrusted collections:

* files are read in ``spawn``-ed worker processes (our own small pool, not
  ``multiprocessing.Pool``, which hangs when a worker dies); the parent gives each file a
  deadline (``timeout_s``) and kills a worker that overruns it; a worker that dies (a native
  crash, the memory limit, a kill) costs only its file, recorded with the signal, and is
  replaced (each worker holds two files at a time; one sent behind the file it died on goes
  to another worker); every input ends in exactly one place: kept, or in ``skipped.csv`` with
  its reason;
* workers send back one file's codes at a time and the parent appends them to disk at once, in
  input order (a bounded look-ahead keeps the workers busy), so memory stays flat however large
  the corpus and the result does not depend on ``jobs``;
* identical content is kept once: the key is the SHA-256 of the encoded codes, so the same
  music saved twice, or in two formats that encode alike, counts once (the first in input
  order is kept; the others are skipped as "duplicate of ...");
* the split is a pure function of that hash (its first 8 bytes as a fraction of 2**64 against
  the cumulative train/valid/test fractions), so duplicates never straddle splits and an item
  keeps its split when the corpus grows;
* a re-run processes only new or changed files (same key, size and mtime, or same SHA-256 of
  the bytes, means unchanged) and drops files no longer among the sources: the folder always
  mirrors the sources of its last run. An interrupted run (Ctrl-C, ``kill -9``, a full disk)
  is completed by the next one, which gives the dataset an uninterrupted run would have;
* one prepare at a time: a second one on the same folder, or one while a training run reads
  it, is refused (:func:`tuplet.corpus.store.lock_folder`).
"""

from __future__ import annotations

import collections
import contextlib
import functools
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tuplet.corpus import rerun, store
from tuplet.corpus.discover import MUSIC21_PREFIX, InputFile, discover
from tuplet.corpus.workers import Filters, WorkerSettings, read_file, run_pool
from tuplet.errors import UsageError, WriteError, is_out_of_space
from tuplet.responsibility.provenance import RightsPolicy, provenance_record

SPLITS: tuple[str, ...] = ("train", "valid", "test")
BUSY = "is in use by another process (a training run reading it, or a prepare writing it)"


# ------------------------------------------------------------------------- settings
DEFAULT_FILTERS = Filters()


@dataclass(frozen=True)
class SplitRule:
    """Train/valid/test fractions; an item's split is a pure function of its content hash."""

    train: float = 0.9
    valid: float = 0.05
    test: float = 0.05

    def __post_init__(self) -> None:
        values = (self.train, self.valid, self.test)
        if min(values) < 0 or abs(sum(values) - 1.0) > 1e-9:
            raise UsageError(f"split fractions must be >= 0 and add up to 1, got {values}")

    def split_of(self, content_hash: str) -> str:
        """The split of an item whose SHA-256 hex digest is ``content_hash``."""
        u = int(content_hash[:16], 16) / 2.0**64
        if u < self.train:
            return "train"
        return "valid" if u < self.train + self.valid else "test"


# ------------------------------------------------------------------------- prepare
@dataclass
class PrepareReport:
    """What a :func:`prepare` run did, and what the dataset holds afterwards.

    Attributes:
        out_dir: The dataset folder.
        inputs: Files found in the sources.
        unchanged: Of those, files already prepared by an earlier run (not read again).
        processed: Files read in this run.
        removed: Files dropped from the dataset because they are gone from the sources.
        redone: Files read again: changed since the last run, or duplicates of a removed file.
        kept: Songs added in this run.
        skipped: Songs or files of this run not used.
        skipped_by_reason: ``skipped`` by reason (unreadable, filtered, duplicate, ...).
        notes_read: Notes of every song read in this run.
        seconds: Wall time of the run.
        splits: Sequences per split in the whole dataset after the run.
        reset: Why the folder was emptied first (changed filters, encoding knobs or MIDI
            reader), if it was.
    """

    out_dir: str
    inputs: int = 0
    unchanged: int = 0
    processed: int = 0
    removed: int = 0
    redone: int = 0
    kept: int = 0
    skipped: int = 0
    skipped_by_reason: dict[str, int] = field(default_factory=dict)
    notes_read: int = 0
    seconds: float = 0.0
    splits: dict[str, int] = field(default_factory=dict)
    reset: str | None = None

    def summary(self) -> str:
        """A few lines for the terminal."""
        rate = self.processed / self.seconds if self.seconds > 0 else 0.0
        lines = []
        if self.reset:
            lines.append(f"started over: {self.reset}")
        lines.append(
            f"{self.out_dir}: {self.inputs} files found, {self.processed} read "
            f"({rate:.1f} files/s), {self.unchanged} unchanged, {self.redone} read again, "
            f"{self.removed} removed"
        )
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(self.skipped_by_reason.items()))
        lines.append(f"this run: {self.kept} kept, {self.skipped} skipped ({reasons or 'none'})")
        lines.append("dataset: " + ", ".join(f"{s} {self.splits.get(s, 0)}" for s in SPLITS))
        return "\n".join(lines)


def _as_filters(filters: Filters | Mapping[str, Any] | None) -> Filters | None:
    if filters is None or isinstance(filters, Filters):
        return filters
    unknown = set(filters) - {"min_beats", "max_beats", "min_notes"}
    if unknown:
        raise UsageError(f"unknown filter(s): {', '.join(sorted(unknown))}")
    return Filters(**filters)


def _as_split(split: SplitRule | tuple[float, float, float]) -> SplitRule:
    return split if isinstance(split, SplitRule) else SplitRule(*split)


def _default_jobs() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


_FORMATS = {".mid": "midi", ".midi": "midi", ".abc": "abc", ".krn": "humdrum"}


def _info(config_dict: dict[str, Any], midi_reader: str, n_fields: int, sources: list[str],
          filters: Filters | None, split: SplitRule, policy: RightsPolicy, complete: bool,
          **extra: Any) -> dict[str, Any]:  # fmt: skip
    import datetime

    from tuplet import __version__
    from tuplet.responsibility.provenance import TERMS

    return {
        "format": store.FORMAT_NAME,
        "format_version": store.FORMAT_VERSION,
        "tuplet_version": __version__,
        "complete": complete,
        "updated": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "encoding": config_dict,
        "midi_reader": midi_reader,
        "n_fields": n_fields,
        "codes_dtype": store.CODES_DTYPE,
        "sources": sources,
        "filters": asdict(filters) if filters is not None else None,
        "split": {
            "fractions": asdict(split),
            "rule": "first 8 bytes of the content hash as a fraction of 2**64, against the "
            "cumulative train, valid, test fractions",
        },
        "dedup": "SHA-256 of the encoded codes (little-endian int16 rows); the first in "
        "input order is kept",
        "rights": policy.describe(),
        "terms": TERMS,
        **extra,
    }


def _pinned_splits(dataset: str | os.PathLike[str] | None) -> dict[str, str]:
    """The split of each item of another dataset folder (empty for None)."""
    if dataset is None:
        return {}
    folder = Path(dataset)
    if not (folder / store.INDEX_FILE).is_file():
        raise UsageError(
            f"{folder}: not a prepared dataset (no {store.INDEX_FILE}) to take splits from"
        )
    return {e["item"]: e["split"] for e in store.read_jsonl(folder / store.INDEX_FILE)}


def _write_info(out: Path, info: dict[str, Any]) -> None:
    import json

    store.write_atomic(out / store.INFO_FILE, (json.dumps(info, indent=2) + "\n").encode())


@contextlib.contextmanager
def _stop_when_out_of_space(out: Path) -> Iterator[None]:
    """Turn a full disk into one line naming the dataset folder (the next run carries on)."""
    try:
        yield
    except OSError as exc:
        if not is_out_of_space(exc):
            raise
        raise WriteError(
            out, exc, "free some space and run the same command again: it carries on"
        ) from None


def prepare(
    sources: Sequence[str | os.PathLike[str]] | str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    encoding: str = "tuplet",
    jobs: int | None = None,
    filters: Filters | Mapping[str, Any] | None = DEFAULT_FILTERS,
    split: SplitRule | tuple[float, float, float] = SplitRule(),
    rights: str | None = None,
    holder: str | None = None,
    manifest: str | os.PathLike[str] | None = None,
    timeout_s: float = 60.0,
    memory_limit_mb: int | None = 8192,
    progress: bool = True,
    worker_hook: Callable[[str], None] | None = None,
    splits_from: str | os.PathLike[str] | None = None,
) -> PrepareReport:
    """Prepare (or bring up to date) a dataset folder from SOURCES.

    See the module docstring for what happens and :mod:`tuplet.corpus.store` for the folder's files.

    Args:
        sources: Folders (searched recursively), single files, or ``music21:NAME`` (or one
            of them alone).
        out_dir: The dataset folder; created, or brought up to date if it holds a dataset.
        encoding: ``"tuplet"`` or ``"mmt"``.
        jobs: Worker processes (default: the cores available). 1 reads in this process (for
            debugging: errors are still caught per file, but there is no deadline).
        filters: MMT's filters; a :class:`Filters`, a dict of its fields, or None for none.
        split: Train/valid/test fractions.
        rights: Rights basis of the folder sources (``owned``, ``contract``, ``open_license``,
            ``public_domain``, ``unknown``); default unknown. Not applied to music21 corpora.
        holder: Rights holder of the folder sources.
        manifest: A rights manifest (``.json`` or ``.toml``; see ``docs/data.md``).
        timeout_s: Seconds allowed to read one file before its worker is killed.
        memory_limit_mb: Address-space limit of each worker (None: none).
        progress: Show a progress bar.
        worker_hook: Called with each path in the worker before it is read (a picklable,
            module-level function; for tests and debugging).
        splits_from: Another dataset folder: an item it holds keeps the split it has there,
            whatever its content hash says (so a model trained on that dataset can be compared
            with one trained on this on pieces neither saw, after the encoding or the reading
            of the files changed their hashes). Other items are split by hash.

    Returns:
        What the run did.

    Raises:
        UsageError: No sources, a missing source, a bad option, a bad manifest, ``out_dir``
            holds a dataset of another encoding or files that are not a dataset, or another
            process is using it (a prepare writing it, a training run reading it).
        WriteError: The disk is full; the folder is left as the next run completes it.
    """
    from tuplet.encoding import get_encoding

    t0 = time.perf_counter()
    _check_options(sources, timeout_s)
    if jobs is not None and jobs < 1:
        raise UsageError(f"jobs must be at least 1, got {jobs}")
    names = [
        os.fspath(s) for s in ([sources] if isinstance(sources, (str, os.PathLike)) else sources)
    ]
    run = _Run(
        config=get_encoding(encoding),
        filters=_as_filters(filters),
        split=_as_split(split),
        pinned=_pinned_splits(splits_from),
        policy=RightsPolicy(rights, holder, None if manifest is None else Path(manifest)),
        splits_from=splits_from,
    )
    inputs, ignored = discover(names)
    out = Path(out_dir)
    report = PrepareReport(out_dir=str(out), inputs=len(inputs))
    source_list = [s if s.startswith(MUSIC21_PREFIX) else str(Path(s).resolve()) for s in names]
    read = functools.partial(
        _read,
        jobs=_default_jobs() if jobs is None else jobs,
        encoding=run.config.name,
        the_filters=run.filters,
        memory_limit_mb=memory_limit_mb,
        timeout_s=timeout_s,
        worker_hook=worker_hook,
        progress=progress,
    )
    out.mkdir(parents=True, exist_ok=True)
    # one writer at a time; a training run reading the folder holds it shared (store.lock_folder)
    with (
        store.lock_folder(out, shared=False, holder="tuplet data prepare", busy=BUSY),
        _stop_when_out_of_space(out),
    ):
        _update(out, run, inputs, ignored, source_list, report, read)
    report.seconds = time.perf_counter() - t0
    return report


@dataclass(frozen=True)
class _Run:
    """One run's resolved settings."""

    config: Any
    filters: Filters | None
    split: SplitRule
    pinned: dict[str, str]
    policy: RightsPolicy
    splits_from: str | os.PathLike[str] | None


def _update(
    out: Path,
    run: _Run,
    inputs: list[InputFile],
    ignored: dict[str, int],
    source_list: list[str],
    report: PrepareReport,
    read: Callable[..., None],
) -> None:
    """Bring the (locked) folder up to date: claim it, drop what changed, read what is new."""
    from tuplet.encoding import midi_reader_for

    config = run.config
    n_fields = len(config.fields)
    rerun.claim_folder(out, config, run.filters, report)
    extra: dict[str, Any] = {}
    if run.splits_from is not None:
        extra["splits_from"] = {"dataset": str(Path(run.splits_from).resolve()),
                                "items": len(run.pinned)}  # fmt: skip
    info = functools.partial(_info, config.to_dict(), midi_reader_for(config), n_fields,
                             source_list, run.filters, run.split, run.policy, **extra)  # fmt: skip
    _write_info(out, info(complete=False))
    journal = store.recover(out, n_fields)
    todo, stats, drop = rerun.changes(inputs, journal, report)
    journal = store.drop_files(out, journal, drop)
    rerun.resplit(out, journal, run.pinned, run.split, run.policy)
    reasons_total = collections.Counter(r["reason"] for r in journal.skipped)
    with store.StoreWriter(out, n_fields, journal.codes_rows) as writer:
        commit = _Committer(todo, stats, writer, report, run.policy, run.split, run.pinned,
                            journal)  # fmt: skip
        del journal
        try:
            read(todo, commit=commit)
        finally:
            if commit.bar is not None:
                commit.bar.close()
        codes_rows = writer.codes_rows
    _finish(out, commit, report, reasons_total, ignored, codes_rows, info)


def _check_options(sources: object, timeout_s: float) -> None:
    """Refuse no sources and a timeout that is not positive."""
    if not sources:
        raise UsageError("give at least one SOURCE (a folder or music21:NAME)")
    if timeout_s <= 0:
        raise UsageError(f"timeout must be positive, got {timeout_s}")


def _finish(
    out: Path,
    commit: _Committer,
    report: PrepareReport,
    reasons_total: collections.Counter[str],
    ignored: dict[str, int],
    codes_rows: int,
    info: Callable[..., dict[str, Any]],
) -> None:
    """The run's counts into the report, and ``dataset.json`` written complete."""
    reasons_total.update(commit.run_reasons)
    report.skipped_by_reason = dict(commit.run_reasons)
    report.splits = {s: commit.split_counts.get(s, 0) for s in SPLITS}
    counts = {**report.splits, "kept": sum(commit.split_counts.values()),
              "skipped": sum(reasons_total.values()), "files": commit.n_files}  # fmt: skip
    _write_info(
        out,
        info(
            complete=True,
            counts=counts,
            skipped_by_reason=dict(sorted(reasons_total.items())),
            ignored_by_extension=dict(sorted(ignored.items())),
            dead_rows=codes_rows - commit.live_rows,
        ),
    )


class _Committer:
    """Writes each file read to the store, in input order, and counts what it wrote.

    A file's songs are kept, or skipped (duplicates too), each with its provenance record.
    """

    def __init__(
        self,
        todo: list[InputFile],
        stats: dict[str, tuple[int, int]],
        writer: Any,
        report: PrepareReport,
        policy: RightsPolicy,
        the_split: SplitRule,
        pinned: dict[str, str],
        journal: Any,
    ) -> None:
        self.todo, self.stats, self.writer, self.report = todo, stats, writer, report
        self.policy, self.the_split, self.pinned = policy, the_split, pinned
        self.kept_hashes = {e["hash"]: e["item"] for e in journal.index}
        self.split_counts = collections.Counter(e["split"] for e in journal.index)
        self.live_rows = sum(e["length"] for e in journal.index)
        self.n_files = len(journal.files)
        self.run_reasons: collections.Counter[str] = collections.Counter()
        self.bar: Any = None

    def __call__(self, i: int, result: dict[str, Any]) -> None:
        inp, report = self.todo[i], self.report
        size, mtime_ns = self.stats[inp.key]
        base = {
            "path": str(inp.path),
            "source": inp.source,
            "source_root": str(inp.source_root) if inp.source_root else None,
            "relpath": inp.relpath,
            "format": _FORMATS.get(inp.path.suffix.lower(), "musicxml"),
            "file_sha256": result["sha256"],
        }
        sequences: list[tuple[dict[str, Any], Any]] = []
        skipped: list[dict[str, Any]] = []
        records = []
        if result["error"] is None and not result["songs"]:
            result["error"] = ("unreadable", "no songs")
        if result["error"] is not None:
            reason, detail = result["error"]
            skipped.append({"item": inp.key, "reason": reason, "detail": detail})
            facts = {"item": inp.key, **base, "status": "skipped", "reason": reason}
            records.append(provenance_record(facts, self.policy))
        for song in result["songs"]:
            records.append(self._song(inp, base, song, sequences, skipped))
        file_record = {"file": inp.key, "path": str(inp.path), "source": inp.source,
                       "size": size, "mtime_ns": mtime_ns, "sha256": result["sha256"],
                       "items": len(result["songs"])}  # fmt: skip
        self.writer.add_file(file_record, sequences, skipped, records)
        self.n_files += 1
        report.processed += 1
        report.kept += len(sequences)
        report.skipped += len(skipped)
        self.run_reasons.update(r["reason"] for r in skipped)
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(kept=report.kept, skipped=report.skipped, refresh=False)

    def _song(
        self,
        inp: InputFile,
        base: dict[str, Any],
        song: dict[str, Any],
        sequences: list[tuple[dict[str, Any], Any]],
        skipped: list[dict[str, Any]],
    ) -> dict[str, Any]:
        """One song of a file, kept (into ``sequences``) or not (into ``skipped``).

        Returns its provenance record.
        """
        name = song["song"]
        item = inp.key + ("#" + name.rsplit("#", 1)[1] if "#" in name else "")
        facts = {"item": item, **base, "meta": song.get("meta", {})}
        facts.update(n_notes=song.get("n_notes"), length_beats=song.get("length_beats"))
        self.report.notes_read += int(song.get("n_notes") or 0)
        if "codes" in song and song["hash"] in self.kept_hashes:
            song = {**song, "reason": "duplicate",
                    "detail": f"duplicate of {self.kept_hashes[song['hash']]}"}  # fmt: skip
        if "reason" in song:
            skipped.append({"item": item, "reason": song["reason"], "detail": song["detail"]})
            facts.update(status="skipped", reason=song["reason"])
        else:
            the_hash = song["hash"]
            split_name = self.pinned.get(item) or self.the_split.split_of(the_hash)
            self.kept_hashes[the_hash] = item
            entry = {
                "item": item,
                "split": split_name,
                "hash": the_hash,
                "n_notes": song["n_notes"],
                "n_beats": song["length_beats"],
                "programs": song["programs"],
                "drums": song["drums"],
            }
            sequences.append((entry, song["codes"]))
            facts.update(status="kept", split=split_name, content_hash=the_hash)
            self.split_counts[split_name] += 1
            self.live_rows += len(song["codes"])
        return provenance_record(facts, self.policy)


def _read(
    todo: list[InputFile],
    jobs: int,
    encoding: str,
    the_filters: Filters | None,
    memory_limit_mb: int | None,
    timeout_s: float,
    worker_hook: Callable[[str], None] | None,
    commit: _Committer,
    progress: bool,
) -> None:
    """Read every file of ``todo``, handing each result to ``commit`` in input order.

    In worker processes, or in this one with ``jobs`` 1; with a progress bar.
    """
    if progress and todo:
        from tqdm.auto import tqdm

        commit.bar = tqdm(total=len(todo), unit="file", desc="prepare", dynamic_ncols=True)
    paths = [inp.path for inp in todo]
    if jobs == 1:
        for i, path in enumerate(paths):
            if worker_hook is not None:
                worker_hook(str(path))
            try:
                result = read_file(str(path), encoding, the_filters)
            except Exception as exc:  # jobs=1 is for debugging: still one file's fault
                problem = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
                result = {"sha256": None, "error": ("crashed", problem), "songs": []}
            commit(i, result)
        return
    from tuplet.io import SCORE_EXTENSIONS

    settings = WorkerSettings(
        encoding,
        the_filters,
        memory_limit_mb,
        preload_scores=any(p.suffix.lower() in SCORE_EXTENSIONS for p in paths),
        hook=worker_hook,
    )
    run_pool(paths, jobs, settings, timeout_s, commit)
