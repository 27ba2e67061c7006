"""Candidates, scored and picked: draw many, keep the few worth hearing.

Each candidate gets three scores in 0..1 (higher is better):

* **novelty**: ``1 - its highest window cardinality score`` against the training corpus (the
  originality report's ``max_cs``): a piece that copies scores 0;
* **surprise**: how its information content (per-note NLL under the model) sits against the
  model's own style, the NLL of held-out prompts (:class:`tuplet.responsibility.scope.Scope`): a
  Gaussian
  bump around their mean, moved up by ``adventurous`` standard deviations, so both the too
  predictable and the too random score low;
* **value**: the share of its musical measures (pitch-class entropy, scale and groove
  consistency, polyphony, pitch range, on its first 64 beats) that fall inside the corpus's
  band (5th to 95th percentile), each measure outside losing credit with its distance.

The total weighs them ``novelty 0.2 + 0.3a``, ``surprise 0.3``, ``value 0.5 - 0.3a`` with
``a = adventurous`` in 0..1 (which also raises the sampling temperature, in the command line).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from tuplet.errors import UsageError
from tuplet.notes import Notes


@dataclass
class CandidateScore:
    """The scores of one candidate (see the module docstring)."""

    novelty: float | None
    surprise: float
    value: float
    total: float
    nll_per_note: float | None
    outside: list[str]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe."""
        return asdict(self)


def weights(adventurous: float) -> tuple[float, float, float]:
    """(novelty, surprise, value) weights for an ``adventurous`` in 0..1."""
    if not 0.0 <= adventurous <= 1.0:
        raise UsageError(f"adventurous must be in 0..1, got {adventurous}")
    return 0.2 + 0.3 * adventurous, 0.3, 0.5 - 0.3 * adventurous


def value_score(notes: Notes, band: dict[str, list[float]]) -> tuple[float, list[str]]:
    """The share of the band's measures inside it (partial credit outside), and those outside."""
    from tuplet.analysis.metrics import METRICS, trim

    t = trim(notes)
    credit, outside = [], []
    for name, (lo, hi) in band.items():
        v = float(METRICS[name](t))
        if not math.isfinite(v):
            credit.append(0.0)
            outside.append(name)
            continue
        width = max(hi - lo, 1e-9)
        gap = max(lo - v, v - hi, 0.0)
        credit.append(math.exp(-gap / width))
        if gap > 0:
            outside.append(name)
    return (sum(credit) / len(credit) if credit else 0.0), outside


def surprise_score(nll: float, mean: float, std: float, adventurous: float = 0.0) -> float:
    """A bump around the style's mean NLL, moved up by ``adventurous`` standard deviations."""
    if not math.isfinite(nll):
        return 0.0
    z = (nll - (mean + adventurous * std)) / max(std, 1e-9)
    return math.exp(-0.5 * z * z)


def score_candidates(
    lm: Any,
    pieces: list[Notes],
    scope: Any,
    *,
    index: Any = None,
    adventurous: float = 0.0,
) -> list[CandidateScore]:
    """Score each candidate (its new notes only, as a list of note tables)."""
    from tuplet.responsibility.scope import prompt_nll

    if not scope.band or scope.nll_mean is None:
        raise UsageError(
            "the model's scope has no style band: measure it again "
            "(tuplet audit scope --model M --data D --write)"
        )
    w_n, w_s, w_v = weights(adventurous)
    out = []
    for notes in pieces:
        novelty = None
        if index is not None:
            report = index.score(notes)
            novelty = 1.0 - (report.max_cs if report.max_cs is not None else 0.0)
        nll = prompt_nll(lm, notes)[0] if len(notes) else math.nan
        surprise = surprise_score(nll, scope.nll_mean, scope.nll_std or 1.0, adventurous)
        value, outside = value_score(notes, scope.band) if len(notes) else (0.0, [])
        total = w_s * surprise + w_v * value + (w_n * novelty if novelty is not None else 0.0)
        if novelty is None:  # no corpus at hand: the other two carry the whole weight
            total /= w_s + w_v
        out.append(
            CandidateScore(
                novelty=None if novelty is None else round(novelty, 4),
                surprise=round(surprise, 4),
                value=round(value, 4),
                total=round(total, 4),
                nll_per_note=None if math.isnan(nll) else round(nll, 4),
                outside=outside,
            )
        )
    return out


def ranked(scores: list[CandidateScore], keep: int) -> list[int]:
    """Indices of the ``keep`` best candidates, best first (ties: the earlier drawn)."""
    order = sorted(range(len(scores)), key=lambda i: (-scores[i].total, i))
    return order[:keep]


__all__ = [
    "CandidateScore",
    "ranked",
    "score_candidates",
    "surprise_score",
    "value_score",
    "weights",
]
