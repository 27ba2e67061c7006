"""What the learned code embeddings look like: cosine similarity between the codes of a field.

The model has one embedding table per field (``MusicTransformer.field_embeddings``, in the
order of the encoding's fields). For a field, :func:`embedding_similarity` returns the cosine
similarity of every pair of its codes (code 0, "undefined", left out); :func:`draw_embedding`
draws it (pitch with a grid line at every C, beat every 4 beats, instrument with names), and
:func:`save_embedding_views` does every field at once, with the matrices in an NPZ file.
A trained model shows structure that a random one does not: octaves and fifths in the pitch
table, the bar grid in the beat table, instrument families in the instrument table.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tuplet.errors import UsageError

if TYPE_CHECKING:
    from tuplet.encoding import EncodingConfig
    from tuplet.model.transformer import MusicTransformer

EMBEDDING_FIELDS: tuple[str, ...] = ("pitch", "beat", "position", "duration", "instrument")
"""The fields drawn by default."""

NOTE_NAMES: tuple[str, ...] = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
_DPI = 120


@dataclass(frozen=True)
class EmbeddingView:
    """Cosine similarities between the embeddings of one field's codes.

    Attributes:
        field: The field name.
        codes: (n,) int64, the codes shown (1..V-1).
        labels: A label per code (pitch name, beat number, instrument name...).
        similarity: (n, n) float64 cosine similarity, 1 on the diagonal; NaN for a zero vector.
    """

    field: str
    codes: np.ndarray
    labels: tuple[str, ...]
    similarity: np.ndarray


def pitch_name(pitch: int) -> str:
    """Scientific pitch name of a MIDI pitch: 60 -> ``C4``, 61 -> ``C#4``, 0 -> ``C-1``."""
    return f"{NOTE_NAMES[pitch % 12]}{pitch // 12 - 1}"


def code_labels(field_name: str, encoding: EncodingConfig, codes: np.ndarray) -> tuple[str, ...]:
    """Words for codes of a field.

    Pitch names, beat and tick numbers, durations in ticks, instrument names; the code itself
    for the other fields.
    """
    from tuplet.encoding import KNOWN_DURATIONS_TICKS

    values = [int(c) for c in codes]
    if field_name == "pitch":
        return tuple(pitch_name(c - 1) for c in values)
    if field_name in ("beat", "position"):
        return tuple(str(c - 1) for c in values)
    if field_name == "duration":
        return tuple(str(KNOWN_DURATIONS_TICKS[c - 1]) for c in values)
    if field_name == "instrument":
        return tuple(encoding.instrument_names[c - 1] for c in values)
    return tuple(str(c) for c in values)


