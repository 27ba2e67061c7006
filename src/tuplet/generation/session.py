"""What every generation mode builds on: a loaded model, options, and the sampling session.

:class:`Session` samples with a request's options and converts between codes and note tables.

The modes themselves are in :mod:`tuplet.generation.generate` (and :mod:`tuplet.generation.loop`),
which also
re-exports everything here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tuplet.encoding import ONSET_ORDERS, EncodingConfig, decode, encode
from tuplet.errors import UsageError
from tuplet.generation.sample import (
    Constraints,
    Limits,
    SamplingSettings,
    default_model_path,
    sample_codes,
)
from tuplet.generation.settings import recommended
from tuplet.notes import Notes, maps_before, shift_ticks

if TYPE_CHECKING:
    from tuplet.model.transformer import MusicTransformer

DEFAULT_MAX_GAP_BEATS = 16
"""The ``gap`` rule's bound for a model whose config recommends none: four 4/4 bars."""
DEFAULT_MODEL_NAME = "default"
"""How reports name the shipped default model (its ``checkpoint_id`` identifies the version)."""
CONTEXT_SHARE = 0.5
"""A prompt keeps at most this share of the model's beats and events (the rest is for new music)."""
_BIG_BEAT = 1_000_000  # codes in piece coordinates: no beat limit


# ------------------------------------------------------------------------------ models
@dataclass(frozen=True)
class LoadedModel:
    """A model with the encoding it reads and its checkpoint's config.json."""

    model: MusicTransformer
    encoding: EncodingConfig
    info: dict[str, Any]

    def describe(self) -> dict[str, Any]:
        """What a report says about the model (JSON-safe)."""
        c = self.model.config
        return {
            "path": self.info.get("path"),
            "checkpoint_id": self.info.get("checkpoint_id"),
            "encoding": self.encoding.name,
            "max_beat": self.encoding.max_beat,
            "max_seq_len": c.max_seq_len,
            "parameters": self.info.get("parameters", self.model.num_parameters()),
            "layers": c.n_layer,
            "d_model": c.d_model,
            "position": c.position,
            "cascade": c.cascade,
            "field_order": list(c.field_order or c.field_names),
            "onset_order": c.onset_order,
            "dtype": self.info.get("dtype", "float32"),
        }

    @property
    def max_gap_beats(self) -> int:
        """The ``gap`` rule's bound: the checkpoint's (config.json's ``sampling``), else 16.

        The shipped model's is the 95th percentile of its training pieces' longest time between
        consecutive onsets.
        """
        recommended = (self.info.get("sampling") or {}).get("max_gap_beats")
        return int(recommended) if recommended else DEFAULT_MAX_GAP_BEATS

    @property
    def settings(self) -> SamplingSettings:
        """The checkpoint's recommended sampling (config.json's ``sampling``), else MMT's."""
        return self.settings_for(None)

    def settings_for(self, mode: str | None) -> SamplingSettings:
        """The recommended sampling of one generation mode (:func:`recommended`)."""
        return recommended(self.info.get("sampling"), mode)


DTYPES: tuple[str, ...] = ("float32", "bfloat16", "float16", "int8")


def load_model(
    path: str | Path | None = None, device: str = "cpu", dtype: str = "float32"
) -> LoadedModel:
    """Load a checkpoint folder, or the default model when ``path`` is None.

    Args:
        path: The checkpoint folder; None = :func:`tuplet.generation.sample.default_model_path`.
        device: Where to run it.
        dtype: ``float32`` (as trained); ``bfloat16`` / ``float16`` to halve the bytes of
            the transformer blocks' weights read per decoding step, or ``int8`` (CPU only) to
            quarter them (:mod:`tuplet.model.quantize`): faster on memory-bound CPUs, the
            numbers differ slightly.

    Raises:
        TupletError: No default model is installed, the checkpoint cannot be loaded, or an
            unknown dtype.
    """
    from tuplet.model.checkpoint import load_checkpoint

    if dtype not in DTYPES:
        raise UsageError(f"unknown dtype {dtype!r} (choose from {', '.join(DTYPES)})")
    model, info = load_checkpoint(default_model_path() if path is None else path, device)
    info = {**info, "dtype": dtype, "parameters": model.num_parameters()}
    if path is None:  # reports name the shipped model, not where this machine installed it
        info["path"] = DEFAULT_MODEL_NAME
    from tuplet.model.quantize import with_weights

    model = with_weights(model, dtype)
    return LoadedModel(model, EncodingConfig.from_dict(info["encoding"]), info)


