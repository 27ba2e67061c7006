"""The training gate on rights: may this dataset train a model for the declared use?

Before a model is built, :func:`tuplet.training.train.train` checks every item of the train and
valid
splits against its provenance record (:mod:`tuplet.responsibility.provenance`) and against its
source file:

=========================================  ==========  ==========  ==========
on the record                              personal    research    commercial
=========================================  ==========  ==========  ==========
basis ``owned``, ``contract``,             yes         yes         yes
``public_domain``, ``open_license``
basis ``unknown`` (in either layer), or    no          no          no
no provenance record
``non_commercial`` (or an ``-NC-`` SPDX    yes         yes         no
id), ``commercial_use_may_be_restricted``,
``legal_status_unclear``
``no_derivatives`` (or an ``-ND-`` id)     yes         no          no
``rights_reserved``                        no          no          no
``share_alike``, ``attribution``           yes         yes         yes
source file changed since prepare, or      no          no          no
missing (cannot be verified)
=========================================  ==========  ==========  ==========

The uses: ``personal``, the model and what it makes stay with you; ``research``,
non-commercial research or teaching, whose models and results may be published;
``commercial``, selling or licensing the model or what it makes, or using either in a product
or service. Each use allows no more than the one before it, so a dataset that passes for
``commercial`` passes for all three.

``rights_reserved`` is excepted for items whose basis is ``owned`` or ``contract`` when the
notice that set the flag names the declared holder (``(c) 2024 Jane Roe. All rights
reserved.`` on Jane Roe's own files): that reservation is the holder's own. A notice naming
someone else (``Copyright 1994, CCARH ... reserved`` on a file declared ``owned``) stays a
refusal: the file says one thing and the declaration another, and a person should look.

A dataset that fails raises :class:`tuplet.errors.RightsGateError`; ``--allow-unverified
--reason TEXT`` goes on, and the reason, the counts and the failing items are recorded in the
checkpoint (``extra["rights_gate"]``, see :meth:`RightsCheck.record`), whose model card then
makes no licensed-data claim. The records hold declarations made by whoever prepared the data:
the gate checks them against each other and against the files, not against the world.
"""

from __future__ import annotations

import collections
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tuplet.corpus import store
from tuplet.errors import RightsGateError, UsageError
from tuplet.responsibility.provenance import BASES, notice_flags

USES: tuple[str, ...] = ("personal", "research", "commercial")
"""Declared uses, from the least to the most demanding."""
DEFAULT_USE = "research"
SPLITS: tuple[str, ...] = ("train", "valid")
"""The splits a model learns from (``valid`` chooses ``best/``)."""

BLOCKED_BY_FLAG: dict[str, frozenset[str]] = {
    "non_commercial": frozenset({"commercial"}),
    "commercial_use_may_be_restricted": frozenset({"commercial"}),
    "legal_status_unclear": frozenset({"commercial"}),
    "no_derivatives": frozenset({"research", "commercial"}),
    "rights_reserved": frozenset(USES),
}
"""The uses each flag rules out; flags not listed (share_alike, attribution...) rule out none."""
HOLDER_BASES = frozenset({"owned", "contract"})
"""Bases under which a rights reservation naming the declared holder is the holder's own."""

REASONS: dict[str, str] = {
    "unknown_basis": "unknown rights basis",
    "no_record": "no provenance record",
    "rights_reserved": "rights reserved",
    "no_derivatives": "no-derivatives terms",
    "non_commercial": "non-commercial terms",
    "commercial_use_may_be_restricted": "commercial use may be restricted",
    "legal_status_unclear": "legal status unclear",
    "file_changed": "source file changed since prepare",
    "file_unverifiable": "source file missing (its hash cannot be verified)",
}
"""Why an item fails, by the key recorded in checkpoints, with the words people read."""
SHOWN_ITEMS = 3
"""Item names an error message lists."""


def check_use(use: str) -> str:
    """``use`` if it is one of :data:`USES`; else a :class:`UsageError` naming them."""
    if use not in USES:
        raise UsageError(f"use {use!r} is not one of {', '.join(USES)}")
    return use


