"""What a fine-tuned model records of the models it came from.

A model trained ``--from`` another keeps, in its ``config.json``, a record of that base (its
identity, dataset, energy, rights-gate record) and of the base's own base in turn: a model card
lists them all, since a base model's training data is part of what the fine-tuned model
learned from.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def base_record(path: str | os.PathLike[str], ck: dict[str, Any]) -> dict[str, Any]:
    """What a fine-tuned model must say about the checkpoint it started from.

    Its identity (id, weights hash, where it was read), the dataset it was trained on, the
    energy its own training took (from its ``energy.json``, beside it or, for a run's ``best``
    or ``last``, in the run folder; totals over resumed segments), its
    rights-gate record, and its own base in turn: a model card lists them all, since a base
    model's training data is part of what the fine-tuned model learned from.
    """
    folder = Path(path)
    record: dict[str, Any] = {
        "path": str(folder),
        "checkpoint_id": ck.get("checkpoint_id"),
        "weights_sha256": ck.get("weights_sha256"),
        "dataset": ck.get("extra", {}).get("trainer", {}).get("dataset"),
    }
    # a shipped model keeps its energy.json beside its weights; a run keeps it in the run
    # folder, above its best/ and last/ checkpoints
    homes = [folder, folder.parent] if folder.name in ("best", "last") else [folder]
    energy = next((f / "energy.json" for f in homes if (f / "energy.json").is_file()), None)
    if energy is not None:
        try:
            e = json.loads(energy.read_text())
            record["energy_kwh"] = e.get("total_kwh", e.get("kwh"))
            record["energy_kg_co2eq"] = e.get("total_kg_co2eq", e.get("kg_co2eq"))
            record["energy_hours"] = e.get("total_hours", e.get("hours"))
        except (OSError, ValueError):
            pass  # an unreadable energy record is no reason not to fine-tune
    if ck.get("extra", {}).get("rights_gate") is not None:
        record["rights_gate"] = ck["extra"]["rights_gate"]
    if ck.get("extra", {}).get("base") is not None:
        record["base"] = ck["extra"]["base"]
    return record


SAME_ITEMS = "the same as the items of the model fine-tuned from this one"
"""What a base model's rights-gate ``items`` say when they repeat those of the model above."""


def shared_items(base: dict[str, Any], items: Any) -> dict[str, Any]:
    """A base record whose rights-gate item lists are not copies of the one above them.

    A fine-tune on the base's own dataset fails the gate on the same items; each fine-tune
    used to copy the whole list again into every base of the chain (some 30 KB of
    ``config.json`` each). Where a base's ``items`` equal those of the model fine-tuned from
    it (``items``, the next level up), they become :data:`SAME_ITEMS`; the outcome, counts
    and reason stay. Applied again, it changes nothing.
    """
    record = dict(base)
    gate = record.get("rights_gate")
    if isinstance(gate, dict) and "items" in gate:
        if gate["items"] == items:
            record["rights_gate"] = {**gate, "items": SAME_ITEMS}
        elif gate["items"] != SAME_ITEMS:
            items = gate["items"]
    if isinstance(record.get("base"), dict):
        record["base"] = shared_items(record["base"], items)
    return record


__all__ = ["SAME_ITEMS", "base_record", "shared_items"]