# ------------------------------------------------------------------------------ requests
@dataclass(frozen=True)
class GenerationOptions:
    """Knobs every mode shares.

    Attributes:
        n: Pieces to generate.
        seed: Seed of the randomness; None draws one (reported in the result).
        settings: Temperature, top-k, top-p; None = the model's recommended settings
            (:attr:`LoadedModel.settings`).
        limits: Length limits; ``max_beats`` counts from the start of the piece.
        any_instrument: Let new notes use any instrument, not only the declared ones.
        progress: Show progress bars.
        rules_off: Sampler rules to switch off (:data:`tuplet.generation.rules.RULES`), e.g.
            ``("range",)`` to see what the model does by itself.
        decoder: How a decoding step runs: ``eager`` (the reference) or ``compiled`` (one
            compiled graph per step, :mod:`tuplet.model.compiled`: compiled on first use,
            then kept on disk; eager with a one-line note where compiling is unavailable).
    """

    n: int = 1
    seed: int | None = None
    settings: SamplingSettings | None = None
    limits: Limits = field(default_factory=Limits)
    any_instrument: bool = False
    progress: bool = False
    rules_off: tuple[str, ...] = ()
    decoder: str = "eager"


@dataclass(frozen=True)
class Piece:
    """One generated piece.

    Attributes:
        notes: The whole piece: from a prompt, its untouched notes and maps exactly as given
            (at its resolution) with the new notes added; else at 12 ticks per beat.
        codes: The piece as codes from beat 0 (beat codes may exceed the model's range).
        new_notes: How many of its notes the model wrote.
        details: Mode-specific facts for the report (JSON-safe).
    """

    notes: Notes
    codes: np.ndarray
    new_notes: int
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Generation:
    """The pieces of one request, with what the report needs."""

    mode: str
    pieces: list[Piece]
    seed: int
    seconds: float
    options: GenerationOptions
    request: dict[str, Any]

    @property
    def notes_per_second(self) -> float:
        """New notes of all pieces per second of generation."""
        return sum(p.new_notes for p in self.pieces) / max(self.seconds, 1e-9)