@dataclass(frozen=True)
class RightsCheck:
    """What the gate found in one dataset for one use.

    Attributes:
        dataset: The dataset folder.
        use: The declared use.
        checked: Items of the train and valid splits checked.
        items: Each failing item (``item`` of its record) with the keys of :data:`REASONS`
            it fails for, in dataset order.
    """

    dataset: str
    use: str
    checked: int
    items: dict[str, tuple[str, ...]]

    @property
    def passed(self) -> bool:
        """Whether every item passed."""
        return not self.items

    def counts(self) -> dict[str, int]:
        """Failing items per reason (an item may fail for several), in :data:`REASONS` order."""
        found = collections.Counter(r for reasons in self.items.values() for r in reasons)
        return {key: found[key] for key in REASONS if found[key]}

    def table(self) -> list[str]:
        """A short count table: one line per reason, then the failing items in all."""
        rows = [(REASONS[k], n) for k, n in self.counts().items()]
        rows.append((f"items failing (of {self.checked} checked)", len(self.items)))
        width = max(len(label) for label, _ in rows)
        return [f"{label:<{width}}  {n:>6}" for label, n in rows]

    def error(self) -> RightsGateError:
        """The refusal: one line (how many, why, the first names, what to do) and the table."""
        counts = self.counts()
        why = ", ".join(f"{n} {REASONS[k]}" for k, n in counts.items())
        names = list(self.items)[:SHOWN_ITEMS]
        more = ", ..." if len(self.items) > len(names) else ""
        todo = []
        if set(counts) - {"file_changed", "file_unverifiable"}:
            todo.append(
                "fix their rights records (a rights manifest, docs/data.md) and prepare again"
            )
        if any(k in BLOCKED_BY_FLAG and BLOCKED_BY_FLAG[k] != set(USES) for k in counts):
            todo.append("declare a use their terms allow (--use)")
        if {"file_changed", "file_unverifiable"} & set(counts):
            todo.append("prepare again to read the changed or missing files")
        todo.append(
            "go on with --allow-unverified --reason TEXT (the reason and these items are "
            "recorded in the checkpoint, and its model card makes no licensed-data claim)"
        )
        message = (
            f"{self.dataset}: {len(self.items)} of {self.checked} items of the train and valid "
            f"splits may not train a model for {self.use} use ({why}; first: "
            f"{', '.join(names)}{more}): {', '.join(todo[:-1])}{', or ' if todo[1:] else ''}"
            f"{todo[-1]}"
        )
        return RightsGateError(message, details=tuple(self.table()))

    def record(self, reason: str | None = None) -> dict[str, Any]:
        """The checkpoint's ``extra["rights_gate"]``: the outcome and, if unverified, why.

        Args:
            reason: Why the run went on although items failed (required then).
        """
        if self.passed:
            return {"outcome": "passed", "use": self.use, "dataset": self.dataset,
                    "checked": self.checked}  # fmt: skip
        return {
            "outcome": "unverified",
            "use": self.use,
            "reason": reason,
            "dataset": self.dataset,
            "checked": self.checked,
            "failing": len(self.items),
            "counts": self.counts(),
            "items": {name: list(reasons) for name, reasons in self.items.items()},
        }


def check_rights(dataset_dir: str | os.PathLike[str], use: str = DEFAULT_USE) -> RightsCheck:
    """Check the train and valid items of a dataset for ``use`` (see the module docstring).

    Every source file is read once to compare its SHA-256 with the one recorded at prepare.

    Args:
        dataset_dir: A folder made by ``tuplet data prepare``.
        use: One of :data:`USES`.

    Returns:
        What was found (nothing is raised for failing items: see :func:`gate`).

    Raises:
        UsageError: An unknown use, or a folder that is not a prepared dataset.
    """
    check_use(use)
    folder = Path(dataset_dir)
    store.load_info(folder)
    entries = [e for e in store.read_jsonl(folder / store.INDEX_FILE) if e.get("split") in SPLITS]
    records = {r.get("item"): r for r in store.read_jsonl(folder / store.PROVENANCE_FILE)}
    hashes: dict[str, str | None] = {}
    failing: dict[str, tuple[str, ...]] = {}
    for entry in entries:
        name = str(entry.get("item"))
        record = records.get(name)
        reasons = ["no_record"] if record is None else _reasons(record, use, hashes)
        if reasons:
            failing[name] = tuple(reasons)
    return RightsCheck(str(dataset_dir), use, len(entries), failing)


