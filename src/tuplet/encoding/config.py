"""The encoding configuration: which encoding, its fields, vocabularies and knobs.

An :class:`EncodingConfig` is saved with every dataset and checkpoint (:meth:`to_dict`) and
rebuilt from there (:meth:`from_dict`), never from today's defaults.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import numpy as np

from tuplet.encoding import vocab
from tuplet.errors import TupletError, UsageError

ENCODING_NAMES: tuple[str, ...] = ("mmt", "tuplet")

MMT_FIELDS: tuple[str, ...] = ("type", "beat", "position", "pitch", "duration", "instrument")
TUPLET_FIELDS: tuple[str, ...] = (*MMT_FIELDS, "velocity", "tempo", "meter", "key")

MMT_TYPES: tuple[str, ...] = (
    "start-of-song",
    "instrument",
    "start-of-notes",
    "note",
    "end-of-song",
)
TUPLET_TYPES: tuple[str, ...] = (
    "start-of-song",
    "instrument",
    "start-of-notes",
    "time-signature",
    "key",
    "tempo",
    "note",
    "end-of-song",
    # fill-in-the-middle: after the context, these two rows mark the span to fill (beats
    # [fill-start, fill-end), for one instrument or, with instrument 0, for all); the filled
    # notes follow, then end-of-song. See tuplet.encoding.fim.
    "fill-start",
    "fill-end",
)

# the fields each event type fills in (the type field always carries the type)
_DEFINED: dict[str, tuple[str, ...]] = {
    "start-of-song": ("type",),
    "instrument": ("type", "instrument"),
    "start-of-notes": ("type",),
    "time-signature": ("type", "beat", "position", "meter"),
    "key": ("type", "beat", "position", "key"),
    "tempo": ("type", "beat", "position", "tempo"),
    "note": ("type", "beat", "position", "pitch", "duration", "instrument", "velocity"),
    "end-of-song": ("type",),
    "fill-start": ("type", "beat", "instrument"),
    "fill-end": ("type", "beat", "instrument"),
}

DEFAULT_MAX_BEAT = 1025
"""Beats 0..1024 are kept, as the official MMT encoder does (it skips ``beat > 1024``)."""

_TUPLET_ONLY = ("velocity_bins", "tempo_bins_per_octave", "tempo_min_qpm", "tempo_max_qpm")


@dataclass(frozen=True)
class EncodingConfig:
    """Which note-tuple encoding, and its knobs.

    Attributes:
        name: ``"mmt"`` (the MMT encoding, exactly) or ``"tuplet"`` (extended).
        resolution: Ticks per beat of the codes; both encodings are defined at 12.
        max_beat: Notes and events at beat ``>= max_beat`` are dropped; beat codes are
            ``1..max_beat`` (beat ``b`` has code ``b + 1``), so the beat vocabulary is
            ``max_beat + 1``. The default, 1025, keeps beats 0..1024 exactly as the official
            encoder does (vocabulary 1026); the paper's trained model uses 256 (its dataset
            keeps beats 0..255, vocabulary 257).
        velocity_bins: tuplet only: velocity bins over 1..127.
        tempo_bins_per_octave: tuplet only: tempo bins are log-spaced, this many per doubling,
            centred on 120 qpm.
        tempo_min_qpm: tuplet only: the lowest bin centre is the first at or above this.
        tempo_max_qpm: tuplet only: the highest bin centre is the last at or below this.
    """

    name: str
    resolution: int = 12
    max_beat: int = DEFAULT_MAX_BEAT
    velocity_bins: int = 16
    tempo_bins_per_octave: int = 8
    tempo_min_qpm: float = 20.0
    tempo_max_qpm: float = 300.0

    def __post_init__(self) -> None:
        if self.name not in ENCODING_NAMES:
            raise UsageError(
                f"unknown encoding {self.name!r} (choose from {', '.join(ENCODING_NAMES)})"
            )
        if self.resolution != 12:
            raise UsageError(
                f"both encodings are defined at 12 ticks per beat, not {self.resolution}"
            )
        if not 1 <= int(self.max_beat) <= 1_000_000:
            raise UsageError(f"max_beat must be 1..1000000, got {self.max_beat}")
        if self.name == "mmt":
            defaults = {f.name: f.default for f in fields(self)}
            changed = [k for k in _TUPLET_ONLY if getattr(self, k) != defaults[k]]
            if changed:
                raise UsageError(f"{', '.join(changed)}: only the tuplet encoding has this option")
        if not 1 <= int(self.velocity_bins) <= 127:
            raise UsageError(f"velocity_bins must be 1..127, got {self.velocity_bins}")
        if not 1 <= int(self.tempo_bins_per_octave) <= 48:
            raise UsageError(
                f"tempo_bins_per_octave must be 1..48, got {self.tempo_bins_per_octave}"
            )
        low, high = vocab.tempo_steps(
            self.tempo_bins_per_octave, self.tempo_min_qpm, self.tempo_max_qpm
        )
        if not (0 < self.tempo_min_qpm < self.tempo_max_qpm) or high < low:
            raise UsageError(
                f"tempo range {self.tempo_min_qpm}..{self.tempo_max_qpm} qpm holds no tempo bin"
            )

    # ---------------------------------------------------------------------- vocabulary
    @property
    def fields(self) -> tuple[str, ...]:
        """The names of the code columns, in order."""
        return MMT_FIELDS if self.name == "mmt" else TUPLET_FIELDS

    @property
    def event_types(self) -> tuple[str, ...]:
        """The event type names; a type's code is its position."""
        return MMT_TYPES if self.name == "mmt" else TUPLET_TYPES

    @property
    def type_codes(self) -> dict[str, int]:
        """Event type name -> type code."""
        return {name: code for code, name in enumerate(self.event_types)}

    @property
    def instrument_names(self) -> tuple[str, ...]:
        """Instrument names; code ``c`` is entry ``c - 1`` (tuplet appends ``"drums"``)."""
        if self.name == "mmt":
            return vocab.INSTRUMENT_NAMES
        return (*vocab.INSTRUMENT_NAMES, vocab.DRUMS_NAME)

    @property
    def n_tempo_bins(self) -> int:
        """How many tempo codes (besides 0) the tuplet encoding has."""
        low, high = vocab.tempo_steps(
            self.tempo_bins_per_octave, self.tempo_min_qpm, self.tempo_max_qpm
        )
        return high - low + 1

    @property
    def vocab_sizes(self) -> tuple[int, ...]:
        """Number of codes of each field (codes run 0..size-1; 0 means undefined)."""
        sizes = {
            "type": len(self.event_types),
            "beat": self.max_beat + 1,
            "position": self.resolution + 1,
            "pitch": 129,
            "duration": len(vocab.KNOWN_DURATIONS_TICKS) + 1,
            "instrument": len(self.instrument_names) + 1,
            "velocity": self.velocity_bins + 1,
            "tempo": self.n_tempo_bins + 1,
            "meter": vocab.N_METERS + 1,
            "key": vocab.N_KEYS + 1,
        }
        return tuple(sizes[f] for f in self.fields)

    @property
    def defined_fields(self) -> np.ndarray:
        """Which fields each event type fills in (the rest are 0): bool (n_types, n_fields)."""
        table = np.zeros((len(self.event_types), len(self.fields)), dtype=bool)
        for t, name in enumerate(self.event_types):
            for f in _DEFINED[name]:
                if f in self.fields:
                    table[t, self.fields.index(f)] = True
        return table

    def field_index(self, name: str) -> int:
        """The column of a field.

        Raises:
            UsageError: The encoding has no such field.
        """
        if name not in self.fields:
            raise UsageError(
                f"the {self.name} encoding has no field {name!r} (fields: {', '.join(self.fields)})"
            )
        return self.fields.index(name)

    def with_max_beat(self, max_beat: int) -> EncodingConfig:
        """The same encoding keeping beats ``0..max_beat - 1`` (beat vocabulary max_beat + 1)."""
        return replace(self, max_beat=max_beat)

    # ---------------------------------------------------------------------- saving
    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict: the knobs, plus ``fields`` and ``vocab_sizes`` for the reader."""
        return {**asdict(self), "fields": list(self.fields), "vocab_sizes": list(self.vocab_sizes)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EncodingConfig:
        """Rebuild a config saved by :meth:`to_dict`.

        Raises:
            UsageError: Unknown keys, bad values, or saved ``fields``/``vocab_sizes`` that do
                not match what this version of tuplet builds from the knobs.
        """
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known - {"fields", "vocab_sizes"})
        if unknown:
            raise UsageError(f"unknown encoding config keys: {', '.join(unknown)}")
        if "name" not in d:
            raise UsageError("encoding config has no 'name'")
        config = cls(**{k: v for k, v in d.items() if k in known})
        for key in ("fields", "vocab_sizes"):
            if key in d and list(d[key]) != list(getattr(config, key)):
                raise UsageError(
                    f"saved encoding {key} {list(d[key])} differ from "
                    f"{list(getattr(config, key))} built from the same settings"
                )
        return config


def get_encoding(name: str, **overrides: Any) -> EncodingConfig:
    """The configuration of a named encoding, with optional knob overrides.

    Args:
        name: ``"mmt"`` or ``"tuplet"``.
        **overrides: Fields of :class:`EncodingConfig` to change, e.g. ``max_beat=256``.

    Returns:
        The config.

    Raises:
        UsageError: Unknown name, unknown knob, or a bad value.
    """
    known = {f.name for f in fields(EncodingConfig)} - {"name"}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise UsageError(
            f"unknown encoding option {', '.join(unknown)} (options: {', '.join(sorted(known))})"
        )
    return EncodingConfig(name, **overrides)


def instrument_code(name: str, config: EncodingConfig) -> int:
    """The instrument code of one of the encoding's own instrument names (in any letter case).

    This is the strict lookup: ``strings`` is MMT's string ensemble here. The names people
    type (``guitar``, ``choir``, the family ``strings``...) go through
    :func:`tuplet.instruments.resolve_instruments` first.

    Raises:
        UsageError: Unknown name; the message suggests the closest valid one.
    """
    from tuplet.instruments import suggestion

    names = config.instrument_names
    key = name.strip().lower()  # "Piano" is piano
    lowered = [n.lower() for n in names]
    if key not in lowered:
        raise UsageError(
            f"unknown instrument {name!r} in the {config.name} encoding{suggestion(key, names)}"
        )
    return lowered.index(key) + 1


# ------------------------------------------------------------------------ code arrays
def check_codes(codes: Any, config: EncodingConfig) -> np.ndarray:
    """Codes as an int64 array of shape (n_events, n_fields), cut at the first end-of-song.

    Values that are not whole numbers (from a float array) become -1, so their rows are
    invalid rather than an error.

    Raises:
        TupletError: The array does not have two dimensions with one column per field, or
            does not hold numbers.
    """
    a = np.asarray(codes)
    n_fields = len(config.fields)
    if a.ndim != 2 or a.shape[1] != n_fields:
        raise TupletError(
            f"{config.name} codes must have shape (n_events, {n_fields}), got {a.shape}"
        )
    if a.dtype.kind == "f":
        whole = np.isfinite(a) & (a == np.round(a)) & (np.abs(a) < 2**62)
        a = np.where(whole, a, -1)
    elif a.dtype.kind not in "biu":
        raise TupletError(f"{config.name} codes must be integers, got dtype {a.dtype}")
    a = a.astype(np.int64)
    end = np.flatnonzero(a[:, 0] == config.type_codes["end-of-song"])
    return a[: end[0]] if len(end) else a


def valid_rows(codes: np.ndarray, config: EncodingConfig, event_type: str) -> np.ndarray:
    """Rows of ``event_type`` whose defined fields all hold a meaningful code (1..size-1)."""
    t = config.type_codes[event_type]
    columns = np.flatnonzero(config.defined_fields[t])
    columns = columns[columns != 0]
    sizes = np.asarray(config.vocab_sizes, dtype=np.int64)[columns]
    values = codes[:, columns]
    return (codes[:, 0] == t) & ((values >= 1) & (values < sizes)).all(axis=1)