def embedding_similarity(
    model: MusicTransformer, encoding: EncodingConfig, field_name: str
) -> EmbeddingView:
    """Cosine similarity between the learned embeddings of every code of a field.

    Args:
        model: The model.
        encoding: Its encoding (names the fields and codes).
        field_name: The field (e.g. ``"pitch"``).

    Returns:
        The view, codes 1..V-1.

    Raises:
        UsageError: The encoding has no such field, or does not fit the model.
    """
    import torch

    column = encoding.field_index(field_name)
    if tuple(model.config.field_names) != tuple(encoding.fields):
        raise UsageError(
            f"the model reads fields {', '.join(model.config.field_names)}, "
            f"the {encoding.name} encoding has {', '.join(encoding.fields)}"
        )
    embedding = model.field_embeddings[column]
    assert isinstance(embedding, torch.nn.Embedding)
    table = embedding.weight.detach().float().cpu().numpy()
    vectors = table[1:].astype(np.float64)  # code 0 means "undefined": not a value
    norms = np.linalg.norm(vectors, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        unit = vectors / norms[:, None]
        similarity = np.clip(unit @ unit.T, -1.0, 1.0)
    similarity[norms == 0] = np.nan
    similarity[:, norms == 0] = np.nan
    codes = np.arange(1, len(table), dtype=np.int64)
    return EmbeddingView(field_name, codes, code_labels(field_name, encoding, codes), similarity)


def _ticks(view: EmbeddingView) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Tick positions, tick labels and grid-line positions for a view."""
    n = len(view.codes)
    if view.field == "pitch":
        cs = np.flatnonzero((view.codes - 1) % 12 == 0)
        return cs, [view.labels[i] for i in cs], cs - 0.5
    if view.field == "beat":
        bars = np.flatnonzero((view.codes - 1) % 4 == 0)
        step = 4 * max(1, int(np.ceil(n / 4 / 16)))
        ticks = np.flatnonzero((view.codes - 1) % step == 0)
        lines = bars - 0.5 if len(bars) <= 64 else np.zeros(0)
        return ticks, [view.labels[i] for i in ticks], lines
    step = max(1, int(np.ceil(n / 70)))
    ticks = np.arange(0, n, step)
    return ticks, [view.labels[i] for i in ticks], np.zeros(0)


def draw_embedding(view: EmbeddingView, out_path: str | os.PathLike[str]) -> Path:
    """Draw a similarity matrix as a PNG (red: similar, blue: opposite).

    Raises:
        UsageError: The output folder does not exist.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from tuplet.io import atomic_output

    out = Path(out_path)
    if not out.parent.is_dir():
        raise UsageError(f"{out}: cannot draw: its folder does not exist")
    size = 10.0 if view.field == "instrument" else 7.0
    fig = Figure(figsize=(size + 1.2, size), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    image = ax.imshow(view.similarity, cmap="RdBu_r", vmin=-1.0, vmax=1.0,
                      interpolation="nearest")  # fmt: skip
    ticks, labels, lines = _ticks(view)
    small = 5 if len(ticks) > 40 else 7
    ax.set_xticks(ticks, labels, rotation=90, fontsize=small)
    ax.set_yticks(ticks, labels, fontsize=small)
    for pos in lines:
        ax.axhline(pos, color="black", linewidth=0.4, alpha=0.5)
        ax.axvline(pos, color="black", linewidth=0.4, alpha=0.5)
    ax.set_title(f"{view.field} embeddings: cosine similarity", fontsize=10)
    fig.colorbar(image, ax=ax, shrink=0.8, label="cosine similarity")
    with atomic_output(out, ".png") as tmp:
        fig.savefig(tmp, format="png", dpi=_DPI)
    return out


def save_embedding_views(
    model: MusicTransformer,
    encoding: EncodingConfig,
    out_dir: str | os.PathLike[str],
    fields: Sequence[str] | None = None,
) -> list[Path]:
    """Draw ``embedding_<field>.png`` for each field; save the matrices in ``embeddings.npz``.

    The NPZ holds ``<field>.codes`` and ``<field>.similarity`` for each field.

    Args:
        model: The model.
        encoding: Its encoding.
        out_dir: Folder (created if missing).
        fields: Fields to draw (default :data:`EMBEDDING_FIELDS` that the encoding has).

    Returns:
        The files written.

    Raises:
        UsageError: An unknown field, or an encoding that does not fit the model.
    """
    from tuplet.io import atomic_output

    chosen = [f for f in EMBEDDING_FIELDS if f in encoding.fields] if fields is None else fields
    if not chosen:
        raise UsageError("choose at least one field")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths, arrays = [], {}
    for name in chosen:
        view = embedding_similarity(model, encoding, name)
        paths.append(draw_embedding(view, out / f"embedding_{name}.png"))
        arrays[f"{name}.codes"] = view.codes
        arrays[f"{name}.similarity"] = view.similarity
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)  # type: ignore[arg-type]
    with atomic_output(out / "embeddings.npz") as tmp:
        tmp.write_bytes(buffer.getvalue())
    paths.append(out / "embeddings.npz")
    return paths


__all__ = [
    "EMBEDDING_FIELDS",
    "EmbeddingView",
    "code_labels",
    "draw_embedding",
    "embedding_similarity",
    "pitch_name",
    "save_embedding_views",
]
