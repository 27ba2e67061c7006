"""What a prepared dataset holds: counts by split, rights, style, instrument, length; skips."""

from __future__ import annotations

import collections
import os
from pathlib import Path
from typing import Any

from tuplet.corpus import store

LENGTH_EDGES_BEATS: tuple[int, ...] = (16, 32, 64, 128, 256, 512, 1024, 2048, 4096)
"""Upper edges of the length buckets (in beats); a last bucket holds everything longer."""


def _length_bucket(beats: float) -> str:
    low = 0
    for edge in LENGTH_EDGES_BEATS:
        if beats < edge:
            return f"{low}-{edge}"
        low = edge
    return f"{low}+"


def _counts(values: Any) -> dict[str, int]:
    return dict(collections.Counter(values).most_common())


def inspect(out_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Summarise a dataset folder made by :func:`tuplet.corpus.prepare`.

    Counts are of kept sequences unless stated: ``splits``; ``rights`` (top-level basis),
    ``composition_rights``, ``encoding_rights``, ``flags`` and ``holders``; ``sources``; ``genres``,
    ``regions`` (the first part of a region, e.g. the country) and ``periods``;
    ``instruments`` (General MIDI names, sequences using each; ``Drums`` for percussion);
    ``length_beats`` (buckets of :data:`LENGTH_EDGES_BEATS`); and ``skipped`` (files or songs
    not used, by reason).

    Args:
        out_dir: The dataset folder.

    Returns:
        A JSON-safe dict.

    Raises:
        UsageError: The folder is not a prepared dataset.
    """
    from tuplet.gm import program_name

    out = Path(out_dir)
    info = store.load_info(out)
    index = store.read_jsonl(out / store.INDEX_FILE)
    kept = [p for p in store.read_jsonl(out / store.PROVENANCE_FILE) if p.get("status") == "kept"]
    skipped = store.read_skipped(out / store.SKIPPED_FILE)
    style = [p.get("style") or {} for p in kept]
    instruments: collections.Counter[str] = collections.Counter()
    for e in index:
        instruments.update(program_name(p) for p in set(e.get("programs", [])))
        if e.get("drums"):
            instruments["Drums"] += 1
    return {
        "dir": str(out),
        "encoding": info["encoding"].get("name"),
        "complete": bool(info.get("complete")),
        "updated": info.get("updated"),
        "sequences": len(index),
        "events": sum(int(e["length"]) for e in index),
        "notes": sum(int(e.get("n_notes") or 0) for e in index),
        "beats": round(sum(float(e.get("n_beats") or 0) for e in index), 1),
        "splits": {s: sum(e.get("split") == s for e in index) for s in ("train", "valid", "test")},
        "rights": _counts(p.get("basis", "unknown") for p in kept),
        "composition_rights": _counts((p.get("composition") or {}).get("basis") for p in kept),
        "encoding_rights": _counts((p.get("encoding") or {}).get("basis") for p in kept),
        "flags": _counts(f for p in kept for f in p.get("flags") or []),
        "holders": _counts(p.get("holder") or "unknown" for p in kept),
        "sources": _counts(p.get("source") for p in kept),
        "genres": _counts(s.get("genre") or "unknown" for s in style),
        "regions": _counts((s.get("region") or "unknown").split(",")[0].strip() for s in style),
        "periods": _counts(s.get("period") or "unknown" for s in style),
        "instruments": dict(instruments.most_common()),
        "length_beats": {
            bucket: n
            for bucket, n in sorted(
                collections.Counter(
                    _length_bucket(float(e.get("n_beats") or 0)) for e in index
                ).items(),
                key=lambda kv: int(kv[0].split("-")[0].rstrip("+")),
            )
        },
        "skipped": _counts(r["reason"] for r in skipped),
        "skipped_total": len(skipped),
        "ignored_by_extension": info.get("ignored_by_extension", {}),
        "dead_rows": info.get("dead_rows", 0),
    }


def format_inspect(summary: dict[str, Any], top: int = 12) -> str:
    """The summary made by :func:`inspect` as text for a terminal.

    Args:
        summary: What :func:`inspect` returned.
        top: Rows shown per table (the rest are added up as "other").

    Returns:
        Several lines, no trailing newline.
    """
    lines = [
        f"{summary['dir']}: {summary['encoding']} encoding, {summary['sequences']} sequences, "
        f"{summary['notes']} notes, {summary['events']} events, {summary['beats']:g} beats"
        + ("" if summary["complete"] else "  (preparation not finished: run it again)"),
    ]

    def table(title: str, counts: dict[str, int], total: int | None = None) -> None:
        if not counts:
            return
        total = total or sum(counts.values()) or 1
        lines.append("")
        lines.append(title)
        items = list(counts.items())
        shown, rest = items[:top], items[top:]
        if rest:
            shown.append((f"({len(rest)} other)", sum(n for _, n in rest)))
        width = max(len(str(k)) for k, _ in shown)
        for key, n in shown:
            lines.append(f"  {key!s:<{width}}  {n:>7}  {100 * n / total:5.1f}%")

    table("split", summary["splits"])
    table("rights basis (the weaker of composition and encoding)", summary["rights"])
    table("rights of the composition", summary["composition_rights"])
    table("rights of the encoding (the file)", summary["encoding_rights"])
    table("flags", summary["flags"], summary["sequences"])
    table("source", summary["sources"])
    table("genre", summary["genres"])
    table("region", summary["regions"])
    table("period", summary["periods"])
    table("instrument (sequences using it)", summary["instruments"], summary["sequences"])
    table("length (beats)", summary["length_beats"])
    table(f"skipped ({summary['skipped_total']} files or songs)", summary["skipped"])
    if summary.get("ignored_by_extension"):
        ignored = ", ".join(f"{k} {v}" for k, v in summary["ignored_by_extension"].items())
        lines += ["", f"other files in the folders (not music tuplet reads): {ignored}"]
    if summary.get("dead_rows"):
        lines += ["", f"{summary['dead_rows']} rows of codes.bin belong to removed files"]
    return "\n".join(lines)
