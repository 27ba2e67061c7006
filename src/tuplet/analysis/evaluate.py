"""Evaluation: metrics over sets of pieces, set-level comparison, and a model's NLL on a split.

* :func:`read_sample_folder` / :func:`read_dataset_pieces` / :func:`load_pieces`: the pieces
  to measure, from a folder of MIDI files (e.g. ``tuplet generate`` output) or from a dataset
  made by ``tuplet data prepare`` (its codes decoded with its own encoding);
* :func:`metric_values`: every metric of :mod:`tuplet.analysis.metrics` over a set of pieces,
  optionally trimmed to the first 64 beats as the MMT paper does;
* :func:`evaluate_sets`: per metric, the mean and standard deviation of each set, the
  absolute difference of the means (the MMT paper's table), and Yang & Lerch's overlapped
  area and KL divergence of distance distributions
  (:func:`tuplet.analysis.compare.compare_feature`);
* :func:`format_comparison`, :func:`save_json`, :func:`plot_evaluation`: the report as a
  text table, a JSON file and PNG plots;
* :func:`evaluate_nll`: a checkpoint's negative log-likelihood on a dataset split.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tuplet.analysis.compare import (
    FeatureComparison,
    compare_feature,
    inter_distances,
    intra_distances,
    kde_pair,
)
from tuplet.analysis.metrics import METRICS, TRIM_BEATS, compute_metrics, trim
from tuplet.errors import BadFileError, UsageError
from tuplet.notes import Notes


# --------------------------------------------------------------------------- pieces
@dataclass(frozen=True)
class PieceSet:
    """Pieces to measure and where they came from.

    Attributes:
        source: The folder or dataset, as given.
        kind: ``"folder"`` (MIDI files) or ``"dataset"`` (a prepared dataset).
        split: The dataset split read (None: every split, or a folder).
        names: One name per piece (file path, or dataset item).
        pieces: The note tables.
        skipped: ``(name, reason)`` of every file or sequence that could not be used.
    """

    source: str
    kind: str
    split: str | None
    names: list[str]
    pieces: list[Notes]
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def describe(self) -> dict[str, Any]:
        """Where the set came from and how many pieces it holds (JSON-safe)."""
        return {
            "source": self.source,
            "kind": self.kind,
            "split": self.split,
            "n_pieces": len(self.pieces),
            "skipped": [{"name": n, "reason": r} for n, r in self.skipped],
        }


def is_dataset(folder: str | os.PathLike[str]) -> bool:
    """Whether ``folder`` holds a prepared dataset (a ``dataset.json``)."""
    from tuplet.corpus.store import INFO_FILE

    return (Path(folder) / INFO_FILE).is_file()


def read_sample_folder(folder: str | os.PathLike[str]) -> PieceSet:
    """Every MIDI file under ``folder`` (recursively, hidden entries skipped, sorted by path).

    Only MIDI files are read, so a sample written in several formats counts once. A file that
    cannot be read is recorded in ``skipped`` with its reason.

    Raises:
        UsageError: ``folder`` is not a folder, or holds no MIDI file.
    """
    from tuplet.io import MIDI_EXTENSIONS
    from tuplet.io.midi import read_midi

    root = Path(folder)
    if not root.is_dir():
        raise UsageError(f"{folder}: no such folder")
    paths = sorted(
        p
        for p in root.rglob("*")
        if p.suffix.lower() in MIDI_EXTENSIONS
        and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )
    if not paths:
        raise UsageError(f"{folder}: holds no MIDI files (.mid, .midi)")
    names, pieces, skipped = [], [], []
    for path in paths:
        try:
            pieces.append(read_midi(path))
            names.append(str(path))
        except BadFileError as exc:
            skipped.append((str(path), exc.problem))
    return PieceSet(str(folder), "folder", None, names, pieces, skipped)


def read_dataset_pieces(out_dir: str | os.PathLike[str], split: str | None = None) -> PieceSet:
    """The songs of a prepared dataset (one split, or all), decoded with its encoding.

    Raises:
        UsageError: Not a dataset, an unknown split, or no song in that split.
    """
    from tuplet.corpus.store import iter_sequences, load_info
    from tuplet.encoding import EncodingConfig, decode

    if split is not None and split not in ("train", "valid", "test"):
        raise UsageError(f"split must be train, valid or test, not {split!r}")
    config = EncodingConfig.from_dict(load_info(out_dir)["encoding"])
    names: list[str] = []
    pieces: list[Notes] = []
    for entry, codes in iter_sequences(out_dir, split):
        names.append(str(entry.get("item", entry.get("file", len(names)))))
        pieces.append(decode(codes, config))
    if not pieces:
        raise UsageError(f"{out_dir}: no songs in the {split or 'whole'} dataset")
    return PieceSet(str(out_dir), "dataset", split, names, pieces)


def load_pieces(source: str | os.PathLike[str], split: str | None = None) -> PieceSet:
    """A dataset's songs (of ``split``) if ``source`` is a dataset, else its MIDI files."""
    if is_dataset(source):
        return read_dataset_pieces(source, split)
    return read_sample_folder(source)


