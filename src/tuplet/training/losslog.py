"""A training run's loss log and its picture.

``losses.csv`` holds one row per logged step and split; ``loss_curve.png`` is drawn from it.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Any


def append_row(path: Path, row: dict[str, Any]) -> None:
    """Append one row to a CSV file (its header first if the file is new), flushed."""
    new = not path.exists()
    with path.open("a", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(row))
        if new:
            writer.writeheader()
        writer.writerow(row)
        f.flush()


def truncate_losses(path: Path, step: int) -> None:
    """Drop rows logged after ``step`` (a killed run may have logged past its last checkpoint).

    Rows a kill or a full disk left torn (no newline at the end, a wrong number of fields, a
    step that is not a number) are dropped too. With no row left the file is removed, so the
    next :func:`append_row` writes the header again. Written through a temporary file.
    """
    if not path.exists():
        return
    data = path.read_bytes()
    complete = data[: data.rfind(b"\n") + 1].decode("utf-8", errors="replace")
    rows = list(csv.reader(io.StringIO(complete, newline="")))
    header, kept = (rows[0], []) if rows else ([], [])
    for row in rows[1:]:
        if len(row) != len(header) or not row[0].isdigit():
            continue
        if int(row[0]) <= step:
            kept.append(row)
    if not kept:
        path.unlink()
        return
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(kept)
    os.replace(tmp, path)


def plot_losses(csv_path: Path, png_path: Path) -> None:
    """Draw the training and validation loss curves of a run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with csv_path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    for split, style in (("train", "-"), ("valid", "o-")):
        pts = [(int(r["step"]), float(r["nll_per_note"])) for r in rows if r["split"] == split]
        if pts:
            xs, ys = zip(*pts, strict=True)
            ax.plot(xs, ys, style, label=split, markersize=3)
    ax.set_xlabel("step")
    ax.set_ylabel("NLL per note (nats)")
    ax.set_title(csv_path.parent.name)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    tmp = png_path.with_name(png_path.stem + ".tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    os.replace(tmp, png_path)


def load_losses(run_dir: str | os.PathLike[str]) -> list[dict[str, str]]:
    """The rows of a run's ``losses.csv``."""
    path = Path(run_dir) / "losses.csv"
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


__all__ = ["append_row", "load_losses", "plot_losses", "truncate_losses"]
