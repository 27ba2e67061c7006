"""Musical self-attention: how much each head attends to notes at a given musical offset.

For a field ``d`` (beat, position, pitch...), query row ``s`` and key row ``t < s`` with
attention weight ``a[s, t]``, summed over a set of sequences (MMT paper, section 5; see
``docs/attention.md``)::

    gamma[k] = sum a[s, t] * 1[x_t - x_s == k]  /  sum a[s, t]        (mean relative attention)
    baseline[k] = #pairs with x_t - x_s == k  /  #pairs
    gain[k] = gamma[k] - baseline[k]

``k`` is the key's code minus the query's code (negative: the past for beats, lower pitches).
Only pairs with ``t < s`` count, both rows real (not padding) and both codes defined (not 0);
:func:`gamma_from_maps` and :func:`analyze_attention` compute every offset for every layer and
head. The ``all-pairs`` baseline reproduces the official MMT code, whose baseline counted every
ordered pair of rows with defined codes, ``t = s`` and ``t > s`` included. The ``uniform``
baseline is the gamma of a head that attends equally to every earlier event: the formula's
baseline weighs each query by its number of keys, so even such a head shows a gain at the
nearest offsets; this one does not. gamma is the same under every baseline.

How it is computed, without a Python loop over pairs: for each sequence the pairs ``t < s`` are
listed once; for each field, the bin of every pair (``x_t - x_s + shift``, or a spare bin when
a code is undefined) is computed once and shared by every layer and head; for each layer, the
weights of those pairs are gathered once (H, N) and summed per bin with one ``scatter_add_``
per field whose index is broadcast over the heads.

Results are plain numpy arrays (:class:`AttentionStats`); :mod:`tuplet.analysis.attention_plots`
puts the strongest gains into words, saves everything (CSV, JSON, NPZ, a text summary) and
draws the heatmaps. Importing this module does not
import torch.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from tuplet.errors import UsageError

if TYPE_CHECKING:
    import torch

    from tuplet.encoding import EncodingConfig
    from tuplet.model.transformer import MusicTransformer

BASELINES: tuple[str, ...] = ("causal", "all-pairs", "uniform")
"""``causal``: pairs ``t < s`` (the formula); ``all-pairs``: every pair (the official code);
``uniform``: a head attending equally to every earlier event."""

MMT_FIELDS: tuple[str, ...] = ("beat", "position", "pitch", "duration", "instrument")
"""Fields analysed by default in every encoding."""

EXTRA_FIELDS: tuple[str, ...] = ("velocity",)
"""Extended-encoding fields analysed by default: velocity sits on every note. Tempo, meter and
key are left out by default (they sit on a few meta rows per piece, so their pairs are few and
say nothing about notes); ask for them with ``fields=``."""

CATEGORICAL_FIELDS: tuple[str, ...] = ("instrument", "meter", "key")
"""Fields whose codes are names, not quantities: only offset 0 (the same value) means much."""

INTERVAL_NAMES: tuple[str, ...] = (
    "unison", "m2", "M2", "m3", "M3", "P4", "TT", "P5", "m6", "M6", "m7", "M7", "octave",
)  # fmt: skip
"""Names of the intervals 0..12 semitones (TT = tritone)."""

FORMAT = "tuplet-attention"
FORMAT_VERSION = 1


# ------------------------------------------------------------------------------ labels
def interval_name(semitones: int) -> str:
    """The name of a pitch interval: ``7 -> "P5"``, ``-12 -> "-octave"``, ``19 -> "P5+octave"``.

    Negative intervals (the key lies below the query) get a leading ``-``; intervals past an
    octave are named ``<simple>+octave`` or ``<simple>+N octaves``.
    """
    sign = "-" if semitones < 0 else ""
    n = abs(int(semitones))
    if n <= 12:
        return sign + INTERVAL_NAMES[n]
    octaves, rest = divmod(n, 12)
    if rest == 0:
        return f"{sign}{octaves} octaves"
    return f"{sign}{INTERVAL_NAMES[rest]}+" + ("octave" if octaves == 1 else f"{octaves} octaves")


def describe_offset(field_name: str, offset: int) -> str:
    """Words for one offset of a field, e.g. ``"beat -4"``, ``"pitch +7 (P5)"``."""
    k = int(offset)
    text = f"{field_name} {k:+d}" if k else f"{field_name} 0"
    if field_name == "pitch":
        return f"{text} ({interval_name(k)})"
    if field_name in CATEGORICAL_FIELDS and k == 0:
        return f"{text} (same {field_name})"
    return text


def default_fields(encoding: EncodingConfig) -> tuple[str, ...]:
    """The fields :func:`analyze_attention` looks at by default for an encoding."""
    return tuple(f for f in (*MMT_FIELDS, *EXTRA_FIELDS) if f in encoding.fields)


def default_window(field_name: str, encoding: EncodingConfig) -> tuple[int, int]:
    """The offsets shown in tables and plots (everything is computed; see the module docs).

    beat -32..0 (eight 4-beat bars back), position -11..11, pitch -24..24 (two octaves);
    every offset of the smaller vocabularies (duration, instrument, velocity, tempo...).
    """
    full = encoding.vocab_sizes[encoding.field_index(field_name)] - 2
    window = {"beat": (-32, 0), "position": (-11, 11), "pitch": (-24, 24)}
    lo, hi = window.get(field_name, (-full, full))
    return max(lo, -full), min(hi, full)


def _check_fields(fields: Sequence[str] | None, encoding: EncodingConfig) -> tuple[str, ...]:
    if fields is None:
        return default_fields(encoding)
    chosen = tuple(dict.fromkeys(fields))
    for name in chosen:
        encoding.field_index(name)  # raises UsageError naming the valid fields
        if name == "type":
            raise UsageError("the type field has no musical offset; choose other fields")
    if not chosen:
        raise UsageError("choose at least one field")
    return chosen


# ------------------------------------------------------------------------------ results
@dataclass(frozen=True)
class FieldAttention:
    """Attention by offset for one field, summed over sequences (numpy arrays).

    Attributes:
        field: The field name.
        offsets: (K,) int64, key code minus query code, ``-(V-2)..V-2`` for vocabulary V.
        weight: (L, H, K) float64, summed attention weight of the valid pairs ``t < s`` with
            that offset, per layer and head.
        pairs: (K,) int64, number of valid pairs ``t < s`` with that offset.
        all_pairs: (K,) int64, the same over every ordered pair of rows with defined codes
            (``t >= s`` too): the official MMT code's count.
        uniform: (K,) float64, the weight a head attending equally to every earlier real row
            (``1 / #earlier rows`` on each) puts on the valid pairs at that offset.
        baseline_kind: ``"causal"`` (from ``pairs``), ``"all-pairs"`` or ``"uniform"``.
    """

    field: str
    offsets: np.ndarray
    weight: np.ndarray
    pairs: np.ndarray
    all_pairs: np.ndarray
    uniform: np.ndarray
    baseline_kind: str = "causal"

    @property
    def gamma(self) -> np.ndarray:
        """(L, H, K) mean relative attention; NaN for a head that saw no valid pair."""
        total = self.weight.sum(axis=-1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(total > 0, self.weight / total, np.nan)

    @property
    def baseline(self) -> np.ndarray:
        """(K,) share of the pairs at each offset (NaN if there were no pairs at all)."""
        counts = {"causal": self.pairs, "all-pairs": self.all_pairs}.get(
            self.baseline_kind, self.uniform
        )
        total = counts.sum()
        if total == 0:
            return np.full(counts.shape, np.nan)
        return counts / total

    @property
    def gain(self) -> np.ndarray:
        """(L, H, K) gamma minus the baseline."""
        return self.gamma - self.baseline

    @property
    def gamma_mean(self) -> np.ndarray:
        """(L, K) gamma averaged over heads (each head weighs the same)."""
        gamma = self.gamma
        seen = ~np.isnan(gamma)
        count = seen.sum(axis=1)
        total = np.where(seen, gamma, 0.0).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(count > 0, total / np.maximum(count, 1), np.nan)

    @property
    def gain_mean(self) -> np.ndarray:
        """(L, K) the gain of the head-averaged gamma."""
        return self.gamma_mean - self.baseline

    def window(self, lo: int, hi: int) -> np.ndarray:
        """Indices of the offsets ``lo..hi`` (both included) into the K axis."""
        return np.flatnonzero((self.offsets >= lo) & (self.offsets <= hi))


@dataclass(frozen=True)
class AttentionStats:
    """Musical self-attention of a model over a set of sequences.

    Attributes:
        fields: Field name -> :class:`FieldAttention`, in the order analysed.
        n_layers: Layers of the model (L).
        n_heads: Heads per layer (H).
        n_sequences: Sequences analysed.
        n_events: Real events (rows) in them.
        baseline: ``"causal"``, ``"all-pairs"`` or ``"uniform"`` (what the gains use).
        notes_only: True when only note rows took part (as queries and as keys).
        meta: Facts saved with the results (the CLI records model, data and split).
    """

    fields: dict[str, FieldAttention]
    n_layers: int
    n_heads: int
    n_sequences: int
    n_events: int
    baseline: str = "causal"
    notes_only: bool = False
    meta: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, name: str) -> FieldAttention:
        if name not in self.fields:
            raise UsageError(f"no attention statistics for field {name!r} ({', '.join(self)})")
        return self.fields[name]

    def __iter__(self) -> Any:
        return iter(self.fields)

    def with_baseline(self, baseline: str) -> AttentionStats:
        """The same statistics with the gains measured against the other baseline."""
        _check_baseline(baseline)
        fields = {n: replace(f, baseline_kind=baseline) for n, f in self.fields.items()}
        return replace(self, fields=fields, baseline=baseline)


def _check_baseline(baseline: str) -> None:
    if baseline not in BASELINES:
        raise UsageError(f"unknown baseline {baseline!r} (choose from {', '.join(BASELINES)})")


# ------------------------------------------------------------------------------ counting
_COPIES = 4
"""Copies of the offset bins the weights are scattered into (summed afterwards)."""


class _Accumulator:
    """Sums of attention weight and pair counts per field, offset, layer and head."""

    def __init__(
        self,
        encoding: EncodingConfig,
        fields: tuple[str, ...],
        n_layers: int,
        n_heads: int,
        notes_only: bool,
    ) -> None:
        self.encoding = encoding
        self.fields = fields
        self.columns = [encoding.field_index(f) for f in fields]
        self.vocab = [encoding.vocab_sizes[c] for c in self.columns]
        self.n_offsets = [max(2 * v - 3, 1) for v in self.vocab]  # k in -(V-2)..V-2
        self.n_layers, self.n_heads = n_layers, n_heads
        self.notes_only = notes_only
        self.note_type = encoding.type_codes["note"]
        self.weight = [np.zeros((n_layers, n_heads, k)) for k in self.n_offsets]
        self.pairs = [np.zeros(k, dtype=np.int64) for k in self.n_offsets]
        self.all_pairs = [np.zeros(k, dtype=np.int64) for k in self.n_offsets]
        self.uniform = [np.zeros(k) for k in self.n_offsets]
        self.n_sequences = 0
        self.n_events = 0
        self._pair_cache: dict[tuple[int, int, str], tuple[torch.Tensor, ...]] = {}

    def _pairs(self, n: int, T: int, device: Any) -> tuple[torch.Tensor, ...]:
        """Every pair t < s < n: its position in the (n, T) rows of a map, s, t, and copy."""
        import torch

        key = (n, T, str(device))
        if key not in self._pair_cache:
            lower = torch.ones(n, T, dtype=torch.bool, device=device).tril(-1).view(-1)
            flat = torch.nonzero(lower).flatten()  # (N,)
            t_of = flat % T
            self._pair_cache = {key: (flat, flat // T, t_of, t_of % _COPIES)}  # keep one
        return self._pair_cache[key]

    def add(self, maps: list[torch.Tensor], codes: torch.Tensor, real: torch.Tensor) -> None:
        """Add one batch: maps (B, H, T, T) per layer, codes (B, T, F) long, real (B, T) bool."""
        import torch

        B, T, _ = codes.shape
        if len(maps) != self.n_layers:
            raise UsageError(f"expected {self.n_layers} attention maps, got {len(maps)}")
        for a in maps:
            if tuple(a.shape) != (B, self.n_heads, T, T):
                raise UsageError(
                    f"attention maps must be (batch, heads, events, events) = "
                    f"{(B, self.n_heads, T, T)}, got {tuple(a.shape)}"
                )
        device = maps[0].device
        codes, real = codes.to(device), real.to(device).bool()
        if self.notes_only:
            real = real & (codes[..., 0] == self.note_type)
        H = self.n_heads
        for b in range(B):
            rows = torch.nonzero(real[b]).flatten()
            if len(rows) == 0:
                continue
            self.n_sequences += 1
            self.n_events += len(rows)
            n = int(rows[-1]) + 1  # rows past the last real one are padding: skip them
            flat, s_of, t_of, copy = self._pairs(n, T, device)
            earlier = torch.cumsum(real[b].long(), 0) - real[b].long()  # real rows before s
            share = 1.0 / earlier.double().clamp(min=1).index_select(0, s_of)  # uniform head
            index = []
            for i, (col, v, k) in enumerate(
                zip(self.columns, self.vocab, self.n_offsets, strict=True)
            ):
                x = codes[b, :, col]
                ok = real[b] & (x > 0) & (x < v)
                # the bin of each pair: x_t - x_s + shift when both codes are defined, else k
                both = ok.index_select(0, s_of) & ok.index_select(0, t_of)
                offset = x.index_select(0, t_of) - x.index_select(0, s_of)
                pair_bin = torch.where(both, offset + (v - 2), k)
                self.pairs[i] += torch.bincount(pair_bin, minlength=k + 1)[:k].cpu().numpy()
                hist = torch.bincount(x[ok], minlength=v)[1:].cpu().numpy()
                # every ordered pair (official baseline): the autocorrelation of the histogram
                self.all_pairs[i] += np.correlate(hist, hist, mode="full")[:k]
                uniform = torch.bincount(pair_bin, weights=share, minlength=k + 1)[:k]
                self.uniform[i] += uniform.cpu().numpy()
                # neighbouring keys often share a bin; spreading them over _COPIES copies of
                # the bins keeps the additions from waiting on each other
                index.append((pair_bin * _COPIES + copy)[None, :].expand(H, -1))
            sums = [torch.zeros(self.n_layers, H, (k + 1) * _COPIES, device=device)
                    for k in self.n_offsets]  # fmt: skip
            for layer, a in enumerate(maps):
                rows_of_a = a[b, :, :n, :].float().reshape(H, n * T)  # a view
                weights = rows_of_a.index_select(1, flat)  # (H, N): only the pairs t < s
                for i in range(len(self.fields)):
                    sums[i][layer].scatter_add_(1, index[i], weights)
            for i, k in enumerate(self.n_offsets):
                per_bin = sums[i].view(self.n_layers, H, k + 1, _COPIES).sum(-1)
                self.weight[i] += per_bin[..., :k].double().cpu().numpy()

    def result(self, baseline: str, meta: dict[str, Any] | None = None) -> AttentionStats:
        fields = {}
        for i, name in enumerate(self.fields):
            shift = self.vocab[i] - 2
            fields[name] = FieldAttention(
                field=name,
                offsets=np.arange(self.n_offsets[i], dtype=np.int64) - shift,
                weight=self.weight[i].copy(),
                pairs=self.pairs[i].copy(),
                all_pairs=self.all_pairs[i].copy(),
                uniform=self.uniform[i].copy(),
                baseline_kind=baseline,
            )
        return AttentionStats(
            fields=fields,
            n_layers=self.n_layers,
            n_heads=self.n_heads,
            n_sequences=self.n_sequences,
            n_events=self.n_events,
            baseline=baseline,
            notes_only=self.notes_only,
            meta=dict(meta or {}),
        )


def _as_tensor(x: Any) -> torch.Tensor:
    import torch

    return x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))


def gamma_from_maps(
    attention: Any,
    codes: Any,
    encoding: EncodingConfig,
    *,
    fields: Sequence[str] | None = None,
    mask: Any = None,
    baseline: str = "causal",
    notes_only: bool = False,
) -> AttentionStats:
    """Musical self-attention of given attention maps.

    Args:
        attention: The weights ``a[s, t]`` of query ``s`` to key ``t``: a list with one
            (B, H, T, T) array or tensor per layer (what the model returns), or one array of
            shape (L, B, H, T, T). With 2-D ``codes`` (one sequence) drop the B axis. Weights
            at ``t >= s`` are ignored, so any map can be given.
        codes: (B, T, F) or (T, F) integer codes of the sequences, in ``encoding``.
        encoding: The encoding of the codes.
        fields: Fields to analyse (default :func:`default_fields`).
        mask: (B, T) bool, True for real rows (or (T,) for one sequence); None: all real.
        baseline: ``"causal"``, ``"all-pairs"`` or ``"uniform"`` (see the module docstring).
        notes_only: Count only pairs of two note rows.

    Returns:
        The statistics (``n_layers`` = the number of maps).

    Raises:
        UsageError: Shapes that do not fit, an unknown field or baseline.
    """
    import torch

    _check_baseline(baseline)
    chosen = _check_fields(fields, encoding)
    c = _as_tensor(codes).long()
    single = c.dim() == 2
    if single:
        c = c[None]
    if c.dim() != 3 or c.shape[-1] != len(encoding.fields):
        raise UsageError(
            f"codes must be (batch, events, {len(encoding.fields)}), got {tuple(c.shape)}"
        )
    if isinstance(attention, (list, tuple)):
        maps = [_as_tensor(a) for a in attention]
    else:
        stacked = _as_tensor(attention)
        maps = list(stacked) if stacked.dim() == (4 if single else 5) else [stacked]
    if single:
        maps = [a[None] if a.dim() == 3 else a for a in maps]
    if not maps or maps[0].dim() != 4:
        raise UsageError("attention must be one (batch, heads, events, events) map per layer")
    real = torch.ones(c.shape[:2], dtype=torch.bool) if mask is None else _as_tensor(mask)
    if single and mask is not None:
        real = real[None]
    if tuple(real.shape) != tuple(c.shape[:2]):
        raise UsageError(f"mask must be (batch, events) = {tuple(c.shape[:2])}")
    acc = _Accumulator(encoding, chosen, len(maps), int(maps[0].shape[1]), notes_only)
    acc.add(maps, c, real.bool())
    return acc.result(baseline)


def analyze_attention(
    model: MusicTransformer,
    sequences: Iterable[Any],
    encoding: EncodingConfig,
    *,
    fields: Sequence[str] | None = None,
    baseline: str = "causal",
    notes_only: bool = False,
    batch_size: int = 1,
    progress: bool = False,
    total: int | None = None,
) -> AttentionStats:
    """Run sequences through a model and measure its musical self-attention.

    Args:
        model: The model (any device; it is run in eval mode, then put back as it was).
        sequences: Integer code arrays (T_i, F), e.g. a
            :class:`tuplet.training.dataset.SequenceDataset`
            without augmentation; each at most ``model.config.max_seq_len`` rows.
        encoding: The encoding of the codes (the model's).
        fields: Fields to analyse (default :func:`default_fields`).
        baseline: ``"causal"`` (the formula), ``"all-pairs"`` (the official code) or
            ``"uniform"`` (a head attending equally to every earlier event).
        notes_only: Count only pairs of two note rows.
        batch_size: Sequences per forward pass (memory: layers x heads x T x T floats each);
            on a CPU one at a time is fastest (the maps of a batch outgrow the caches).
        progress: Show a progress bar.
        total: Number of sequences, for the progress bar.

    Returns:
        The statistics, every layer and head.

    Raises:
        UsageError: A sequence longer than the model takes, codes with the wrong number of
            fields, an unknown field or baseline, or no sequences at all.
    """
    _check_baseline(baseline)
    if batch_size < 1:
        raise UsageError(f"batch_size must be at least 1, got {batch_size}")
    chosen = _check_fields(fields, encoding)
    config = model.config
    if tuple(config.field_names) != tuple(encoding.fields):
        raise UsageError(
            f"the model reads fields {', '.join(config.field_names)}, "
            f"the {encoding.name} encoding has {', '.join(encoding.fields)}"
        )
    acc = _Accumulator(encoding, chosen, config.n_layer, config.n_head, notes_only)
    was_training = model.training
    model.eval()
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=total, unit="seq", desc="attention")
    try:
        batch: list[np.ndarray] = []
        for i, seq in enumerate(sequences):
            a = np.asarray(seq, dtype=np.int64)
            if a.ndim != 2 or a.shape[1] != len(encoding.fields):
                raise UsageError(f"sequence {i}: codes must be (events, {len(encoding.fields)})")
            if len(a) > config.max_seq_len:
                raise UsageError(
                    f"sequence {i} has {len(a)} events; the model takes at most "
                    f"{config.max_seq_len}"
                )
            if len(a):
                batch.append(a)
            if len(batch) == batch_size:
                _run_batch(model, batch, acc)
                if bar is not None:
                    bar.update(len(batch))
                batch = []
        if batch:
            _run_batch(model, batch, acc)
            if bar is not None:
                bar.update(len(batch))
    finally:
        model.train(was_training)
        if bar is not None:
            bar.close()
    if acc.n_sequences == 0:
        raise UsageError("no sequences to analyse")
    return acc.result(baseline)


def _run_batch(model: MusicTransformer, batch: list[np.ndarray], acc: _Accumulator) -> None:
    """One forward pass with attention weights, added to ``acc``."""
    import torch

    from tuplet.training.dataset import collate

    device = next(model.parameters()).device
    codes, real = collate(batch)
    with torch.inference_mode():
        # right padding needs no pad mask: causality hides it from the real rows
        _, maps = model.hidden(codes.to(device), return_attention=True)
        acc.add(maps, codes, real)


__all__ = [
    "BASELINES",
    "AttentionStats",
    "FieldAttention",
    "analyze_attention",
    "default_fields",
    "default_window",
    "describe_offset",
    "gamma_from_maps",
    "interval_name",
]
