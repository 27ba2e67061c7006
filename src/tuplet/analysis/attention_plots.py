"""Words, tables and pictures of a musical self-attention analysis.

* :func:`strongest_gains` and :func:`summary_lines` put the strongest gains into words
  (``layer 6 head 3: +0.021 at beat -4``);
* :func:`save_attention` writes ``attention.csv`` and ``attention.json`` (every layer and head,
  the mean of heads, at each field's window of offsets), ``summary.txt`` (the strongest gains)
  and ``attention.npz`` (the full sums, every offset), which :func:`load_attention` reads back;
* :func:`draw_attention` draws one field as heatmaps in the style of the MMT paper's figure:
  one panel per layer, rows = heads (and their mean), columns = offset k, gain on a diverging
  colour map centred at zero (red: more attention than the baseline, blue: less); beat panels
  mark every 4 beats, pitch offsets are labelled with interval names.

The statistics come from :mod:`tuplet.analysis.attention`. Pictures are drawn with matplotlib's Agg
renderer (no screen, no global pyplot state), imported when a picture is drawn.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tuplet.analysis.attention import (
    CATEGORICAL_FIELDS,
    FORMAT,
    FORMAT_VERSION,
    AttentionStats,
    FieldAttention,
    describe_offset,
    interval_name,
)
from tuplet.errors import BadFileError, UsageError

_DPI = 120


# ------------------------------------------------------------------------------ summary
@dataclass(frozen=True)
class Gain:
    """One notable gain: ``layer``/``head`` 1-based, ``head`` None for the mean of heads."""

    field: str
    layer: int
    head: int | None
    offset: int
    gain: float
    gamma: float
    baseline: float

    def __str__(self) -> str:
        heads = "mean of heads" if self.head is None else f"head {self.head}"
        where = describe_offset(self.field, self.offset)
        return f"layer {self.layer} {heads}: {self.gain:+.3f} at {where}"


def strongest_gains(
    stats: AttentionStats,
    field_name: str,
    *,
    top: int = 5,
    window: tuple[int, int] | None = None,
    mean_of_heads: bool = False,
) -> list[Gain]:
    """The largest positive gains of one field inside a window of offsets, largest first.

    Args:
        stats: The statistics.
        field_name: The field.
        top: How many.
        window: Offsets ``(lo, hi)`` to look in; None: every offset.
        mean_of_heads: Rank the head-averaged gains instead of single heads.
    """
    f = stats[field_name]
    cols = f.window(*window) if window is not None else np.arange(len(f.offsets))
    gamma = f.gamma_mean[:, None, :] if mean_of_heads else f.gamma
    gain = (gamma - f.baseline)[..., cols]
    flat = np.where(np.isnan(gain), -np.inf, gain).ravel()
    found: list[Gain] = []
    for i in np.argsort(-flat, kind="stable")[:top]:
        if not np.isfinite(flat[i]) or flat[i] <= 0:
            break
        layer, head, j = np.unravel_index(i, gain.shape)
        col = cols[j]
        found.append(
            Gain(
                field=field_name,
                layer=int(layer) + 1,
                head=None if mean_of_heads else int(head) + 1,
                offset=int(f.offsets[col]),
                gain=float(flat[i]),
                gamma=float(gamma[layer, head, col]),
                baseline=float(f.baseline[col]),
            )
        )
    return found


def summary_lines(
    stats: AttentionStats,
    windows: Mapping[str, tuple[int, int]] | None = None,
    top: int = 5,
) -> list[str]:
    """A short text summary: per field, the strongest single-head and head-mean gains."""
    windows = windows or {}
    lines = [
        f"musical self-attention of {stats.n_layers} layers x {stats.n_heads} heads over "
        f"{stats.n_sequences} sequences ({stats.n_events} events); baseline {stats.baseline}"
        + ("; note rows only" if stats.notes_only else "")
    ]
    for name in stats:
        window = windows.get(name)
        heads = strongest_gains(stats, name, top=top, window=window)
        means = strongest_gains(stats, name, top=max(1, top // 2), window=window,
                                mean_of_heads=True)  # fmt: skip
        where = f" (offsets {window[0]}..{window[1]})" if window else ""
        lines.append(f"{name}{where}:")
        lines.extend(f"  {g}" for g in heads + means)
        if not heads and not means:
            lines.append("  no positive gain (no valid pairs, or attention at the baseline)")
    return lines


# ------------------------------------------------------------------------------ tables
def _json_safe(a: np.ndarray) -> Any:
    """Nested lists with NaN as None (JSON has no NaN)."""
    values = np.round(np.asarray(a, dtype=np.float64), 8).astype(object)
    values[np.isnan(np.asarray(a, dtype=np.float64))] = None
    return values.tolist()


def _write(path: Path, data: bytes) -> None:
    from tuplet.io import atomic_output

    with atomic_output(path) as tmp:
        tmp.write_bytes(data)


def save_attention(
    stats: AttentionStats,
    out_dir: str | os.PathLike[str],
    *,
    windows: Mapping[str, tuple[int, int]] | None = None,
    top: int = 5,
) -> list[Path]:
    """Write ``attention.csv``, ``attention.json``, ``attention.npz`` and ``summary.txt``.

    The CSV and JSON hold every layer, head (and the mean of heads) at the offsets of each
    field's window; the NPZ holds the full sums (every offset) for :func:`load_attention`.
    CSV columns: field, layer (1-based), head (1-based, or ``mean``), offset, gamma,
    baseline, gain, weight (summed attention), pairs (valid pairs ``t < s``).

    Args:
        stats: The statistics.
        out_dir: Folder (created if missing).
        windows: Field -> ``(lo, hi)`` offsets to tabulate; others get their full range.
        top: Gains per field in the summary.

    Returns:
        The files written.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    windows = dict(windows or {})
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["field", "layer", "head", "offset", "gamma", "baseline", "gain",
                     "weight", "pairs"])  # fmt: skip
    doc: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "baseline": stats.baseline,
        "notes_only": stats.notes_only,
        "n_layers": stats.n_layers,
        "n_heads": stats.n_heads,
        "n_sequences": stats.n_sequences,
        "n_events": stats.n_events,
        "indexing": "gamma/gain are [layer][head][offset]; *_mean are [layer][offset]",
        **stats.meta,
        "fields": {},
    }
    for name, f in stats.fields.items():
        lo, hi = windows.get(name, (int(f.offsets[0]), int(f.offsets[-1])))
        cols = f.window(lo, hi)
        _write_rows(writer, stats, name, cols)
        doc["fields"][name] = {
            "window": [lo, hi],
            **_field_doc(f, cols),
            "strongest": [str(g) for g in strongest_gains(stats, name, top=top, window=(lo, hi))],
        }
    lines = summary_lines(stats, windows, top)
    doc["summary"] = lines
    paths = [out / "attention.csv", out / "attention.json", out / "summary.txt"]
    _write(paths[0], text.getvalue().encode("utf-8"))
    _write(paths[1], (json.dumps(doc, indent=1) + "\n").encode("utf-8"))
    _write(paths[2], ("\n".join(lines) + "\n").encode("utf-8"))
    paths.append(out / "attention.npz")
    _write(paths[-1], _npz_bytes(stats, doc))
    return paths


