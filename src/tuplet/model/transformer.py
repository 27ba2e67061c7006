"""The multitrack music transformer: MMT's architecture, plus switchable improvements.

A piece is a sequence of events; each event is a row of ``F`` integer codes (``type``, ``beat``,
``position``, ``pitch``, ... see :mod:`tuplet.encoding`). The model reads rows ``0..t`` and
predicts every field of row ``t + 1``.

The MMT paper's model (preset ``mmt-paper``, 19,944,950 parameters with the MMT vocabulary) is:
the ``F`` field embeddings summed, plus a learned absolute position embedding scaled by
``d_model ** -0.5``, dropout; ``n_layer`` pre-LayerNorm blocks (causal self-attention without
q/k/v biases, with an output-projection bias; GELU feed-forward ``ff_mult`` times wider, with
biases); a final LayerNorm; ``F`` independent linear heads. Dropout sits where MMT has it: on
the embeddings, on the attention weights and inside the feed-forward.

Improvements, each a config switch (:mod:`tuplet.model.config`) so it can be measured against
MMT:

* ``cascade``: within-note dependence. Field ``j`` of row ``t + 1`` is predicted from the hidden
  state ``h_t`` plus small learned embeddings of the fields ``0..j-1`` already chosen for row
  ``t + 1`` (teacher-forced in training; supplied one by one when sampling, through
  :meth:`MusicTransformer.field_logits`), through one small MLP shared by all fields.
  ``field_order`` sets the order of that cascade (the codes keep their columns): MMT's
  ``type, beat, position, pitch, duration, instrument`` by default; with the instrument before
  the pitch, the pitch is drawn knowing which instrument plays it (see ``FIELD_ORDERS``).
* ``clean_loss``: padding is masked, fields undefined for the target's event type are not
  supervised, and the loss is the per-note negative log-likelihood. Without it the loss is
  MMT's: the sum over fields of the mean cross-entropy over all positions, padding included.
* ``position``: ``absolute`` (learned, MMT), ``rotary`` (on the event index), ``none``,
  ``onset-rotary`` (rotary phases from the musical onset in ticks, so attention depends on the
  time distance in beats rather than on how many events lie between), and ``hybrid-rotary``
  (half of the rotary frequencies on the event index, half on the onset: simultaneous notes
  still have an order).
* A KV cache (:meth:`MusicTransformer.new_cache`) for step-by-step decoding; cached decoding
  equals the full forward pass.

Everything runs in fp32 on CPU and under ``torch.autocast("cuda", dtype=torch.bfloat16)``.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any, NamedTuple, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tuplet.errors import UsageError
from tuplet.model.config import (
    FIELD_ORDERS,
    POSITIONS,
    PRESETS,
    ModelConfig,
    field_order,
    preset,
)
from tuplet.model.layers import Block, KVCache, linear


# ------------------------------------------------------------------------------ model
class RangeLoss(NamedTuple):
    """A training term that teaches instruments' ranges (:meth:`MusicTransformer.loss`).

    For each note target whose pitch is in its instrument's range, times ``weight``,
    averaged over those notes, on one of two heads:

    * ``head="pitch"``: minus the log of the probability the pitch head puts inside that
      instrument's range. With the instrument predicted before the pitch the head sees the
      instrument, so this is ``-log P(pitch in range | instrument, context)``; with the pitch
      first it asks the pitch head to keep out of the range of an instrument it has not seen,
      which pulls against the likelihood where a piece's instruments' ranges differ.
    * ``head="instrument"``: minus the log of the probability the instrument head puts on
      instruments that can play the target pitch. With the pitch predicted first (the column
      order) the head sees the pitch, so this is ``-log P(an instrument that can play it |
      pitch, context)``: the instrument drawn for a sampled pitch is one that can play it,
      and the true instrument always can, so the term does not pull against the likelihood.
    * ``head="ensemble"``: the same, among the piece's own instruments (its instrument rows):
      ``-log P(one of them that can play it | one of them, pitch, context)``. Asked for
      ``flute,oboe,clarinet,bassoon`` the sampler keeps the instrument head to those four,
      so what counts is how the head shares a low G among them, not how much of it goes to a
      piano the piece does not have (which satisfies ``instrument`` and is masked away).

    Attributes:
        allowed: (V_instrument, V_pitch) bool: instrument code x pitch code in range
            (:func:`tuplet.ranges.pitch_codes_in_range`).
        note_type: The note event's type code.
        weight: The term's weight in the training objective.
        head: ``pitch``, ``instrument`` or ``ensemble``: the head the term is on.
        instrument_type: The instrument row's type code (``ensemble`` only).
    """

    allowed: Tensor
    note_type: int
    weight: float
    head: str = "pitch"
    instrument_type: int = -1


class LossOutput(NamedTuple):
    """What :meth:`MusicTransformer.loss` returns.

    Attributes:
        loss: The training objective (scalar): the per-note NLL with ``clean_loss``, MMT's sum
            of per-field mean cross-entropies (padding counted) without.
        field_losses: Field name -> mean cross-entropy over the supervised target events
            (padding and undefined fields left out, whatever ``clean_loss`` says).
        nll_per_note: Sum over supervised fields, mean over real target events (nats),
            detached (a report; with ``clean_loss`` it equals ``loss``).
        n_events: Number of real target events (scalar tensor).
        event_nll: (B, T-1) NLL of each target event; 0 for padding.
    """

    loss: Tensor
    field_losses: dict[str, Tensor]
    nll_per_note: Tensor
    n_events: Tensor
    event_nll: Tensor


class MusicTransformer(nn.Module):
    """Decoder-only transformer over note-tuple codes; see the module docstring."""

    inv_freq: Tensor  # (head_dim / 2,) rotary frequencies, rotary modes only
    defined: Tensor  # (n_types, F) bool, with defined_fields only

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = c = config
        d = c.d_model
        self.field_embeddings = nn.ModuleList(nn.Embedding(v, d) for v in c.vocab_sizes)
        self.position_embedding = (
            nn.Embedding(c.max_seq_len, d) if c.position == "absolute" else None
        )
        self.embedding_drop = nn.Dropout(c.dropout)
        self.blocks = nn.ModuleList(
            Block(d, c.n_head, c.ff_mult, c.dropout) for _ in range(c.n_layer)
        )
        self.norm = nn.LayerNorm(d)
        self.heads = nn.ModuleList(nn.Linear(d, v) for v in c.vocab_sizes)
        if c.cascade:
            # the last field (in the cascade's order) is never an input to another field's
            # prediction; keyed by field index, as a list of the first F - 1 would be
            # (in column order whatever the cascade's, so that the parameters' order, which
            # an optimizer's saved state follows, does not depend on it)
            self.cascade_embeddings = nn.ModuleDict(
                {str(j): nn.Embedding(c.vocab_sizes[j], d) for j in sorted(c.order[:-1])}
            )
            self.cascade_queries = nn.Parameter(torch.zeros(c.n_fields, d))
            self.cascade_norm = nn.LayerNorm(d)
            self.cascade_mlp = nn.Sequential(
                nn.Linear(d, d), nn.GELU(), nn.Linear(d, d), nn.Dropout(c.dropout)
            )
        if c.position != "absolute" and c.position != "none":
            half = c.head_dim // 2
            inv_freq = c.rotary_base ** (-torch.arange(half, dtype=torch.float64) / half)
            self.register_buffer("inv_freq", inv_freq.float(), persistent=False)
        if c.defined_fields is not None:
            table = torch.tensor(c.defined_fields, dtype=torch.bool)
            table[:, 0] = True  # the type of a real event is always supervised
            self.register_buffer("defined", table, persistent=False)
        self._init_weights()

    def _init_weights(self) -> None:
        # GPT-2 style: N(0, 0.02), residual projections scaled down by depth
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, std=0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Embedding):
                nn.init.normal_(module.weight, std=0.02)
        residual_std = 0.02 / math.sqrt(2 * self.config.n_layer)
        for block in self.blocks:
            assert isinstance(block, Block)
            nn.init.normal_(block.attn.out.weight, std=residual_std)
            nn.init.normal_(block.ff_out.weight, std=residual_std)
        if self.position_embedding is not None:
            # stored unscaled (as MMT) and multiplied by d**-0.5 in use: 0.02 after scaling
            nn.init.normal_(self.position_embedding.weight, std=0.02 * self.config.d_model**0.5)

    def num_parameters(self) -> int:
        """Number of parameters."""
        return sum(p.numel() for p in self.parameters())

    def new_cache(self, batch_size: int, capacity: int | None = None) -> KVCache:
        """An empty KV cache for ``batch_size`` sequences (capacity grows as needed)."""
        return KVCache(self.config.n_layer, batch_size, capacity or self.config.max_seq_len)

    # ---------------------------------------------------------------------- positions
    def onset_ticks(self, codes: Tensor, previous: Tensor | None = None) -> Tensor:
        """Musical onset of each event, in ticks (B, T) float.

        Rows whose beat code is 0 (undefined) take the onset of the preceding event, or
        ``previous`` (B,) for the first rows (the last onset before these; default 0).
        """
        c = self.config
        beat = codes[..., c.field_names.index(c.beat_field)]
        tick = codes[..., c.field_names.index(c.position_field)]
        ticks = (beat - 1).clamp(min=0) * c.resolution + (tick - 1).clamp(min=0)  # (B, T)
        index = torch.arange(codes.shape[1], device=codes.device).expand_as(ticks)
        last_defined = torch.where(beat > 0, index, -1).cummax(dim=1).values  # (B, T)
        filled = ticks.gather(1, last_defined.clamp(min=0)).float()
        if previous is None:
            previous = filled.new_zeros(codes.shape[0])
        return torch.where(last_defined >= 0, filled, previous[:, None].float())

    def _rotary(self, codes: Tensor, start: int, cache: KVCache | None) -> Any:
        """(cos, sin) of shape (B or 1, 1, T, Dh/2) for the rotary modes, else None."""
        mode = self.config.position
        if mode in ("absolute", "none"):
            return None
        T = codes.shape[1]
        index = torch.arange(start, start + T, device=codes.device, dtype=torch.float32)
        index_angles = index[None, :, None] * self.inv_freq  # (1, T, Dh/2)
        if mode == "rotary":
            angles = index_angles
        else:
            previous = None if cache is None else cache.last_onset_ticks
            onset = self.onset_ticks(codes, previous)  # (B, T)
            if cache is not None:
                cache.last_onset_ticks = onset[:, -1]
            angles = onset[:, :, None] * self.inv_freq  # (B, T, Dh/2)
            if mode == "hybrid-rotary":
                # even frequency slots follow the event index, odd ones the onset
                on_index = torch.arange(angles.shape[-1], device=codes.device) % 2 == 0
                angles = torch.where(on_index, index_angles, angles)
        angles = angles[:, None]  # (B or 1, 1, T, Dh/2)
        return angles.cos(), angles.sin()

    @staticmethod
    def _attention_mask(
        T: int, start: int, pad_mask: Tensor | None, cache: KVCache | None, device: Any
    ) -> Tensor | None:
        """Bool mask (B or 1, 1, T, start+T), True = may attend; None = causal (or none).

        None means plain causal attention, or, for one new event after cached ones, no mask.
        """
        key_real = None if pad_mask is None else pad_mask.bool()
        if cache is not None and (key_real is not None or cache.key_real is not None):
            # the cache remembers which keys are real once any padding was given
            B = cache.batch_size
            old = cache.key_real
            if old is None:
                old = torch.ones(B, start, dtype=torch.bool, device=device)
            if key_real is None:
                key_real = torch.ones(B, T, dtype=torch.bool, device=device)
            key_real = cache.key_real = torch.cat((old, key_real), dim=1)
        if key_real is None and (start == 0 or T == 1):
            return None  # plain causal; one new event sees every cached one
        query_pos = torch.arange(start, start + T, device=device)[:, None]
        key_pos = torch.arange(start + T, device=device)[None, :]
        mask = (key_pos <= query_pos)[None, None]  # (1, 1, T, S)
        if key_real is not None:
            # padded keys are hidden; every row may still see itself (no all-masked rows)
            mask = mask & (key_real[:, None, None, :] | (key_pos == query_pos))
        return mask

    # ---------------------------------------------------------------------- forward
    def hidden(
        self,
        codes: Tensor,
        *,
        pad_mask: Tensor | None = None,
        kv_cache: KVCache | None = None,
        return_attention: bool = False,
    ) -> tuple[Tensor, list[Tensor]]:
        """Final hidden states (after the last LayerNorm) of every event.

        Args:
            codes: (B, T, F) codes; with a cache, the events after those cached.
            pad_mask: (B, T) bool, True = real event; padded events are hidden from the
                attention of the others (positions still count them). Not needed for right
                padding, which causality hides; for left-padded prompts in a batch.
            kv_cache: A cache from :meth:`new_cache`; the new events are appended to it.
            return_attention: Also return each layer's attention weights (B, H, T, S).

        Returns:
            ``(h, attentions)``: h (B, T, d_model); attentions one per layer, or empty.

        Raises:
            UsageError: Wrong shape, or longer than ``max_seq_len`` with absolute positions.
        """
        c = self.config
        if codes.dim() != 3 or codes.shape[-1] != c.n_fields:
            raise UsageError(
                f"codes must be (batch, events, {c.n_fields}), got {tuple(codes.shape)}"
            )
        B, T, _ = codes.shape
        start = 0 if kv_cache is None else kv_cache.length
        if kv_cache is not None and kv_cache.batch_size != B:
            raise UsageError(f"cache holds {kv_cache.batch_size} sequences, codes have {B}")
        x = sum(emb(codes[..., f]) for f, emb in enumerate(self.field_embeddings))  # (B,T,d)
        assert isinstance(x, Tensor)
        if self.position_embedding is not None:
            if start + T > c.max_seq_len:
                raise UsageError(
                    f"{start + T} events exceed max_seq_len {c.max_seq_len} "
                    "(absolute positions cannot go further)"
                )
            pos = torch.arange(start, start + T, device=codes.device)
            x = x + self.position_embedding(pos) * c.d_model**-0.5
        x = self.embedding_drop(x)
        rope = self._rotary(codes, start, kv_cache)
        mask = self._attention_mask(T, start, pad_mask, kv_cache, codes.device)
        attentions = []
        for layer, block in enumerate(self.blocks):
            x, weights = block(
                x,
                rope=rope,
                mask=mask,
                cache=kv_cache,
                layer=layer,
                return_attention=return_attention,
            )
            if weights is not None:
                attentions.append(weights)
        if kv_cache is not None:
            kv_cache.length += T
        return self.norm(x), attentions

    def _head(self, h: Tensor, prefix: Tensor | None, j: int) -> Tensor:
        """Logits of field j from hidden state h and the summed cascade embeddings."""
        if not self.config.cascade:
            head = cast(nn.Linear, self.heads[j])
            return linear(h, head.weight, head.bias)
        u = h + self.cascade_queries[j] if prefix is None else h + prefix + self.cascade_queries[j]
        if self.training:
            return self.heads[j](u + self.cascade_mlp(self.cascade_norm(u)))
        # the same without module calls (sampling calls this once per field and step)
        norm, head = self.cascade_norm, cast(nn.Linear, self.heads[j])
        inner, outer = cast(nn.Linear, self.cascade_mlp[0]), cast(nn.Linear, self.cascade_mlp[2])
        a = F.layer_norm(u, norm.normalized_shape, norm.weight, norm.bias, norm.eps)
        a = F.gelu(linear(a, inner.weight, inner.bias))
        return linear(u + linear(a, outer.weight, outer.bias), head.weight, head.bias)

    def field_logits(self, h: Tensor, partial: Tensor, j: int) -> Tensor:
        """Logits of field ``j`` of the next event, given the fields before it (for sampling).

        Args:
            h: (..., d_model) hidden state of the last event (from :meth:`hidden`).
            partial: (..., F) long, the codes already chosen for the next event (those of
                the fields before ``j`` in the config's ``order`` are read).
            j: Field index.

        Returns:
            (..., vocab_sizes[j]) logits. Without ``cascade``, ``partial`` is ignored.
        """
        prefix = None
        if self.config.cascade:
            order = self.config.order
            for i in order[: order.index(j)]:
                prefix = self.cascade_prefix(prefix, partial[..., i], i)
        return self._head(h, prefix, j)

    def set_field_order(self, order: tuple[str, ...] | None) -> None:
        """Predict the fields in ``order`` from now on (a fine-tune may change it).

        No weight changes shape; where the last field changes, the field that was last gets a
        cascade embedding (drawn as at initialisation) and the new last loses its own.

        Raises:
            UsageError: Not an order of this model's fields (see :class:`ModelConfig`).
        """
        self.config = c = replace(self.config, field_order=order)
        if not c.cascade:
            return
        weight = next(self.parameters())
        kept: dict[str, nn.Module] = {}
        for j in sorted(c.order[:-1]):  # column order, as __init__ builds them
            e = self.cascade_embeddings[str(j)] if str(j) in self.cascade_embeddings else None
            if e is None:
                e = nn.Embedding(c.vocab_sizes[j], c.d_model).to(weight.device, weight.dtype)
                nn.init.normal_(e.weight, std=0.02)
            kept[str(j)] = e
        self.cascade_embeddings = nn.ModuleDict(kept)

    def cascade_prefix(self, prefix: Tensor | None, codes: Tensor, j: int) -> Tensor | None:
        """The cascade input for the field after ``j``, from that of field ``j`` and its codes.

        "After" is in the config's ``order``. ``prefix`` is the input for field ``j`` (None for
        field 0); the embedding of field ``j``'s chosen ``codes`` is added. A sampler carries it
        from field to field instead of re-embedding every chosen field each time (what
        :meth:`field_logits` does). Without ``cascade`` it stays None.
        """
        if not self.config.cascade:
            return None
        e = self.cascade_embeddings[str(j)](codes)
        return e if prefix is None else prefix + e

    def head_logits(self, h: Tensor, prefix: Tensor | None, j: int) -> Tensor:
        """Logits of field ``j`` from the hidden state and the cascade input for field ``j``.

        The cascade input comes from :meth:`cascade_prefix` (None for field 0 or without
        ``cascade``).
        """
        return self._head(h, prefix, j)

    def all_field_logits(self, h: Tensor, targets: Tensor | None = None) -> list[Tensor]:
        """Logits of every field of the next event, (B, T, V_f) each, in column order.

        With ``cascade``, each field is conditioned on the fields before it in the config's
        ``order``, from ``targets`` (B, T, F), or, when ``targets`` is None, on the most likely
        (greedy) choices, with fields undefined for the chosen type set to 0 (as a sampler
        would).
        """
        c = self.config
        order = c.order
        logits: list[Tensor | None] = [None] * c.n_fields
        prefix = types = None
        for j in order:
            logits[j] = out = self._head(h, prefix, j)
            if c.cascade and j != order[-1]:
                if targets is not None:
                    chosen = targets[..., j]
                else:
                    chosen = out.argmax(dim=-1)
                    if j == 0:
                        types = chosen
                    elif types is not None and c.defined_fields is not None:
                        chosen = chosen * self.defined[types, j]
                e = self.cascade_embeddings[str(j)](chosen)
                prefix = e if prefix is None else prefix + e
        return cast(list[Tensor], logits)

    def forward(
        self,
        codes: Tensor,
        *,
        targets: Tensor | None = None,
        pad_mask: Tensor | None = None,
        kv_cache: KVCache | None = None,
        return_attention: bool = False,
    ) -> Any:
        """Logits for the event after each input event, and the loss when targets are given.

        Args:
            codes: (B, T, F) long input codes (for training: ``codes[:, :-1]``).
            targets: (B, T, F) long, the event after each input (``codes[:, 1:]``); with
                ``cascade`` they also condition the later fields (teacher forcing).
            pad_mask: (B, T) bool, True = real input event; the loss counts only those.
            kv_cache: See :meth:`hidden`.
            return_attention: Also return the attention weights, one (B, H, T, S) per layer,
                computed explicitly instead of through ``scaled_dot_product_attention``.

        Returns:
            ``(logits, loss)``, or ``(logits, loss, attentions)`` with ``return_attention``;
            logits is a list of F tensors (B, T, V_f); loss is None without targets.
        """
        h, attentions = self.hidden(
            codes, pad_mask=pad_mask, kv_cache=kv_cache, return_attention=return_attention
        )
        logits = self.all_field_logits(h, targets)
        loss = None
        if targets is not None:
            real = pad_mask if pad_mask is not None else torch.ones_like(targets[..., 0]).bool()
            loss = self._loss_terms(logits, targets, real.bool()).loss
        return (logits, loss, attentions) if return_attention else (logits, loss)

    def loss(
        self, codes: Tensor, mask: Tensor | None = None, range_loss: RangeLoss | None = None
    ) -> LossOutput:
        """Teacher-forced loss of whole sequences: inputs ``codes[:, :-1]``, targets ``[:, 1:]``.

        Args:
            codes: (B, T, F) long, right-padded (real events first).
            mask: (B, T) bool True = real event, or (B,) lengths, or None (all real).
            range_loss: Add this term to ``loss`` (not to the reported NLL).

        Returns:
            A :class:`LossOutput`.
        """
        B, T, _ = codes.shape
        if mask is None:
            mask = torch.ones(B, T, dtype=torch.bool, device=codes.device)
        elif mask.dim() == 1:
            mask = torch.arange(T, device=codes.device)[None, :] < mask[:, None]
        mask = mask.bool()
        inputs, targets = codes[:, :-1], codes[:, 1:]
        h, _ = self.hidden(inputs)
        logits = self.all_field_logits(h, targets)
        out = self._loss_terms(logits, targets, mask[:, 1:] & mask[:, :-1])
        if range_loss is None or not range_loss.weight:
            return out
        term = self._range_term(logits, targets, mask[:, 1:] & mask[:, :-1], range_loss)
        return out._replace(loss=out.loss + range_loss.weight * term)

    def _range_term(
        self, logits: list[Tensor], targets: Tensor, real: Tensor, r: RangeLoss
    ) -> Tensor:
        """Mean ``-log P(in range)`` over in-range notes, on ``r.head`` (:class:`RangeLoss`)."""
        names = self.config.field_names
        p, i = names.index("pitch"), names.index("instrument")
        table = r.allowed.to(targets.device)
        allowed = table[targets[..., i]]  # (B, T, V_pitch)
        inside = allowed.gather(-1, targets[..., p : p + 1])[..., 0]
        notes = real & (targets[..., 0] == r.note_type) & inside
        if r.head == "pitch":
            head, ok = p, allowed[notes]  # (N, V_pitch)
        else:  # the instruments that can play each target pitch
            head, ok = i, table.T[targets[..., p][notes]]  # (N, V_instrument)
        log_p = logits[head][notes].float().log_softmax(-1)  # the chosen notes only
        if r.head == "ensemble":  # among the piece's own instruments
            rows = real & (targets[..., 0] == r.instrument_type)
            present = torch.zeros(targets.shape[0], table.shape[0], dtype=torch.bool,
                                  device=targets.device)  # fmt: skip
            b = torch.arange(targets.shape[0], device=targets.device)[:, None].expand_as(rows)
            present[b[rows], targets[..., i][rows]] = True
            # a note's own instrument is the piece's even where a window lost its row
            present[b[notes], targets[..., i][notes]] = True
            own = present[b[notes]]  # (N, V_instrument)
            log_p = log_p - log_p.masked_fill(~own, float("-inf")).logsumexp(-1, keepdim=True)
            ok = ok & own
        in_range = log_p.masked_fill(~ok, float("-inf")).logsumexp(-1)
        return -in_range.sum() / notes.sum().clamp(min=1)

    def _loss_terms(self, logits: list[Tensor], targets: Tensor, real: Tensor) -> LossOutput:
        c = self.config
        B, T, Fn = targets.shape
        ce = torch.stack(
            [
                F.cross_entropy(
                    lg.float().flatten(0, 1), targets[..., f].flatten(), reduction="none"
                ).view(B, T)
                for f, lg in enumerate(logits)
            ],
            dim=-1,
        )  # (B, T, F)
        supervised = real[..., None].expand(B, T, Fn)
        if c.defined_fields is not None:
            types = targets[..., 0].clamp(0, len(c.defined_fields) - 1)
            supervised = supervised & self.defined[types]  # (B, T, F)
        weight = supervised.float()
        event_nll = (ce * weight).sum(dim=-1)  # (B, T)
        n_events = real.sum()
        nll_per_note = event_nll.sum() / n_events.clamp(min=1)
        per_field = (ce * weight).sum(dim=(0, 1)) / weight.sum(dim=(0, 1)).clamp(min=1)
        field_losses = {name: per_field[f].detach() for f, name in enumerate(c.field_names)}
        # MMT: each field's cross-entropy averaged over every position, padding included
        loss = nll_per_note if c.clean_loss else ce.mean(dim=(0, 1)).sum()
        return LossOutput(loss, field_losses, nll_per_note.detach(), n_events, event_nll)


__all__ = [
    "FIELD_ORDERS",
    "POSITIONS",
    "PRESETS",
    "KVCache",
    "LossOutput",
    "ModelConfig",
    "MusicTransformer",
    "RangeLoss",
    "field_order",
    "preset",
]
