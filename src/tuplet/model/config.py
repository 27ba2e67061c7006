"""The model's configuration: :class:`ModelConfig`, the named presets and the cascade orders.

Everything a checkpoint's ``config.json`` records about the model's shape (see
:mod:`tuplet.model.transformer` for what each switch does), checked when it is built, so a bad
value fails with one line before any weight exists.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields
from typing import Any

from tuplet.encoding import ONSET_ORDERS
from tuplet.errors import UsageError

POSITIONS: tuple[str, ...] = ("absolute", "rotary", "none", "onset-rotary", "hybrid-rotary")
_ONSET_POSITIONS = ("onset-rotary", "hybrid-rotary")


# ------------------------------------------------------------------------------ config
@dataclass(frozen=True)
class ModelConfig:
    """The architecture; saved in every checkpoint and rebuilt from there.

    Attributes:
        field_names: Name of each code column, e.g. ``("type", "beat", ...)``.
        vocab_sizes: Number of codes of each field (codes ``0..size-1``).
        n_layer: Transformer blocks.
        n_head: Attention heads per block.
        d_model: Width of the residual stream; a multiple of ``n_head``.
        ff_mult: Feed-forward width as a multiple of ``d_model``.
        dropout: Dropout on the embeddings, the attention weights and inside the feed-forward.
        max_seq_len: Longest sequence (events); the size of the absolute position table.
        position: One of :data:`POSITIONS`.
        cascade: Predict the fields of an event one after another (within-note dependence).
        clean_loss: Mask padding and undefined fields; train on the per-note NLL.
        defined_fields: ``defined_fields[type][field]`` is True when events of that type carry
            information in that field (the ``type`` field always does); None = every field of
            every real event is supervised.
        beat_field: Name of the beat field (onset positions need it; code ``b`` = beat ``b-1``).
        position_field: Name of the within-beat position field (code ``p`` = tick ``p-1``).
        resolution: Ticks per beat of the codes; onset ticks = ``beat * resolution + position``.
        rotary_base: Base of the rotary frequencies.
        field_order: With ``cascade``, the order in which an event's fields are predicted
            (all field names, the first in its place); None = column order. It changes no
            weight's shape, so a fine-tune may change it.
        onset_order: How the notes of one onset follow each other in what the model reads and
            writes, a name of :data:`tuplet.encoding.ONSET_ORDERS` (``pitch``: rising, as
            encoded; ``instrument``: by instrument, then pitch). Training data, prompts and
            scored pieces are put in this order (:func:`tuplet.encoding.order_onsets`).
    """

    field_names: tuple[str, ...]
    vocab_sizes: tuple[int, ...]
    n_layer: int = 4
    n_head: int = 4
    d_model: int = 256
    ff_mult: int = 4
    dropout: float = 0.1
    max_seq_len: int = 1024
    position: str = "absolute"
    cascade: bool = True
    clean_loss: bool = True
    defined_fields: tuple[tuple[bool, ...], ...] | None = None
    beat_field: str = "beat"
    position_field: str = "position"
    resolution: int = 12
    rotary_base: float = 10000.0
    field_order: tuple[str, ...] | None = None
    onset_order: str = "pitch"

    def __post_init__(self) -> None:
        # accept lists (JSON) but store tuples, so the config stays hashable and frozen
        object.__setattr__(self, "field_names", tuple(str(n) for n in self.field_names))
        object.__setattr__(self, "vocab_sizes", tuple(int(v) for v in self.vocab_sizes))
        if self.defined_fields is not None:
            table = tuple(tuple(bool(x) for x in row) for row in self.defined_fields)
            object.__setattr__(self, "defined_fields", table)
        if self.field_order is not None:
            object.__setattr__(self, "field_order", tuple(str(f) for f in self.field_order))
        problem = next(self._problems(), None)
        if problem is not None:
            raise UsageError(f"model config: {problem}")

    def _problems(self) -> Iterator[str]:
        n = len(self.field_names)
        if n == 0 or len(self.vocab_sizes) != n or min(self.vocab_sizes) < 1:
            yield f"{n} field names need as many vocabulary sizes >= 1, got {self.vocab_sizes}"
            return
        for name in ("n_layer", "n_head", "d_model", "ff_mult", "max_seq_len", "resolution"):
            if int(getattr(self, name)) < 1:
                yield f"{name} must be >= 1, got {getattr(self, name)}"
                return
        if self.d_model % self.n_head:
            yield f"d_model {self.d_model} is not a multiple of n_head {self.n_head}"
        if not 0.0 <= self.dropout < 1.0:
            yield f"dropout must be in [0, 1), got {self.dropout}"
        if self.position not in POSITIONS:
            yield f"unknown position {self.position!r} (choose from {', '.join(POSITIONS)})"
        if self.position not in ("absolute", "none") and self.head_dim % 4:
            yield f"rotary positions need a head size that is a multiple of 4, not {self.head_dim}"
        for name in (self.beat_field, self.position_field):
            if self.position in _ONSET_POSITIONS and name not in self.field_names:
                yield f"{self.position} positions need a field {name!r}"
        table = self.defined_fields
        if table is not None and (
            len(table) != self.vocab_sizes[0] or any(len(row) != n for row in table)
        ):
            yield f"defined_fields must be {self.vocab_sizes[0]} rows (types) of {n} booleans"
        if self.onset_order not in ONSET_ORDERS:
            yield f"unknown onset_order {self.onset_order!r} ({', '.join(ONSET_ORDERS)})"
        order = self.field_order
        if order is not None:
            if sorted(order) != sorted(self.field_names):
                yield f"field_order {list(order)} must name each field once: {self.field_names}"
            elif order[0] != self.field_names[0]:
                yield f"field_order must keep {self.field_names[0]!r} first"
            elif not self.cascade:
                yield "field_order needs cascade (without it the fields are independent)"

    @property
    def n_fields(self) -> int:
        """Number of code columns ``F``."""
        return len(self.field_names)

    @property
    def order(self) -> tuple[int, ...]:
        """The field indices in the order an event's fields are predicted."""
        if self.field_order is None:
            return tuple(range(self.n_fields))
        return tuple(self.field_names.index(f) for f in self.field_order)

    @property
    def head_dim(self) -> int:
        """Width of one attention head."""
        return self.d_model // self.n_head

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict with every field (lists for tuples)."""
        d = asdict(self)
        d["field_names"] = list(self.field_names)
        if self.field_order is not None:
            d["field_order"] = list(self.field_order)
        d["vocab_sizes"] = list(self.vocab_sizes)
        if self.defined_fields is not None:
            d["defined_fields"] = [list(row) for row in self.defined_fields]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelConfig:
        """Rebuild a config saved by :meth:`to_dict`; every field must be present.

        Those added since checkpoints were first written (:data:`_LATER_FIELDS`) may be
        missing: older checkpoints lack them.

        Raises:
            UsageError: Missing or unknown keys, or invalid values.
        """
        names = {f.name for f in fields(cls)}
        unknown, missing = sorted(set(d) - names), sorted(names - set(d) - _LATER_FIELDS)
        if unknown:
            raise UsageError(f"model config: unknown keys {', '.join(unknown)}")
        if missing:
            raise UsageError(f"model config: missing keys {', '.join(missing)}")
        return cls(**d)


_LATER_FIELDS = frozenset({"field_order", "onset_order"})
"""Config fields added after checkpoints were first written: absent = their default."""

FIELD_ORDERS: dict[str, tuple[str, ...]] = {
    # the instrument before the pitch: an instrument's range is then p(pitch | instrument), and
    # the polyphony rule picks a free instrument before its pitch is drawn
    "instrument-first": ("type", "beat", "position", "instrument", "pitch", "duration"),
}
"""Named cascade orders (``tuplet train --field-order``); fields not named keep their place
after these."""


def field_order(name: str, field_names: tuple[str, ...]) -> tuple[str, ...] | None:
    """The full order a name of :data:`FIELD_ORDERS` (or ``columns``, or a comma list) means.

    Raises:
        UsageError: An unknown name, or a list that is not an order of ``field_names``.
    """
    if name == "columns":
        return None
    if name in FIELD_ORDERS:
        head = [f for f in FIELD_ORDERS[name] if f in field_names]
    else:
        head = [f.strip() for f in name.split(",") if f.strip()]
        if len(head) < 2:
            raise UsageError(
                f"unknown field order {name!r} (choose from columns, "
                f"{', '.join(FIELD_ORDERS)}, or list the fields)"
            )
    unknown = sorted(set(head) - set(field_names))
    if unknown:
        raise UsageError(f"field order names no field {', '.join(unknown)} ({field_names})")
    return tuple(head) + tuple(f for f in field_names if f not in head)


PRESETS: dict[str, dict[str, Any]] = {
    # for tests: builds and runs in milliseconds
    "tiny": {"n_layer": 2, "n_head": 2, "d_model": 32, "dropout": 0.0},
    # the CPU default: ~3.5 M parameters with the MMT vocabulary
    "small": {"n_layer": 4, "n_head": 4, "d_model": 256, "dropout": 0.1},
    # the paper's model, exactly (19,944,950 parameters with vocab [5, 257, 13, 129, 33, 65])
    "mmt-paper": {
        "n_layer": 6,
        "n_head": 8,
        "d_model": 512,
        "ff_mult": 4,
        "dropout": 0.2,
        "max_seq_len": 1024,
        "position": "absolute",
        "cascade": False,
        "clean_loss": False,
    },
}


def preset(name: str, field_names: Any, vocab_sizes: Any, **overrides: Any) -> ModelConfig:
    """A named configuration for an encoding's fields, with some fields changed.

    Args:
        name: One of :data:`PRESETS` (``tiny``, ``small``, ``mmt-paper``).
        field_names: The encoding's field names.
        vocab_sizes: The encoding's vocabulary sizes.
        **overrides: :class:`ModelConfig` fields to change (e.g. ``position="rotary"``).

    Returns:
        The config.

    Raises:
        UsageError: Unknown preset or override, or an invalid resulting config.
    """
    if name not in PRESETS:
        raise UsageError(f"unknown model preset {name!r} (choose from {', '.join(PRESETS)})")
    known = {f.name for f in fields(ModelConfig)} - {"field_names", "vocab_sizes"}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise UsageError(f"unknown model config field(s): {', '.join(unknown)}")
    return ModelConfig(
        field_names=tuple(field_names),
        vocab_sizes=tuple(vocab_sizes),
        **{**PRESETS[name], **overrides},
    )