def _write_rows(writer: Any, stats: AttentionStats, name: str, cols: np.ndarray) -> None:
    """The CSV rows of field ``name`` at offset columns ``cols``: every layer and head."""
    f = stats.fields[name]
    gamma, gain, base = f.gamma[..., cols], f.gain[..., cols], f.baseline[cols]
    gamma_mean, gain_mean = f.gamma_mean[:, cols], f.gain_mean[:, cols]
    for layer in range(stats.n_layers):
        for head in [*range(stats.n_heads), None]:
            for j, col in enumerate(cols):
                if head is None:
                    g, gn = gamma_mean[layer, j], gain_mean[layer, j]
                    w = f.weight[layer, :, col].sum()
                else:
                    g, gn, w = (
                        gamma[layer, head, j],
                        gain[layer, head, j],
                        f.weight[layer, head, col],
                    )
                writer.writerow([
                    name, layer + 1, "mean" if head is None else head + 1,
                    int(f.offsets[col]), f"{g:.8g}", f"{base[j]:.8g}", f"{gn:.8g}",
                    f"{w:.8g}", int(f.pairs[col]),
                ])  # fmt: skip


def _field_doc(f: Any, cols: np.ndarray) -> dict[str, Any]:
    """One field's entry of ``attention.json`` at offset columns ``cols``."""
    return {
        "offsets": f.offsets[cols].tolist(),
        "baseline": _json_safe(f.baseline[cols]),
        "pairs": f.pairs[cols].tolist(),
        "all_pairs": f.all_pairs[cols].tolist(),
        "total_pairs": int(f.pairs.sum()),
        "total_all_pairs": int(f.all_pairs.sum()),
        "uniform": _json_safe(f.uniform[cols]),
        "gamma": _json_safe(f.gamma[..., cols]),
        "gain": _json_safe(f.gain[..., cols]),
        "gamma_mean": _json_safe(f.gamma_mean[:, cols]),
        "gain_mean": _json_safe(f.gain_mean[:, cols]),
    }