class Session:
    """What the sampling calls of one request share: the model, the randomness, the clock.

    The building block of the modes: it samples with the request's options and converts
    between code arrays (rows of the model's encoding, or of :attr:`big`, the same encoding
    without a beat limit, for whole pieces) and note tables.
    """

    def __init__(self, lm: LoadedModel, options: GenerationOptions) -> None:
        import secrets

        import torch

        if options.n < 1:
            raise UsageError(f"n must be at least 1, got {options.n}")
        if options.settings is None:
            options = replace(options, settings=lm.settings)
        if options.limits.max_gap_beats is None:
            gap = replace(options.limits, max_gap_beats=lm.max_gap_beats)
            options = replace(options, limits=gap)
        self.lm, self.options = lm, options
        self.enc = lm.encoding
        self.big = self.enc.with_max_beat(_BIG_BEAT)
        self.seed = secrets.randbits(31) if options.seed is None else int(options.seed)
        device = next(lm.model.parameters()).device
        self.generator = torch.Generator(device=device).manual_seed(self.seed)
        self.seconds = 0.0
        self.col = {name: i for i, name in enumerate(self.enc.fields)}
        self.types = self.enc.type_codes
        limit = lm.model.config.max_seq_len
        self.max_events = min(options.limits.max_events or limit, limit)

    def sample(self, prompt: np.ndarray, n: int, **kwargs: Any) -> list[np.ndarray]:
        """:func:`sample_codes` with the request's options.

        ``instruments`` and ``forbid_types`` go to the constraints; other keywords replace
        fields of the limits.
        """
        o = self.options
        constraints = Constraints(
            instruments=kwargs.pop("instruments", None),
            any_instrument=o.any_instrument,
            forbid_types=kwargs.pop("forbid_types", ()),
            disabled=frozenset(o.rules_off),
        )
        limits = replace(o.limits, **kwargs)
        start = time.perf_counter()
        out = sample_codes(
            self.lm.model,
            self.enc,
            prompt,
            n=n,
            settings=o.settings,
            limits=limits,
            constraints=constraints,
            generator=self.generator,
            progress=o.progress,
            decoder=o.decoder,
        )
        self.seconds += time.perf_counter() - start
        return out

    def finish(self, mode: str, pieces: list[Piece], request: dict[str, Any]) -> Generation:
        """The result of the request."""
        return Generation(mode, pieces, self.seed, self.seconds, self.options, request)

    # ------------------------------------------------------------------ code helpers
    def row(self, kind: str, **values: int) -> np.ndarray:
        """One event (1, F) of type ``kind`` with the given field codes (others 0)."""
        r = np.zeros((1, len(self.enc.fields)), dtype=np.int64)
        r[0, 0] = self.types[kind]
        for name, value in values.items():
            r[0, self.col[name]] = value
        return r

    def header(self, instruments: list[int]) -> np.ndarray:
        """Start-of-song, one row per instrument (sorted, once each), start-of-notes."""
        rows = [self.row("start-of-song")]
        rows += [self.row("instrument", instrument=i) for i in sorted(set(instruments))]
        return np.concatenate([*rows, self.row("start-of-notes")])

    def body(self, codes: np.ndarray) -> np.ndarray:
        """The timed rows of a sequence (no header, markers or end-of-song), in sorted order.

        By onset, then type, then the fields of the model's onset order
        (:data:`tuplet.encoding.ONSET_ORDERS`).
        """
        timed = [
            self.types[x] for x in ("time-signature", "key", "tempo", "note") if x in self.types
        ]
        rows = codes[np.isin(codes[:, 0], timed)]
        c = self.col
        within = ONSET_ORDERS[self.lm.model.config.onset_order]  # the model's order of a chord
        keys = [rows[:, c[x]] for x in reversed(within)]
        return rows[np.lexsort((*keys, rows[:, 0], rows[:, c["position"]], rows[:, c["beat"]]))]

    def whole(self, body: np.ndarray, instruments: list[int] | None = None) -> np.ndarray:
        """A complete sequence from timed rows; the header lists the notes' instruments."""
        notes = body[body[:, 0] == self.types["note"], self.col["instrument"]]
        head = self.header(sorted(set(notes.tolist()) | set(instruments or [])))
        return np.concatenate([head, body, self.row("end-of-song")])

    def declared(self, codes: np.ndarray) -> list[int]:
        """The instruments of a sequence's header."""
        return codes[codes[:, 0] == self.types["instrument"], self.col["instrument"]].tolist()

    def shift(self, rows: np.ndarray, beats: int) -> np.ndarray:
        """Rows moved ``beats`` later (rows without a beat stay)."""
        rows = rows.copy()
        timed = rows[:, self.col["beat"]] > 0
        rows[timed, self.col["beat"]] += beats
        return rows

    def encode_window(self, notes: Notes, start_beat: int, end_beat: int) -> np.ndarray:
        """Codes of the notes and map events in beats [start, end), moved to start at 0."""
        res = self.enc.resolution
        n = shift_ticks(notes, -start_beat * res)
        n = maps_before(
            n.select((n.onset_ticks >= 0) & (n.onset_ticks < (end_beat - start_beat) * res)),
            (end_beat - start_beat) * res,
        )
        return encode(n, self.enc)

    def piece(self, codes: np.ndarray, new_notes: int, **details: Any) -> Piece:
        """A result piece from a whole sequence in piece coordinates."""
        return Piece(decode(codes, self.big), codes, new_notes, details)

    def n_notes(self, codes: np.ndarray) -> int:
        """How many note rows."""
        return int((codes[:, 0] == self.types["note"]).sum())


__all__ = [
    "CONTEXT_SHARE",
    "DTYPES",
    "Generation",
    "GenerationOptions",
    "LoadedModel",
    "Piece",
    "Session",
    "load_model",
]
