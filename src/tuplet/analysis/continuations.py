"""How a model continues held-out pieces, measured against the pieces' true continuations.

For every piece of a dataset split long enough, the model is given its first ``prompt_beats``
beats and continues it; the next ``beats`` beats of the generated piece and of the real one are
measured with the same per-piece metrics (:mod:`tuplet.analysis.metrics`), and the absolute
difference
of each metric is averaged over the pieces. Two references frame the model's figure:

* **another piece**: the true continuation of the next piece in the split against this one's
  (what a continuation that ignores the prompt but is real music would score);
* **the prompt**: the prompt itself against the true continuation (what repeating the prompt's
  character would score; the music's own drift from its opening).

A model that listens to its prompt scores below "another piece"; the prompt row shows how much
a piece changes on its own. Metrics undefined on a span (no pitched notes) are left out of that
metric's mean, and counted.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tuplet.analysis.metrics import METRICS, compute_metrics, trim
from tuplet.errors import TupletError, UsageError

if TYPE_CHECKING:
    from tuplet.generation.sample import SamplingSettings
from tuplet.notes import Notes, shift_ticks

CONTINUATION_METRICS: tuple[str, ...] = (
    "pitch_class_entropy",
    "scale_consistency",
    "groove_consistency",
    "pitch_range",
    "n_pitch_classes_used",
    "polyphony",
)
"""Metrics compared by default (the MMT paper's three first)."""

REFERENCES: tuple[str, ...] = ("model", "another piece", "the prompt")


def span(notes: Notes, start_beat: float, end_beat: float) -> Notes:
    """The notes starting in beats ``[start_beat, end_beat)``, moved to start at beat 0.

    Notes sounding past ``end_beat`` are cut there; maps are moved with the notes.
    """
    if not end_beat > start_beat >= 0:
        raise ValueError(f"need 0 <= start < end, got {start_beat}, {end_beat}")
    start = round(start_beat * notes.ticks_per_beat)
    inside = notes.select(notes.onset_ticks >= start)
    return trim(shift_ticks(inside, -start), end_beat - start_beat)


@dataclass(frozen=True)
class ContinuationReport:
    """Continuations of a split's pieces against the true ones.

    Attributes:
        checkpoint: The model (a checkpoint folder, or "default").
        data: The dataset folder.
        split: The split.
        prompt_beats: Beats of each piece given as the prompt.
        beats: Beats of continuation measured after it.
        seed: Seed of the first piece's sampling (piece i uses seed + i).
        metrics: The metrics compared.
        pieces: Per piece: its name and each metric of the generated, true and prompt spans.
        skipped: ``(name, reason)`` of pieces not used (too short, or a generation error).
        mean_abs_diff: Reference -> metric -> mean absolute difference from the truth.
        n_defined: Reference -> metric -> pieces in that mean.
        new_notes: Notes the model wrote in all.
        seconds: Generation time in all.
        settings: The sampling settings used (:meth:`SamplingSettings.to_dict`).
    """

    checkpoint: str
    data: str
    split: str
    prompt_beats: int
    beats: int
    seed: int
    metrics: tuple[str, ...]
    pieces: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    mean_abs_diff: dict[str, dict[str, float]] = field(default_factory=dict)
    n_defined: dict[str, dict[str, int]] = field(default_factory=dict)
    new_notes: int = 0
    seconds: float = 0.0
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (NaN as null)."""
        from tuplet.analysis.evaluate import _json_safe

        return dict(_json_safe(asdict(self)))


def _summarise(
    rows: list[dict[str, Any]], metrics: tuple[str, ...]
) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, int]]]:
    truth = [r["true"] for r in rows]
    others = {
        "model": [r["generated"] for r in rows],
        # the next piece's true continuation (cyclic); with one piece there is no other
        "another piece": truth[1:] + truth[:1] if len(truth) > 1 else [],  # 1 piece: none
        "the prompt": [r["prompt"] for r in rows],
    }
    means: dict[str, dict[str, float]] = {}
    counts: dict[str, dict[str, int]] = {}
    for ref, values in others.items():
        means[ref], counts[ref] = {}, {}
        for m in metrics:
            pairs = zip(values, truth, strict=True) if values else []
            diffs = np.array([abs(v[m] - t[m]) for v, t in pairs], dtype=float)
            ok = diffs[np.isfinite(diffs)]
            means[ref][m] = float(ok.mean()) if len(ok) else math.nan
            counts[ref][m] = len(ok)
    return means, counts


def evaluate_continuations(
    checkpoint: str | os.PathLike[str] | None,
    data: str | os.PathLike[str],
    split: str = "test",
    *,
    prompt_beats: int = 16,
    beats: int = 32,
    seed: int = 0,
    max_pieces: int | None = None,
    metrics: tuple[str, ...] = CONTINUATION_METRICS,
    device: str = "cpu",
    progress: bool = False,
    settings: SamplingSettings | None = None,
) -> ContinuationReport:
    """Continue each long-enough piece of a split and compare with its true continuation.

    Args:
        checkpoint: A checkpoint folder; None = the default model.
        data: A prepared dataset (any encoding: pieces are decoded to notes first).
        split: ``train``, ``valid`` or ``test``.
        prompt_beats: Beats given as the prompt.
        beats: Beats of continuation measured (pieces shorter than prompt + this are skipped).
        seed: Piece i is sampled with ``seed + i``.
        max_pieces: Use at most this many pieces (in split order).
        metrics: Keys of :data:`tuplet.analysis.metrics.METRICS`.
        device: Torch device.
        progress: Show a progress bar.
        settings: Sampling settings (default: the model's recommended ones).

    Returns:
        The report.

    Raises:
        UsageError: Bad options, an empty split, or no piece long enough.
    """
    from tuplet.analysis.evaluate import read_dataset_pieces
    from tuplet.generation.generate import load_model

    _check_options(prompt_beats, beats, max_pieces, metrics)
    lm = load_model(None if checkpoint is None else Path(checkpoint), device)
    limit = lm.encoding.max_beat
    if prompt_beats + beats > limit:
        raise UsageError(
            f"prompt ({prompt_beats}) + continuation ({beats}) beats exceed the model's "
            f"{limit} beats"
        )
    pieces = read_dataset_pieces(data, split)
    chosen = list(zip(pieces.names, pieces.pieces, strict=True))
    total = len(chosen) if max_pieces is None else min(max_pieces, len(chosen))
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=total, unit="piece", desc="continuations")
    try:
        rows, skipped, new_notes, seconds = _continue_all(
            lm, chosen, prompt_beats, beats, seed, max_pieces, metrics, settings, bar
        )
    finally:
        if bar is not None:
            bar.close()
    if not rows:
        raise UsageError(
            f"{data}: no {split} piece is {prompt_beats + beats} beats long and could be "
            f"continued ({len(skipped)} skipped)"
        )
    means, counts = _summarise(rows, metrics)
    return ContinuationReport(
        checkpoint="default" if checkpoint is None else str(checkpoint),
        data=str(data),
        split=split,
        prompt_beats=prompt_beats,
        beats=beats,
        seed=seed,
        metrics=tuple(metrics),
        pieces=rows,
        skipped=skipped,
        mean_abs_diff=means,
        n_defined=counts,
        new_notes=new_notes,
        seconds=seconds,
        settings=(settings or lm.settings).to_dict(),
    )


def _continue_all(
    lm: Any,
    chosen: list[tuple[str, Notes]],
    prompt_beats: int,
    beats: int,
    seed: int,
    max_pieces: int | None,
    metrics: tuple[str, ...],
    settings: SamplingSettings | None,
    bar: Any,
) -> tuple[list[dict[str, Any]], list[tuple[str, str]], int, float]:
    """Continue each long-enough piece: its rows, the pieces skipped (and why), notes, seconds."""
    from tuplet.generation.generate import GenerationOptions, continuation
    from tuplet.generation.rules import Limits

    rows: list[dict[str, Any]] = []
    skipped: list[tuple[str, str]] = []
    new_notes, seconds = 0, 0.0
    for i, (name, notes) in enumerate(chosen):
        if max_pieces is not None and len(rows) >= max_pieces:
            break
        if notes.end_ticks < (prompt_beats + beats) * notes.ticks_per_beat:
            skipped.append((name, f"shorter than {prompt_beats + beats} beats"))
            continue
        options = GenerationOptions(
            n=1, seed=seed + i, limits=Limits(max_beats=prompt_beats + beats), settings=settings
        )
        start = time.perf_counter()
        try:
            generation = continuation(lm, notes, prompt_beats=prompt_beats, options=options)
        except TupletError as exc:
            skipped.append((name, str(exc)))
            continue
        seconds += time.perf_counter() - start
        piece = generation.pieces[0]
        new_notes += piece.new_notes
        rows.append(_row(name, piece, notes, prompt_beats, beats, metrics))
        if bar is not None:
            bar.update(1)
    return rows, skipped, new_notes, seconds


def _check_options(
    prompt_beats: int, beats: int, max_pieces: int | None, metrics: tuple[str, ...]
) -> None:
    """Refuse lengths under a beat, no pieces, and unknown metrics."""
    if prompt_beats < 1 or beats < 1:
        raise UsageError(
            f"prompt and continuation need at least 1 beat each, got {prompt_beats}, {beats}"
        )
    if max_pieces is not None and max_pieces < 1:
        raise UsageError(f"max_pieces must be at least 1, got {max_pieces}")
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise UsageError(f"unknown metric(s) {', '.join(unknown)} (known: {', '.join(METRICS)})")


def _row(
    name: str,
    piece: Any,
    notes: Notes,
    prompt_beats: int,
    beats: int,
    metrics: tuple[str, ...],
) -> dict[str, Any]:
    """One piece's metrics: its continuation, its true continuation and its prompt."""
    generated = piece.notes
    if generated.ticks_per_beat != notes.ticks_per_beat:
        from tuplet.notes import to_resolution

        generated = to_resolution(generated, notes.ticks_per_beat)
    end = prompt_beats + beats
    return {
        "name": name,
        "new_notes": piece.new_notes,
        "generated": compute_metrics(span(generated, prompt_beats, end), metrics),
        "true": compute_metrics(span(notes, prompt_beats, end), metrics),
        "prompt": compute_metrics(span(notes, 0, prompt_beats), metrics),
    }


def _settings_text(settings: dict[str, Any]) -> str:
    """The settings' knobs in one line, e.g. ``top_k_frac=0.2 pitch.temperature=0.9``."""
    knobs = [f"{k}={v}" for k, v in settings.items() if k != "per_field"]
    for name, own in (settings.get("per_field") or {}).items():
        knobs += [f"{name}.{k}={v}" for k, v in own.items()]
    return " ".join(knobs)


def format_continuations(report: ContinuationReport) -> str:
    """The report as a text table: mean |metric - truth| per reference."""
    from tuplet.analysis.evaluate import _fmt

    lines = [
        f"continuations of {len(report.pieces)} {report.split} pieces of {report.data} "
        f"({len(report.skipped)} skipped): beats {report.prompt_beats}..."
        f"{report.prompt_beats + report.beats} after a {report.prompt_beats}-beat prompt; "
        f"{report.new_notes} new notes in {report.seconds:.1f} s; sampling "
        f"{_settings_text(report.settings)}",
        "mean absolute difference from the true continuation (lower is closer):",
        f"{'metric':<24}" + "".join(f"{r:>16}" for r in REFERENCES),
    ]
    for m in report.metrics:
        cells = "".join(f"{_fmt(report.mean_abs_diff[r][m]):>16}" for r in REFERENCES)
        lines.append(f"{m:<24}{cells}")
    return "\n".join(lines)


__all__ = [
    "CONTINUATION_METRICS",
    "ContinuationReport",
    "evaluate_continuations",
    "format_continuations",
    "span",
]
