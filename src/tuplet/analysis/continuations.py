"""How a model continues held-out pieces, measured against the pieces' true continuations.

For every piece of a dataset split long enough, the model is given its first ``prompt_beats``
beats and continues it; the next ``beats`` beats of the generated piece and of the real one are
measured with the same per-piece metrics (:mod:`tuplet.analysis.metrics`), and the absolute
difference of each metric is averaged over the pieces. Three references frame the model's
figure:

* **another piece**: the true continuation of every other piece of the split against this
  one's, averaged (what a continuation that ignores the prompt but is real music scores, on
  average over the split);
* **same collection**: the same, over the other pieces of this piece's collection only (the
  first folder of its name, e.g. ``music21:bach``): real music of the same kind that ignores
  the prompt, a stricter reference;
* **the prompt**: the prompt itself against the true continuation (what repeating the prompt's
  character would score; the music's own drift from its opening).

A model that listens to its prompt scores below "another piece"; the prompt row shows how much
a piece changes on its own. Metrics undefined on a span (no pitched notes) are left out of that
metric's mean, and counted; a piece alone in its collection is left out of "same collection".

Before 2026-12-04 "another piece" was one piece: the next in the split's name order. Names sort
by collection, so that piece was mostly of the same collection (22 of the 29 test pairs of the
default dataset) and the figure one draw of the stricter reference.
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

REFERENCES: tuple[str, ...] = ("model", "another piece", "same collection", "the prompt")


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
        seed: Seed of the first piece's sampling (piece i uses seed + i; in round r, seed + r + i).
        metrics: The metrics compared.
        pieces: Per piece and round: its name, the round, and each metric of the generated,
            true and prompt spans.
        skipped: ``(name, reason)`` of pieces not used (too short, or a generation error).
        mean_abs_diff: Reference -> metric -> mean absolute difference from the truth (the
            mean of the rounds' means).
        n_defined: Reference -> metric -> pieces in that mean (over all rounds).
        rounds: How many times every piece was continued (with seeds seed, seed + 1, ...).
        model_by_round: Per round: metric -> the model's mean absolute difference (its spread
            over rounds is the figure's sampling noise; the references do not vary).
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
    rounds: int = 1
    model_by_round: list[dict[str, float]] = field(default_factory=list)
    new_notes: int = 0
    seconds: float = 0.0
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (NaN as null)."""
        from tuplet.analysis.evaluate import _json_safe

        return dict(_json_safe(asdict(self)))


def collection(name: str) -> str:
    """A piece's collection: its name up to the first ``/``.

    ``music21:bach/bwv1.6.mxl`` -> ``music21:bach``; a name without one is in ``""``.
    """
    return name.split("/", 1)[0] if "/" in name else ""


def _pair_means(truth: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """Per piece i: the mean ``|truth[j] - truth[i]|`` over the j with ``pairs[i, j]``.

    Pairs with an undefined value are left out; NaN where no pair is left.
    """
    diffs = np.abs(truth[None, :] - truth[:, None])
    usable = pairs & np.isfinite(diffs)
    with np.errstate(invalid="ignore"):
        sums = np.where(usable, diffs, 0.0).sum(axis=1)
        return np.where(usable.any(axis=1), sums / np.maximum(usable.sum(axis=1), 1), math.nan)


def _finite_mean(values: list[float]) -> float:
    """The mean of the finite values; NaN when there are none."""
    ok = [v for v in values if math.isfinite(v)]
    return sum(ok) / len(ok) if ok else math.nan


def _summarise(
    rows: list[dict[str, Any]], metrics: tuple[str, ...]
) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, int]]]:
    n = len(rows)
    other = ~np.eye(n, dtype=bool)
    groups = [collection(r["name"]) for r in rows]
    kin = other & np.array([[a == b for b in groups] for a in groups], dtype=bool).reshape(n, n)
    means: dict[str, dict[str, float]] = {ref: {} for ref in REFERENCES}
    counts: dict[str, dict[str, int]] = {ref: {} for ref in REFERENCES}
    for m in metrics:
        truth = np.array([r["true"][m] for r in rows], dtype=float)
        per_piece = {
            "model": np.abs(np.array([r["generated"][m] for r in rows], dtype=float) - truth),
            "another piece": _pair_means(truth, other),
            "same collection": _pair_means(truth, kin),
            "the prompt": np.abs(np.array([r["prompt"][m] for r in rows], dtype=float) - truth),
        }
        for ref, diffs in per_piece.items():
            ok = diffs[np.isfinite(diffs)]
            means[ref][m] = float(ok.mean()) if len(ok) else math.nan
            counts[ref][m] = len(ok)
    return means, counts


def _over_rounds(
    summaries: list[tuple[dict[str, dict[str, float]], dict[str, dict[str, int]]]],
    metrics: tuple[str, ...],
) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, int]]]:
    """The rounds' :func:`_summarise` results as one: the means' mean, the counts' sum."""
    means = {
        ref: {m: _finite_mean([s[0][ref][m] for s in summaries]) for m in metrics}
        for ref in REFERENCES
    }
    counts = {
        ref: {m: sum(s[1][ref][m] for s in summaries) for m in metrics} for ref in REFERENCES
    }
    return means, counts


