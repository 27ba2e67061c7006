"""Can the model reproduce a piece it was trained on? The extraction audit.

Prompted with the first 1, 2 or 4 bars of a piece, the model continues it for 8 bars; the
continuation *reproduces* the piece when its notes and the piece's true next 8 bars have a
cardinality score of at least 0.9 (REFERENCE.md section 6: the share of notes that match under
the best move in time and pitch). Done for training pieces and for held-out pieces alike: a
model that learned music reproduces neither much more often than the other; a model that
memorised its training set reproduces training pieces far more often. The audit reports both
rates per prefix length and their difference.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from tuplet.errors import UsageError
from tuplet.notes import Notes
from tuplet.responsibility.originality import points

REPRODUCED_CS = 0.9
"""A continuation at or above this cardinality score against the true one reproduces it."""


def cardinality_score(a: Notes, b: Notes) -> float:
    """The exact cardinality score of two pieces' (onset, pitch) point sets (drums left out).

    ``max_t |{p in A : p + t in B}| / max(|A|, |B|)`` over every move ``t`` in time and pitch.
    0 when either has no pitched note.
    """
    ao, ap = points(a)
    bo, bp = points(b)
    if len(ao) == 0 or len(bo) == 0:
        return 0.0
    dt = (bo[None, :] - ao[:, None]).ravel()
    dp = (bp[None, :] - ap[:, None]).ravel()
    _, counts = np.unique((dt + (1 << 30)) * 512 + (dp + 256), return_counts=True)
    return float(counts.max()) / max(len(ao), len(bo))


@dataclass
class ExtractionAudit:
    """The audit's result (see the module docstring).

    Attributes:
        model: The checkpoint audited.
        data: The dataset its pieces came from.
        heldout_split: The split of the held-out pieces.
        continuation_bars: Bars continued after each prefix.
        threshold: The cardinality score that counts as a reproduction.
        rates: Prefix bars -> {"train": share reproduced, "heldout": share, "difference":
            train - heldout, "n_train": prompts, "n_heldout": prompts}.
        pieces: One record per prompt: group, piece, prefix bars, score.
        seconds: Time the audit took.
    """

    model: str
    data: str
    heldout_split: str
    continuation_bars: int
    threshold: float
    rates: dict[str, dict[str, float]] = field(default_factory=dict)
    pieces: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe."""
        return asdict(self)

    def table(self) -> str:
        """The rates as a small text table."""
        lines = [
            f"extraction audit: {self.model} on {self.data} (continuations of "
            f"{self.continuation_bars} bars; reproduced = CS >= {self.threshold})",
            "prefix   training pieces   held-out pieces   difference",
        ]
        for bars, r in self.rates.items():
            lines.append(
                f"{bars:>3} bar  {100 * r['train']:6.1f}% of {int(r['n_train']):<4}    "
                f"{100 * r['heldout']:6.1f}% of {int(r['n_heldout']):<4}    "
                f"{100 * r['difference']:+6.1f} points"
            )
        return "\n".join(lines)


def _bar_beats(notes: Notes) -> float:
    from tuplet.analysis.wholepiece import beats_per_bar

    return beats_per_bar(notes)


def audit_extraction(
    lm: Any,
    dataset: str | os.PathLike[str],
    *,
    prefix_bars: tuple[int, ...] = (1, 2, 4),
    continuation_bars: int = 8,
    n_pieces: int = 20,
    heldout_split: str = "test",
    seed: int = 0,
    threshold: float = REPRODUCED_CS,
    progress: bool = False,
) -> ExtractionAudit:
    """Run the extraction audit of a loaded model (:func:`tuplet.generation.generate.load_model`).

    Up to ``n_pieces`` pieces of the train split and of ``heldout_split`` (drawn with ``seed``
    among those long enough for the longest prefix and the continuation) are each prompted with
    every prefix; each continuation is drawn with the model's own sampling settings.

    Raises:
        UsageError: Bad numbers, or no piece long enough in a split.
    """
    from tuplet.analysis.evaluate import read_dataset_pieces
    from tuplet.generation.generate import GenerationOptions, continuation
    from tuplet.generation.sample import Limits
    from tuplet.responsibility.originality import new_notes

    if not prefix_bars or min(prefix_bars) < 1 or continuation_bars < 1 or n_pieces < 1:
        raise UsageError("prefix bars, continuation bars and pieces must be at least 1")
    t0 = time.perf_counter()
    result = ExtractionAudit(
        model=str(lm.describe().get("path")),
        data=str(dataset),
        heldout_split=heldout_split,
        continuation_bars=continuation_bars,
        threshold=threshold,
    )
    rng = np.random.default_rng(seed)
    longest = max(prefix_bars) + continuation_bars
    max_beat = lm.encoding.max_beat
    jobs = []
    for group, split in (("train", "train"), ("heldout", heldout_split)):
        pieces = read_dataset_pieces(dataset, split)
        usable = [
            i
            for i, p in enumerate(pieces.pieces)
            if p.length_beats >= longest * _bar_beats(p) and longest * _bar_beats(p) <= max_beat
        ]
        if not usable:
            raise UsageError(f"{dataset}: no {split} piece lasts {longest} bars")
        picks = rng.choice(usable, size=min(n_pieces, len(usable)), replace=False).tolist()
        jobs += [(group, pieces.names[i], pieces.pieces[i], b) for i in picks for b in prefix_bars]
    bar_iter: Any = jobs
    if progress:
        from tqdm.auto import tqdm

        bar_iter = tqdm(jobs, desc="audit", unit="prompt", dynamic_ncols=True)
    for k, (group, name, piece, bars) in enumerate(bar_iter):
        bar = _bar_beats(piece)
        start, end = bars * bar, (bars + continuation_bars) * bar
        tpb = piece.ticks_per_beat
        prompt = piece.select(piece.onset_ticks < start * tpb)
        truth = piece.select((piece.onset_ticks >= start * tpb) & (piece.onset_ticks < end * tpb))
        options = GenerationOptions(
            n=1, seed=seed + k, limits=Limits(max_beats=math.ceil(end))
        )
        gen = continuation(lm, piece, prompt_beats=math.ceil(start), options=options)
        made = new_notes(gen.pieces[0].notes, prompt)
        made = made.select(made.onset_ticks < end * made.ticks_per_beat)
        cs = cardinality_score(made, truth)
        result.pieces.append({"group": group, "piece": name, "prefix_bars": bars,
                              "cs": round(cs, 4), "reproduced": cs >= threshold})  # fmt: skip
    for bars in prefix_bars:
        rate = {}
        for group in ("train", "heldout"):
            hits = [r["reproduced"] for r in result.pieces
                    if r["group"] == group and r["prefix_bars"] == bars]  # fmt: skip
            rate[group] = float(np.mean(hits)) if hits else math.nan
            rate[f"n_{group}"] = float(len(hits))
        rate["difference"] = rate["train"] - rate["heldout"]
        result.rates[str(bars)] = rate
    result.seconds = round(time.perf_counter() - t0, 2)
    return result


__all__ = ["REPRODUCED_CS", "ExtractionAudit", "audit_extraction", "cardinality_score"]