def metric_values(
    pieces: Iterable[Notes],
    names: Sequence[str] | None = None,
    trim_beats: float | None = TRIM_BEATS,
) -> dict[str, np.ndarray]:
    """Metrics of every piece: metric name -> float64 array (one value per piece, NaN allowed).

    Args:
        pieces: The pieces.
        names: Metric names (default: every metric of :data:`tuplet.analysis.metrics.METRICS`).
        trim_beats: Measure only the first this many beats (:func:`tuplet.analysis.metrics.trim`);
            None or 0 measures whole pieces.
    """
    names = tuple(METRICS) if names is None else tuple(names)
    rows = [compute_metrics(trim(p, trim_beats) if trim_beats else p, names) for p in pieces]
    return {n: np.array([r[n] for r in rows], dtype=np.float64) for n in names}


# --------------------------------------------------------------------- comparison
@dataclass(frozen=True)
class SetEvaluation:
    """The comparison of a sample set with a reference set (what ``tuplet evaluate`` reports).

    Attributes:
        samples: The sample set's description (:meth:`PieceSet.describe`).
        reference: The reference set's description.
        trim_beats: Beats measured per piece (None: whole pieces).
        features: One comparison per metric.
        sample_values: Metric -> value per sample (in ``samples_names`` order).
        reference_values: Metric -> value per reference piece.
        samples_names: Names of the samples.
        reference_names: Names of the reference pieces.
    """

    samples: dict[str, Any]
    reference: dict[str, Any]
    trim_beats: float | None
    features: list[FeatureComparison]
    sample_values: dict[str, np.ndarray]
    reference_values: dict[str, np.ndarray]
    samples_names: list[str]
    reference_names: list[str]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (NaN written as None)."""
        return _json_safe(
            {
                "samples": self.samples,
                "reference": self.reference,
                "trim_beats": self.trim_beats,
                "metrics": {f.name: asdict(f) for f in self.features},
                "values": {
                    "samples": {
                        "names": self.samples_names,
                        **{k: v.tolist() for k, v in self.sample_values.items()},
                    },
                    "reference": {
                        "names": self.reference_names,
                        **{k: v.tolist() for k, v in self.reference_values.items()},
                    },
                },
            }
        )


def evaluate_sets(
    samples: PieceSet,
    reference: PieceSet,
    trim_beats: float | None = TRIM_BEATS,
    names: Sequence[str] | None = None,
) -> SetEvaluation:
    """Measure both sets and compare them metric by metric (see :func:`compare_feature`)."""
    names = tuple(METRICS) if names is None else tuple(names)
    s_values = metric_values(samples.pieces, names, trim_beats)
    r_values = metric_values(reference.pieces, names, trim_beats)
    features = [compare_feature(n, s_values[n], r_values[n]) for n in names]
    return SetEvaluation(
        samples.describe(),
        reference.describe(),
        trim_beats or None,
        features,
        s_values,
        r_values,
        list(samples.names),
        list(reference.names),
    )


def _fmt(x: float, digits: int = 3) -> str:
    return "-" if not math.isfinite(x) else f"{x:.{digits}f}"


def format_comparison(evaluation: SetEvaluation) -> str:
    """The comparison as a text table: metric, each set's mean±std, |diff|, OA, KL."""
    header = ("metric", "samples mean±std", "reference mean±std", "|diff|", "OA", "KL")
    rows = [
        (
            f.name,
            f"{_fmt(f.samples_mean)}±{_fmt(f.samples_std)}",
            f"{_fmt(f.reference_mean)}±{_fmt(f.reference_std)}",
            _fmt(f.abs_mean_diff),
            _fmt(f.overlap_area),
            _fmt(f.kl_divergence),
        )
        for f in evaluation.features
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = []
    for row in [header, *rows]:
        cells = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        lines.append("  ".join(cells))
    lines.insert(1, "  ".join("-" * w for w in widths))
    s, r = evaluation.samples, evaluation.reference
    trimmed = f"first {evaluation.trim_beats:g} beats" if evaluation.trim_beats else "whole pieces"
    lines.append(
        f"{s['n_pieces']} samples ({len(s['skipped'])} skipped), {r['n_pieces']} reference "
        f"pieces ({r['split'] or 'all splits'}); {trimmed}. OA: 1 = samples differ from the "
        "reference as its pieces differ from each other; KL: 0 is best."
    )
    return "\n".join(lines)


# ------------------------------------------------------------------------ files
def _json_safe(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    return obj


def save_json(data: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write ``data`` (NaN and infinities as null) as indented JSON, atomically."""
    from tuplet.io import atomic_output

    out = Path(path)
    with atomic_output(out) as tmp:
        tmp.write_text(json.dumps(_json_safe(data), indent=2) + "\n", encoding="utf-8")
    return out


PLOT_KINDS = ("metrics", "distances")
"""The pictures :func:`plot_evaluation` draws, ``<kind>.png`` each."""


def plot_evaluation(evaluation: SetEvaluation, out_dir: str | os.PathLike[str]) -> list[Path]:
    """Draw the comparison plots into ``out_dir`` (which must exist).

    ``metrics.png`` holds each metric's histograms, samples against reference;
    ``distances.png`` the densities of the intra-reference and sample-to-reference distances.

    Returns:
        The files written (atomically).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from tuplet.io import atomic_output

    out = Path(out_dir)
    names = [f.name for f in evaluation.features]
    cols = min(4, max(1, len(names)))
    rows = -(-len(names) // cols)
    written = []
    for kind in PLOT_KINDS:
        fig = Figure(figsize=(4.0 * cols, 3.0 * rows), dpi=100)
        FigureCanvasAgg(fig)
        for k, name in enumerate(names):
            ax = fig.add_subplot(rows, cols, k + 1)
            s, r = evaluation.sample_values[name], evaluation.reference_values[name]
            s, r = s[np.isfinite(s)], r[np.isfinite(r)]
            if kind == "metrics":
                _draw_histograms(ax, s, r)
            else:
                _draw_distances(ax, s, r)
            ax.set_title(name, fontsize=9)
            ax.tick_params(labelsize=7)
        if names:
            fig.axes[0].legend(fontsize=7)
        # a fixed layout: constrained layout doubles the drawing time
        fig.subplots_adjust(left=0.06, right=0.98, bottom=0.08, top=0.93, hspace=0.55, wspace=0.3)
        path = out / f"{kind}.png"
        with atomic_output(path, suffix=".png") as tmp:
            fig.savefig(tmp)
        written.append(path)
    return written


def _draw_histograms(ax: Any, s: np.ndarray, r: np.ndarray) -> None:
    pooled = np.concatenate([s, r])
    if len(pooled) == 0:
        ax.text(0.5, 0.5, "undefined", ha="center", transform=ax.transAxes)
        return
    lo, hi = float(pooled.min()), float(pooled.max())
    bins = np.linspace(lo - 0.5, hi + 0.5, 2) if lo == hi else np.linspace(lo, hi, 26)
    for v, label, colour in ((r, "reference", "#1f77b4"), (s, "samples", "#d62728")):
        if len(v):
            ax.hist(v, bins=bins, density=True, alpha=0.5, color=colour, label=label)


def _draw_distances(ax: Any, s: np.ndarray, r: np.ndarray) -> None:
    if len(r) < 2 or len(s) < 1:
        ax.text(0.5, 0.5, "too few values", ha="center", transform=ax.transAxes)
        return
    pair = kde_pair(intra_distances(r), inter_distances(s, r))
    if pair is None:
        ax.text(0.5, 0.5, "all distances equal", ha="center", transform=ax.transAxes)
        return
    grid, log_f, log_g = pair
    ax.plot(grid, np.exp(log_f), color="#1f77b4", label="intra-reference")
    ax.plot(grid, np.exp(log_g), color="#d62728", label="samples-reference")
    ax.set_xlabel("distance", fontsize=7)


# ---------------------------------------------------------------------- model NLL
@dataclass(frozen=True)
class NLLReport:
    """A model's likelihood of one dataset split (teacher-forced, padding masked; nats).

    Attributes:
        checkpoint: The checkpoint folder.
        data: The dataset folder.
        split: The split.
        n_sequences: Sequences scored.
        n_batches: Batches run.
        n_events: Target events scored (every event after start-of-song).
        n_note_events: Of which notes.
        nll_per_event: Summed NLL of the supervised fields, averaged over all target events
            (the training objective's per-note NLL, weighted by events across batches).
        nll_per_note_event: The same over note events only.
        field_losses: Field -> mean cross-entropy over the events that supervise it.
        field_counts: Field -> number of supervised events.
        max_seq_len: Events per sequence (longer songs are cut, as in training).
        max_beat: Beats per sequence (the model's beat vocabulary).
        weights: ``float32`` (as trained) or ``int8`` (:mod:`tuplet.model.quantize`).
    """

    checkpoint: str
    data: str
    split: str
    n_sequences: int
    n_batches: int
    n_events: int
    n_note_events: int
    nll_per_event: float
    nll_per_note_event: float
    field_losses: dict[str, float]
    field_counts: dict[str, int]
    max_seq_len: int
    max_beat: int
    weights: str = "float32"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict."""
        return _json_safe(asdict(self))


WEIGHTS = ("float32", "bfloat16", "int8")
"""The weights :func:`evaluate_nll` can score a model with."""


def evaluate_nll(
    checkpoint: str | os.PathLike[str],
    data: str | os.PathLike[str],
    split: str = "test",
    batch_size: int = 8,
    max_batches: int | None = None,
    device: str = "cpu",
    weights: str = "float32",
) -> NLLReport:
    """Score a dataset split with a checkpoint: per-event NLL and per-field losses.

    Sequences are built as for validation during training (first window, no augmentation),
    with the checkpoint's ``max_beat`` and its training ``max_seq_len`` (else the model's).
    Sums are accumulated over batches and divided once, so every event weighs the same.

    Args:
        checkpoint: A checkpoint folder.
        data: A dataset folder of the same encoding.
        split: ``train``, ``valid`` or ``test``.
        batch_size: Sequences per batch.
        max_batches: Stop after this many batches (None: the whole split).
        device: Torch device.
        weights: ``float32`` (as trained), or ``bfloat16`` / ``int8`` to score the model
            generation runs with ``--dtype bfloat16`` / ``--dtype int8`` (int8 on the CPU
            only): what halving or quantizing the weights costs in likelihood.

    Returns:
        The report.

    Raises:
        BadFileError: An unreadable checkpoint.
        UsageError: Encodings that differ, an empty split, or a bad option.
    """
    if max_batches is not None and max_batches < 1:
        raise UsageError(f"max_batches must be at least 1, got {max_batches}")
    if weights not in WEIGHTS:
        raise UsageError(f"weights must be {', '.join(WEIGHTS)}, not {weights!r}")
    model, model_enc, max_seq_len = _scoring_model(checkpoint, device, weights)
    dataset = _scoring_dataset(
        data, split, checkpoint, model_enc, max_seq_len, model.config.onset_order
    )
    sums = _NLLSums(model, model_enc.type_codes["note"])
    sums.add_split(dataset, batch_size, max_batches, device)
    c = model.config
    return NLLReport(
        checkpoint=str(checkpoint),
        data=str(data),
        split=split,
        n_sequences=sums.n_sequences,
        n_batches=sums.n_batches,
        n_events=sums.n_events,
        n_note_events=sums.n_notes,
        nll_per_event=sums.total_nll / sums.n_events if sums.n_events else math.nan,
        nll_per_note_event=sums.note_nll / sums.n_notes if sums.n_notes else math.nan,
        field_losses={
            name: float(sums.field_sums[f] / sums.field_counts[f])
            if sums.field_counts[f]
            else math.nan
            for f, name in enumerate(c.field_names)
        },
        field_counts={name: int(sums.field_counts[f]) for f, name in enumerate(c.field_names)},
        max_seq_len=max_seq_len,
        max_beat=model_enc.max_beat,
        weights=weights,
    )


def _scoring_model(
    checkpoint: str | os.PathLike[str], device: str, weights: str
) -> tuple[Any, Any, int]:
    """The checkpoint's model (int8 or bf16 if asked), its encoding and its training window."""
    from tuplet.encoding import EncodingConfig
    from tuplet.model.checkpoint import load_checkpoint
    from tuplet.model.quantize import with_weights

    model, info = load_checkpoint(checkpoint, device)
    model = with_weights(model, weights)
    c = model.config
    training = info.get("training") or {}
    max_seq_len = min(int(training.get("max_seq_len") or c.max_seq_len), c.max_seq_len)
    return model, EncodingConfig.from_dict(info["encoding"]), max_seq_len


def _scoring_dataset(
    data: str | os.PathLike[str],
    split: str,
    checkpoint: str | os.PathLike[str],
    model_enc: Any,
    max_seq_len: int,
    onset_order: str = "pitch",
) -> Any:
    """The split's sequences as validation sees them; refused if its encoding is not the model's."""
    from tuplet.training.dataset import SequenceDataset

    dataset = SequenceDataset(
        data, split, max_seq_len=max_seq_len, max_beat=model_enc.max_beat, augment=False,
        onset_order=onset_order,
    )  # fmt: skip
    if dataset.model_config != model_enc:
        raise UsageError(
            f"{data}: its {dataset.config.name} encoding differs from the model's "
            f"({checkpoint}); prepare the data with the model's encoding settings"
        )
    if len(dataset) == 0:
        raise UsageError(f"{data}: the {split} split holds no sequences")
    return dataset


class _NLLSums:
    """Sums of per-event and per-field losses over batches, divided once at the end."""

    def __init__(self, model: Any, note_type: int) -> None:
        import torch

        self.model, self.note_type = model, note_type
        n_fields = model.config.n_fields
        self.field_sums = torch.zeros(n_fields, dtype=torch.float64)
        self.field_counts = torch.zeros(n_fields, dtype=torch.float64)
        self.total_nll = self.note_nll = 0.0
        self.n_events = self.n_notes = self.n_sequences = self.n_batches = 0

    def add_split(
        self, dataset: Any, batch_size: int, max_batches: int | None, device: str
    ) -> None:
        """Score every batch of ``dataset`` (the first ``max_batches``)."""
        import torch

        from tuplet.training.dataset import make_loader

        with torch.no_grad():
            for codes, mask in make_loader(dataset, batch_size, shuffle=False):
                if max_batches is not None and self.n_batches >= max_batches:
                    break
                self.add(codes.to(device), mask.to(device))

    def add(self, codes: Any, mask: Any) -> None:
        """One batch."""
        import torch

        model, c = self.model, self.model.config
        out = model.loss(codes, mask)
        real = mask[:, 1:] & mask[:, :-1]  # the target events model.loss scores
        targets = codes[:, 1:]
        supervised = real[..., None].expand(-1, -1, c.n_fields)
        if c.defined_fields is not None:
            types = targets[..., 0].clamp(0, len(c.defined_fields) - 1)
            supervised = supervised & model.defined[types]
        counts = supervised.sum(dim=(0, 1)).double().cpu()
        losses = torch.stack([out.field_losses[f] for f in c.field_names]).double().cpu()
        self.field_sums += losses * counts
        self.field_counts += counts
        is_note = real & (targets[..., 0] == self.note_type)
        self.total_nll += float(out.event_nll.double().sum())
        self.note_nll += float(out.event_nll.double()[is_note].sum())
        self.n_events += int(out.n_events)
        self.n_notes += int(is_note.sum())
        self.n_sequences += len(codes)
        self.n_batches += 1


def format_nll(report: NLLReport) -> str:
    """The NLL report as a short text table."""
    lines = [
        f"{report.split} split of {report.data}: {report.n_sequences} sequences, "
        f"{report.n_events} events ({report.n_note_events} notes), {report.n_batches} batches",
        *([f"weights             {report.weights}"] if report.weights != "float32" else []),
        f"NLL per event       {_fmt(report.nll_per_event, 4)} nats",
        f"NLL per note event  {_fmt(report.nll_per_note_event, 4)} nats",
        "",
        f"{'field':<12}{'loss (nats)':>12}{'events':>10}",
    ]
    for name, loss in report.field_losses.items():
        lines.append(f"{name:<12}{_fmt(loss, 4):>12}{report.field_counts[name]:>10}")
    return "\n".join(lines)


__all__ = [
    "NLLReport",
    "PieceSet",
    "SetEvaluation",
    "evaluate_nll",
    "evaluate_sets",
    "format_comparison",
    "format_nll",
    "is_dataset",
    "load_pieces",
    "metric_values",
    "plot_evaluation",
    "read_dataset_pieces",
    "read_sample_folder",
    "save_json",
]