def _open_split(
    lm: Any, data: str | os.PathLike[str], split: str, prompt_beats: int, beats: int
) -> list[tuple[str, Notes]]:
    """The split's ``(name, notes)``; refuses spans longer than the model's beats."""
    from tuplet.analysis.evaluate import read_dataset_pieces

    limit = lm.encoding.max_beat
    if prompt_beats + beats > limit:
        raise UsageError(
            f"prompt ({prompt_beats}) + continuation ({beats}) beats exceed the model's "
            f"{limit} beats"
        )
    pieces = read_dataset_pieces(data, split)
    return list(zip(pieces.names, pieces.pieces, strict=True))


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
    rounds: int = 1,
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
        settings: Sampling settings (default: the model's recommended ones for continuations).
        rounds: Continue every piece this many times, round r with seed ``seed + r``; the
            figures are the rounds' means.

    Returns:
        The report.

    Raises:
        UsageError: Bad options, an empty split, or no piece long enough.
    """
    from tuplet.generation.generate import load_model

    _check_options(prompt_beats, beats, max_pieces, metrics, rounds)
    lm = load_model(None if checkpoint is None else Path(checkpoint), device)
    chosen = _open_split(lm, data, split, prompt_beats, beats)
    total = len(chosen) if max_pieces is None else min(max_pieces, len(chosen))
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=total * rounds, unit="piece", desc="continuations")
    try:
        rows, skipped, summaries, new_notes, seconds = _rounds(
            lm, chosen, prompt_beats, beats, seed, max_pieces, metrics, settings, rounds, bar
        )
        if not rows:
            raise UsageError(
                f"{data}: no {split} piece is {prompt_beats + beats} beats long and could be "
                f"continued ({len(skipped)} skipped)"
            )
    finally:
        if bar is not None:
            bar.close()
    means, counts = _over_rounds(summaries, metrics)
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
        rounds=rounds,
        model_by_round=[s[0]["model"] for s in summaries],
        new_notes=new_notes,
        seconds=seconds,
        settings=(settings or lm.settings_for("continuation")).to_dict(),
    )


def _rounds(
    lm: Any,
    chosen: list[tuple[str, Notes]],
    prompt_beats: int,
    beats: int,
    seed: int,
    max_pieces: int | None,
    metrics: tuple[str, ...],
    settings: SamplingSettings | None,
    rounds: int,
    bar: Any,
) -> tuple[list[dict[str, Any]], list[tuple[str, str]], list[Any], int, float]:
    """Every round of :func:`_continue_all`, round r with ``seed + r``.

    Returns the rows (each with its round), the pieces skipped (once each), each round's
    :func:`_summarise`, the new notes and the seconds. A round that continues no piece stops
    it with no rows (the caller says why).
    """
    rows: list[dict[str, Any]] = []
    skipped: list[tuple[str, str]] = []
    summaries = []
    new_notes, seconds = 0, 0.0
    for r in range(rounds):
        got, missed, notes_r, seconds_r = _continue_all(
            lm, chosen, prompt_beats, beats, seed + r, max_pieces, metrics, settings, bar
        )
        skipped += [m for m in missed if m not in skipped]
        if not got:
            return [], skipped, [], 0, 0.0
        rows += [{**row, "round": r} for row in got]
        summaries.append(_summarise(got, metrics))
        new_notes, seconds = new_notes + notes_r, seconds + seconds_r
    return rows, skipped, summaries, new_notes, seconds


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
    prompt_beats: int,
    beats: int,
    max_pieces: int | None,
    metrics: tuple[str, ...],
    rounds: int = 1,
) -> None:
    """Refuse lengths under a beat, no pieces or rounds, and unknown metrics."""
    if prompt_beats < 1 or beats < 1:
        raise UsageError(
            f"prompt and continuation need at least 1 beat each, got {prompt_beats}, {beats}"
        )
    if max_pieces is not None and max_pieces < 1:
        raise UsageError(f"max_pieces must be at least 1, got {max_pieces}")
    if rounds < 1:
        raise UsageError(f"rounds must be at least 1, got {rounds}")
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

    n_pieces = len({row["name"] for row in report.pieces})
    rounds = report.rounds
    times = (
        f" x {rounds} rounds (seeds {report.seed}..{report.seed + rounds - 1})"
        if rounds > 1
        else ""
    )
    spread = "  model, rounds" if rounds > 1 else ""
    lines = [
        f"continuations of {n_pieces} {report.split} pieces of {report.data}{times} "
        f"({len(report.skipped)} skipped): beats {report.prompt_beats}..."
        f"{report.prompt_beats + report.beats} after a {report.prompt_beats}-beat prompt; "
        f"{report.new_notes} new notes in {report.seconds:.1f} s; sampling "
        f"{_settings_text(report.settings)}",
        "mean absolute difference from the true continuation (lower is closer):",
        f"{'metric':<24}" + "".join(f"{r:>16}" for r in REFERENCES) + spread,
    ]
    for m in report.metrics:
        cells = "".join(f"{_fmt(report.mean_abs_diff[r][m]):>16}" for r in REFERENCES)
        if rounds > 1:
            each = [by[m] for by in report.model_by_round if math.isfinite(by[m])]
            cells += f"  {_fmt(min(each))}-{_fmt(max(each))}" if each else "  -"
        lines.append(f"{m:<24}{cells}")
    return "\n".join(lines)


__all__ = [
    "CONTINUATION_METRICS",
    "ContinuationReport",
    "collection",
    "evaluate_continuations",
    "format_continuations",
    "span",
]