def _reasons(record: dict[str, Any], use: str, hashes: dict[str, str | None]) -> list[str]:
    """Why one item fails for ``use`` (keys of :data:`REASONS`, in that order); [] if it passes."""
    found: set[str] = set()
    layers = [record.get("composition") or {}, record.get("encoding") or {}]
    bases = [record.get("basis"), *(layer.get("basis") for layer in layers)]
    if any(b not in BASES or b == "unknown" for b in bases):
        found.add("unknown_basis")
    flags = set(record.get("flags") or [])
    for spdx in str(record.get("spdx") or "").split(" AND "):
        flags.update(notice_flags(spdx) if spdx else [])
    if "rights_reserved" in flags and _own_reservation(record, layers):
        flags.discard("rights_reserved")
    found.update(f for f in flags if use in BLOCKED_BY_FLAG.get(f, ()))
    path, recorded = record.get("path"), record.get("file_sha256")
    actual = _sha256(str(path), hashes) if path else None
    if actual is None or not recorded:
        found.add("file_unverifiable")
    elif actual != recorded:
        found.add("file_changed")
    return [key for key in REASONS if key in found]


def _own_reservation(record: dict[str, Any], layers: list[dict[str, Any]]) -> bool:
    """Whether a rights reservation in the file names the holder of an owned or contracted item."""
    notice = str((record.get("meta") or {}).get("notice") or "").casefold()
    if not notice or record.get("basis") not in HOLDER_BASES:
        return False
    holders = [str(layer.get("holder") or "").strip().casefold() for layer in layers]
    return any(h and h in notice for h in holders)


def _sha256(path: str, cache: dict[str, str | None]) -> str | None:
    """The SHA-256 of a file (hex), None if it cannot be read; each path read once."""
    if path not in cache:
        digest = hashlib.sha256()
        try:
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    digest.update(block)
            cache[path] = digest.hexdigest()
        except OSError:
            cache[path] = None
    return cache[path]


def gate(
    dataset_dir: str | os.PathLike[str],
    use: str | None = None,
    *,
    allow_unverified: bool = False,
    reason: str | None = None,
    recorded: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Check a dataset for a run and return its ``extra["rights_gate"]``, or refuse.

    Args:
        dataset_dir: The dataset.
        use: The declared use (default :data:`DEFAULT_USE`, or the recorded one).
        allow_unverified: Go on although items fail (needs ``reason``).
        reason: Why; recorded in the checkpoint and its model card.
        recorded: The gate record of the run being resumed, if any: the run keeps its use,
            and a run that went on unverified stays unverified with its reason (its weights
            learned from those items), the items found now added to those recorded.

    Returns:
        The record to save with every checkpoint of the run.

    Raises:
        RightsGateError: Items fail and no override was given.
        UsageError: An unknown use, an override without a reason (or a reason without
            ``allow_unverified``), or a resumed run asked for another use or reason.
    """
    reason = " ".join((reason or "").split()) or None
    if allow_unverified and reason is None:
        raise UsageError("--allow-unverified needs --reason TEXT: why the run may go on")
    if reason is not None and not allow_unverified:
        raise UsageError("--reason goes with --allow-unverified")
    if recorded is not None:
        if use is not None and use != recorded.get("use"):
            raise UsageError(
                f"the run was declared for {recorded.get('use')} use, and a resumed run keeps "
                f"its use: drop --use {use}, or start a new run"
            )
        use = str(recorded.get("use"))
        if recorded.get("outcome") == "unverified":
            if reason is not None and reason != recorded.get("reason"):
                raise UsageError(
                    f"the run went on unverified for the reason {recorded.get('reason')!r}, "
                    "and a resumed run keeps its reason: drop --reason or give that one"
                )
            allow_unverified, reason = True, recorded.get("reason")
    found = check_rights(dataset_dir, check_use(use or DEFAULT_USE))
    if recorded is not None and recorded.get("outcome") == "unverified":
        before = {k: tuple(v) for k, v in (recorded.get("items") or {}).items()}
        merged = {k: tuple(r for r in REASONS if r in {*before.get(k, ()), *found.items.get(k, ())})
                  for k in {**before, **found.items}}  # fmt: skip
        found = RightsCheck(found.dataset, found.use, found.checked, merged)
    if found.passed:
        return found.record()
    if not allow_unverified:
        raise found.error()
    return found.record(reason)
