"""How the sampler draws each field: temperature, top-k, top-p and min-p, for all or per field.

:class:`SamplingSettings` is what a user or a checkpoint's ``config.json`` (``sampling``) states;
:meth:`SamplingSettings.resolve` turns it into one :class:`FieldRule` per field of an encoding,
which :mod:`tuplet.generation.sample` applies after the rules' masks.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, NamedTuple

from tuplet.errors import UsageError

KNOBS: tuple[str, ...] = ("temperature", "top_k", "top_k_frac", "top_p", "min_p")
DEFAULT_TOP_K_FRAC = 0.1
"""MMT's sampler: top-k with k = ceil(10% of each field's vocabulary)."""


@dataclass(frozen=True)
class SamplingSettings:
    """How each field's code is drawn.

    Attributes:
        temperature: Divides the logits; 0 = greedy.
        top_k_frac: Keep the ``ceil(top_k_frac * vocabulary)`` most likely codes (MMT: 0.1;
            1 keeps all).
        top_k: When > 0, keep this many codes instead (for every field).
        top_p: Keep the smallest set of most likely codes whose probability reaches this.
        min_p: Keep only codes at least this fraction as likely as the most likely one (0:
            off). Unlike top-k and top-p the cut follows the model's confidence: where one
            code is near certain (the next beat of a chorale, a pitch in the key) the rare
            ones go, where many are plausible they stay.
        per_field: Field name -> {knob: value} overriding the above for one field, e.g.
            ``{"pitch": {"temperature": 1.2}}``; a field's ``top_k`` wins over its
            ``top_k_frac``, which wins over the global ``top_k``.
    """

    temperature: float = 1.0
    top_k_frac: float = DEFAULT_TOP_K_FRAC
    top_k: int = 0
    top_p: float = 1.0
    min_p: float = 0.0
    per_field: Mapping[str, Mapping[str, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_knobs(
            {k: getattr(self, k) for k in KNOBS}, ""
        )
        for name, knobs in self.per_field.items():
            unknown = sorted(set(knobs) - set(KNOBS))
            if unknown:
                raise UsageError(
                    f"unknown sampling setting {', '.join(unknown)} for {name} "
                    f"(choose from {', '.join(KNOBS)})"
                )
            _check_knobs(dict(knobs), f" for {name}")

    def resolve(self, field_names: Sequence[str], vocab_sizes: Sequence[int]) -> list[FieldRule]:
        """The (temperature, k, p, min-p) of each field.

        Raises:
            UsageError: ``per_field`` names a field the encoding does not have.
        """
        unknown = sorted(set(self.per_field) - set(field_names))
        if unknown:
            raise UsageError(
                f"no field named {', '.join(unknown)} (fields: {', '.join(field_names)})"
            )
        rules = []
        for name, size in zip(field_names, vocab_sizes, strict=True):
            own = self.per_field.get(name, {})
            if "top_k" in own and own["top_k"] > 0:
                k = int(own["top_k"])
            elif "top_k_frac" in own:
                k = math.ceil(float(own["top_k_frac"]) * size)
            elif self.top_k > 0:
                k = self.top_k
            else:
                k = math.ceil(self.top_k_frac * size)
            rules.append(
                FieldRule(
                    float(own.get("temperature", self.temperature)),
                    max(1, min(k, size)),
                    float(own.get("top_p", self.top_p)),
                    float(own.get("min_p", self.min_p)),
                )
            )
        return rules

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict of the settings."""
        d = asdict(self)
        d["per_field"] = {k: dict(v) for k, v in self.per_field.items()}
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SamplingSettings:
        """Settings from :meth:`to_dict`'s form (keys other than the knobs are ignored).

        Raises:
            UsageError: A knob out of range, or a per-field knob that does not exist.
        """
        knobs = {k: d[k] for k in KNOBS if k in d}
        per_field = {str(f): dict(v) for f, v in dict(d.get("per_field") or {}).items()}
        return cls(**knobs, per_field=per_field)

    def updated(
        self, knobs: Mapping[str, float], per_field: Mapping[str, Mapping[str, float]]
    ) -> SamplingSettings:
        """These settings with some knobs (global, or of one field) replaced.

        A knob given globally replaces that knob for every field, per-field values of it
        included (so ``top_k_frac=0.1`` gives MMT's sampler back even for a model whose
        recommended settings keep more pitch codes); per-field values given here then apply.
        """
        merged = {
            f: {k: v for k, v in own.items() if k not in knobs} for f, own in self.per_field.items()
        }
        merged = {f: own for f, own in merged.items() if own}
        for name, own in per_field.items():
            merged.setdefault(name, {}).update(own)
        changes: dict[str, Any] = dict(knobs)
        return replace(self, **changes, per_field=merged)


MODES: tuple[str, ...] = (
    "unconditional",
    "instruments",
    "continuation",
    "infill",
    "add-part",
    "loop",
)
"""Generation modes a checkpoint's ``sampling.modes`` may give their own knobs."""


def recommended(sampling: Mapping[str, Any] | None, mode: str | None = None) -> SamplingSettings:
    """A checkpoint's recommended settings (its config.json's ``sampling``) for ``mode``.

    ``sampling.modes.MODE`` (knobs and ``per_field``, as :meth:`SamplingSettings.updated`
    takes them) is laid over the rest for that mode: a continuation is judged by how it carries
    its prompt on, a piece from nothing by how it stands as a whole, so each may be chosen on its
    own figures. No ``sampling``: MMT's sampler.

    Raises:
        UsageError: A knob out of range, or a mode that is not one of :data:`MODES`.
    """
    if not sampling:
        return SamplingSettings()
    base = SamplingSettings.from_dict(sampling)
    modes = dict(sampling.get("modes") or {})
    unknown = sorted(set(modes) - set(MODES))
    if unknown:
        raise UsageError(f"sampling: unknown mode {', '.join(unknown)} (modes: {', '.join(MODES)})")
    own = modes.get(mode) if mode is not None else None
    if not own:
        return base
    knobs = {k: own[k] for k in KNOBS if k in own}
    per_field = {str(f): dict(v) for f, v in dict(own.get("per_field") or {}).items()}
    return base.updated(knobs, per_field)


class FieldRule(NamedTuple):
    """The sampling rule of one field: temperature, top-k (k = vocabulary: off), top-p, min-p."""

    temperature: float
    k: int
    p: float
    min_p: float = 0.0


def _check_knobs(knobs: dict[str, Any], where: str) -> None:
    checks = {
        "temperature": lambda v: v >= 0,
        "top_k_frac": lambda v: 0 < v <= 1,
        "top_k": lambda v: v >= 0 and float(v).is_integer(),
        "top_p": lambda v: 0 < v <= 1,
        "min_p": lambda v: 0 <= v < 1,
    }
    wanted = {
        "temperature": ">= 0",
        "top_k_frac": "in (0, 1]",
        "top_k": "a whole number >= 0",
        "top_p": "in (0, 1]",
        "min_p": "in [0, 1)",
    }
    for name, value in knobs.items():
        if not isinstance(value, (int, float)) or not checks[name](value):
            raise UsageError(f"{name}{where} must be {wanted[name]}, got {value!r}")


__all__ = [
    "DEFAULT_TOP_K_FRAC",
    "KNOBS",
    "MODES",
    "FieldRule",
    "SamplingSettings",
    "recommended",
]
