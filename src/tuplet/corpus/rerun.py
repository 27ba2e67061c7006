"""What a re-run of :func:`tuplet.corpus.prepare.prepare` finds in its folder before it reads.

The folder is claimed (new, ours with the same settings, ours with changed settings and so
emptied, or refused), the sources are compared with the files the folder was made from (what
to read again, what to drop), and the kept items take today's split rule and rights
declarations.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tuplet.corpus import store
from tuplet.corpus.discover import InputFile
from tuplet.corpus.workers import Filters, file_sha256
from tuplet.errors import UsageError
from tuplet.responsibility.provenance import RightsPolicy, provenance_record

if TYPE_CHECKING:
    from tuplet.corpus.prepare import PrepareReport, SplitRule


def claim_folder(
    out: Path, config: Any, the_filters: Filters | None, report: PrepareReport
) -> None:
    """Take the folder as it is: new, or ours, or refuse it.

    Ours with the same settings is kept; ours with changed settings is emptied (the reason in
    ``report.reset``); a folder of other files is refused.
    """
    from tuplet.encoding import midi_reader_for

    ours = {store.CODES_FILE, store.INDEX_FILE, store.FILES_FILE, store.SKIPPED_FILE,
            store.PROVENANCE_FILE, store.INFO_FILE}  # fmt: skip
    try:
        previous = store.load_info(out) if (out / store.INFO_FILE).exists() else None
    except store.DamagedDatasetError:  # its settings are unknown: start over
        previous = None
        report.reset = "its dataset.json was damaged"
        store.reset(out)
    if previous is not None:
        if previous["encoding"].get("name") != config.name:
            raise UsageError(
                f"{out} holds a {previous['encoding'].get('name')} dataset; prepare the "
                f"{config.name} encoding into another folder"
            )
        if previous["encoding"] != config.to_dict():
            report.reset = "the encoding's settings changed"
        elif previous.get("filters") != (asdict(the_filters) if the_filters else None):
            report.reset = "the filters changed"
        elif previous.get("midi_reader", "symusic") != midi_reader_for(config):
            # datasets from before the mmt encoding read MIDI as MusPy does hold no reader
            report.reset = "MIDI files are read otherwise now"
        if report.reset:
            store.reset(out)
    elif any(not p.name.startswith(".") and p.name not in ours for p in out.iterdir()):
        raise UsageError(f"{out} is not empty and holds no dataset: choose an empty folder")


def changes(
    inputs: list[InputFile], journal: Any, report: PrepareReport
) -> tuple[list[InputFile], dict[str, tuple[int, int]], set[str]]:
    """What to read (new and changed files), each input's (size, mtime_ns), what to drop.

    Dropped: files gone from the sources, changed files (read again), and duplicates of a
    dropped item (one of them may now be the copy to keep). Counts go into ``report``.
    """
    old = journal.files_by_key()
    stats: dict[str, tuple[int, int]] = {}
    todo_keys: set[str] = set()
    drop = set(old) - {inp.key for inp in inputs}
    for inp in inputs:
        try:
            st = inp.path.stat()
            stats[inp.key] = (st.st_size, st.st_mtime_ns)
        except OSError:
            stats[inp.key] = (-1, -1)
        rec = old.get(inp.key)
        if rec is not None and (
            (rec.get("size"), rec.get("mtime_ns")) == stats[inp.key]
            or (rec.get("size") == stats[inp.key][0] and rec.get("sha256")
                and rec.get("sha256") == file_sha256(inp.path))
        ):  # fmt: skip
            continue
        todo_keys.add(inp.key)
        if rec is not None:
            drop.add(inp.key)
    gone_items = {e["item"] for e in journal.index if e["file"] in drop}
    for row in journal.skipped:  # a duplicate of a dropped item may now be the one to keep
        original = row["detail"].removeprefix("duplicate of ")
        if row["reason"] == "duplicate" and original in gone_items:
            if row["file"] in old and row["file"] in stats:
                drop.add(row["file"])
                todo_keys.add(row["file"])
    report.removed = len(drop - todo_keys)
    report.redone = len(drop & todo_keys)
    todo = [inp for inp in inputs if inp.key in todo_keys]
    report.unchanged = len(inputs) - len(todo)
    return todo, stats, drop


def resplit(
    out: Path, journal: Any, pinned: dict[str, str], the_split: SplitRule, policy: RightsPolicy
) -> None:
    """Today's split rule (or the pinned splits) and rights declarations on the kept items."""
    split_changed = False
    for e in journal.index:
        new_split = pinned.get(e["item"]) or the_split.split_of(e["hash"])
        split_changed |= new_split != e["split"]
        e["split"] = new_split
    if split_changed:
        store.write_atomic(out / store.INDEX_FILE, store.jsonl_bytes(journal.index))
    split_of_item = {e["item"]: e["split"] for e in journal.index}
    refreshed = []
    for rec in journal.provenance:
        if rec.get("status") == "kept":
            rec = {**rec, "split": split_of_item.get(rec["item"], rec.get("split"))}
        refreshed.append(provenance_record(rec, policy))
    if refreshed != journal.provenance:
        store.write_atomic(out / store.PROVENANCE_FILE, store.jsonl_bytes(refreshed))