def _npz_bytes(stats: AttentionStats, doc: dict[str, Any]) -> bytes:
    """``attention.npz``: every field's full sums, and the JSON's header as ``meta``."""
    arrays: dict[str, np.ndarray] = {}
    for name, f in stats.fields.items():
        arrays.update({f"{name}.offsets": f.offsets, f"{name}.weight": f.weight,
                       f"{name}.pairs": f.pairs, f"{name}.all_pairs": f.all_pairs,
                       f"{name}.uniform": f.uniform})  # fmt: skip
    header = {k: v for k, v in doc.items() if k != "fields"}
    header["fields"] = list(stats.fields)
    arrays["meta"] = np.array(json.dumps(header))
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)  # type: ignore[arg-type]
    return buffer.getvalue()


def load_attention(path: str | os.PathLike[str]) -> AttentionStats:
    """Read the ``attention.npz`` written by :func:`save_attention` (no pickle).

    Raises:
        BadFileError: Missing, unreadable, or not an attention file.
    """
    p = Path(path)
    try:
        with np.load(p, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
        meta = json.loads(str(arrays["meta"]))
        if meta.get("format") != FORMAT:
            raise BadFileError(p, "not a tuplet attention file")
        baseline = str(meta["baseline"])
        fields = {
            name: FieldAttention(
                field=name,
                offsets=arrays[f"{name}.offsets"],
                weight=arrays[f"{name}.weight"],
                pairs=arrays[f"{name}.pairs"],
                all_pairs=arrays[f"{name}.all_pairs"],
                uniform=arrays[f"{name}.uniform"],
                baseline_kind=baseline,
            )
            for name in meta["fields"]
        }
        known = {"baseline", "notes_only", "n_layers", "n_heads", "n_sequences", "n_events"}
        skip = known | {"format", "format_version", "indexing", "summary", "fields"}
        return AttentionStats(
            fields=fields,
            n_layers=int(meta["n_layers"]),
            n_heads=int(meta["n_heads"]),
            n_sequences=int(meta["n_sequences"]),
            n_events=int(meta["n_events"]),
            baseline=baseline,
            notes_only=bool(meta["notes_only"]),
            meta={k: v for k, v in meta.items() if k not in skip},
        )
    except FileNotFoundError:
        raise BadFileError(p, "missing") from None
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise BadFileError(p, f"not a readable attention file ({e})") from None


# ------------------------------------------------------------------------------ heatmaps
def _tick_labels(field_name: str, offsets: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Which columns get a tick, and their labels."""
    n = len(offsets)
    if field_name == "pitch" and n <= 64:
        return np.arange(n), [interval_name(int(k)) for k in offsets]
    if field_name == "beat":
        cols = np.flatnonzero(offsets % 4 == 0)
    else:
        step = max(1, math.ceil(n / 25))
        cols = np.flatnonzero(offsets % step == 0)
    labels = [
        "same" if field_name in CATEGORICAL_FIELDS and k == 0 else f"{int(k)}"
        for k in offsets[cols]
    ]
    return cols, labels


def draw_attention(
    stats: AttentionStats,
    field_name: str,
    out_path: str | os.PathLike[str],
    *,
    window: tuple[int, int] | None = None,
) -> Path:
    """Draw the gains of one field: a panel per layer, heads by offset k (key minus query).

    Args:
        stats: The statistics.
        field_name: The field.
        out_path: The PNG to write (its folder must exist).
        window: Offsets ``(lo, hi)`` to show; None: every offset.

    Returns:
        ``out_path`` as a Path.

    Raises:
        UsageError: Unknown field, an empty window, or a missing folder.
    """
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import TwoSlopeNorm
    from matplotlib.figure import Figure

    from tuplet.io import atomic_output

    out = Path(out_path)
    if not out.parent.is_dir():
        raise UsageError(f"{out}: cannot draw: its folder does not exist")
    f: FieldAttention = stats[field_name]
    cols = f.window(*window) if window is not None else np.arange(len(f.offsets))
    if len(cols) == 0:
        raise UsageError(f"{field_name}: no offsets in the window {window}")
    offsets = f.offsets[cols]
    # rows: the heads, then their mean, for every layer: (L, H + 1, K)
    gain = np.concatenate([f.gain[..., cols], f.gain_mean[:, None, cols]], axis=1)
    finite = gain[np.isfinite(gain)]
    limit = float(np.abs(finite).max()) if finite.size else 0.0
    limit = max(limit, 1e-6)
    norm = TwoSlopeNorm(vmin=-limit, vcenter=0.0, vmax=limit)
    cmap = colormaps["RdBu_r"].with_extremes(bad="#d9d9d9")

    n_layers, n_rows = gain.shape[0], gain.shape[1]
    width = float(np.clip(3.0 + 0.17 * len(cols), 6.0, 18.0))
    height = 1.2 + n_layers * (0.2 * n_rows + 0.45)
    fig = Figure(figsize=(width, height), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(n_layers, 1, sharex=True, squeeze=False)[:, 0]
    tick_cols, tick_labels = _tick_labels(field_name, offsets)
    image = None
    for layer, ax in enumerate(axes):
        image = ax.imshow(gain[layer], cmap=cmap, norm=norm, aspect="auto",
                          interpolation="nearest")  # fmt: skip
        ax.axhline(n_rows - 1.5, color="white", linewidth=2)  # heads | mean
        if field_name == "beat":
            for c in np.flatnonzero(offsets % 4 == 0):
                ax.axvline(c, color="black", linewidth=0.6, linestyle=":", alpha=0.6)
        if field_name == "pitch":
            for c in np.flatnonzero((offsets % 12 == 0) & (offsets != 0)):
                ax.axvline(c, color="black", linewidth=0.6, linestyle=":", alpha=0.6)
        ax.set_yticks(range(n_rows), [f"h{h + 1}" for h in range(n_rows - 1)] + ["mean"],
                      fontsize=6)  # fmt: skip
        ax.set_ylabel(f"layer {layer + 1}", fontsize=8)
    axes[-1].set_xticks(tick_cols, tick_labels, fontsize=7,
                        rotation=90 if field_name == "pitch" else 0)  # fmt: skip
    unit = {"beat": "beats", "position": "ticks", "pitch": "semitones"}.get(field_name, "codes")
    axes[-1].set_xlabel(f"{field_name} offset k = key - query ({unit})")
    fig.suptitle(
        f"{field_name}: attention gain (gamma - baseline), {stats.baseline} baseline, "
        f"{stats.n_sequences} sequence{'s' if stats.n_sequences != 1 else ''}",
        fontsize=10,
    )
    assert image is not None
    fig.colorbar(image, ax=list(axes), label="gain", shrink=0.5, aspect=30)
    with atomic_output(out, ".png") as tmp:
        fig.savefig(tmp, format="png", dpi=_DPI)
    return out


def draw_all(
    stats: AttentionStats,
    out_dir: str | os.PathLike[str],
    windows: Mapping[str, tuple[int, int]] | None = None,
) -> list[Path]:
    """Draw every field to ``attention_<field>.png`` in ``out_dir`` (created if missing)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    windows = windows or {}
    return [
        draw_attention(stats, name, out / f"attention_{name}.png", window=windows.get(name))
        for name in stats
    ]


__all__ = [
    "Gain",
    "draw_all",
    "draw_attention",
    "load_attention",
    "save_attention",
    "strongest_gains",
    "summary_lines",
]
