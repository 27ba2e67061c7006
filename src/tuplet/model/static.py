"""The forward pass of one new event over a static-shape KV cache (for a compiled step).

:class:`StaticDecoder` holds every layer's keys and values preallocated to the longest sequence
(the new event written at its position, attention masked to the positions so far, or to a
window of them), so that a decoding step's shapes never change and
:mod:`tuplet.model.compiled` can compile the whole step into one graph. It reads the model's
weights as they are: float, or the int8 weights and per-channel scales of
:func:`tuplet.model.quantize.quantize_int8` (weight-only: activations stay in floating point).
The eager :class:`tuplet.model.layers.KVCache` path stays the reference.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from tuplet.model.layers import HALF, KVCache, _rotate, linear
from tuplet.model.transformer import MusicTransformer


def _weight(module: Any) -> tuple[Tensor | tuple[Tensor, Tensor], Tensor | None]:
    """The weight and bias of a linear layer, float or int8 (dynamically quantized)."""
    weight = module.weight
    if not callable(weight):  # a float nn.Linear
        return weight.detach(), None if module.bias is None else module.bias.detach()
    q = weight()  # a per-channel symmetric qint8 tensor (tuplet.model.quantize)
    if q.qscheme() not in (torch.per_channel_symmetric, torch.per_channel_affine) or bool(
        q.q_per_channel_zero_points().any()
    ):
        raise ValueError("int8 weights must be per-channel and symmetric")
    bias = module.bias()
    return (q.int_repr(), q.q_per_channel_scales().float()), bias


class _BlockWeights:
    """The tensors of one transformer block, read out of its modules once."""

    def __init__(self, block: Any) -> None:
        self.ln_attn = (block.ln_attn.weight, block.ln_attn.bias, block.ln_attn.eps)
        self.ln_ff = (block.ln_ff.weight, block.ln_ff.bias, block.ln_ff.eps)
        self.qkv = _weight(block.attn.qkv)
        self.out = _weight(block.attn.out)
        self.ff_in = _weight(block.ff_in)
        self.ff_out = _weight(block.ff_out)


# ------------------------------------------------------------------------------ the step
class StaticDecoder:
    """The forward pass of one new event per sequence over a static-shape KV cache.

    Args:
        model: The model (float, bf16, or int8 from :func:`tuplet.model.quantize.quantize_int8`);
            read, never changed.
        batch_size: Sequences decoded together (fixed: finished ones stay in the batch).
        capacity: Longest sequence (events), prompt included; the cache's fixed length.

    Attributes:
        keys, values: Per layer, (B, H, capacity, Dh) buffers written in place.
        onset: (B,) onset in ticks of the last event (onset positions only).
        length: Events cached so far (a Python int; the position of the next event).
    """

    def __init__(self, model: MusicTransformer, batch_size: int, capacity: int) -> None:
        c = model.config
        if capacity > c.max_seq_len and model.position_embedding is not None:
            raise ValueError(f"capacity {capacity} exceeds max_seq_len {c.max_seq_len}")
        self.model = model
        self.config = c
        self.batch_size, self.capacity = batch_size, capacity
        param = next(model.parameters())
        self.dtype, self.device = param.dtype, param.device
        self.blocks = [_BlockWeights(b) for b in model.blocks]
        qkv = self.blocks[0].qkv[0] if self.blocks else None
        if isinstance(qkv, Tensor) and qkv.dtype in HALF:
            self.dtype = qkv.dtype  # halved products keep halved keys and values (as eager)
        shape = (batch_size, c.n_head, capacity, c.head_dim)
        self.keys = [torch.zeros(shape, dtype=self.dtype, device=self.device) for _ in self.blocks]
        self.values = [torch.zeros_like(k) for k in self.keys]
        self.onset = torch.zeros(batch_size, device=self.device)
        self.key_positions = torch.arange(capacity, device=self.device)
        self.length = 0

    def load(self, cache: KVCache) -> None:
        """Start from an eager cache of one sequence (a prompt), copied to every row."""
        for layer, (k, v) in enumerate(zip(cache.keys, cache.values, strict=True)):
            assert k is not None and v is not None
            self.keys[layer][:, :, : cache.length] = k[:, :, : cache.length]
            self.values[layer][:, :, : cache.length] = v[:, :, : cache.length]
        if cache.last_onset_ticks is not None:
            self.onset.copy_(cache.last_onset_ticks.expand(self.batch_size))
        self.length = cache.length

    def window(self, capacity: int) -> StaticDecoder:
        """This decoder seen through its first ``capacity`` positions (shared buffers).

        A step whose position is below ``capacity`` gives the same hidden state through the
        window as through the whole cache (the positions beyond are masked either way), and
        attends over ``capacity`` positions instead of the whole cache: most of a step's cost
        late in a long cache (docs/benchmarks.md). The window writes into this decoder's
        buffers; its :attr:`length` is not kept up to date (use this decoder's).
        """
        import copy

        if capacity >= self.capacity:
            return self
        view = copy.copy(self)
        view.capacity = capacity
        view.keys = [k[:, :, :capacity] for k in self.keys]
        view.values = [v[:, :, :capacity] for v in self.values]
        view.key_positions = self.key_positions[:capacity]
        return view

    def position(self) -> Tensor:
        """The next event's position as a (1,) tensor (so a compiled graph serves every step)."""
        return torch.tensor([self.length], device=self.device)

    def _rope(self, codes: Tensor, pos: Tensor) -> tuple[Tensor, Tensor] | None:
        """(cos, sin), (B or 1, 1, 1, Dh/2), of the new event; None without rotary positions."""
        m, mode = self.model, self.config.position
        if mode in ("absolute", "none"):
            return None
        index_angles = pos.float()[None, :, None] * m.inv_freq  # (1, 1, Dh/2)
        if mode == "rotary":
            angles = index_angles
        else:
            onset = m.onset_ticks(codes, self.onset)  # (B, 1)
            self.onset.copy_(onset[:, -1])
            angles = onset[:, :, None] * m.inv_freq  # (B, 1, Dh/2)
            if mode == "hybrid-rotary":
                on_index = torch.arange(angles.shape[-1], device=codes.device) % 2 == 0
                angles = torch.where(on_index, index_angles, angles)
        angles = angles[:, None]  # (B or 1, 1, 1, Dh/2)
        return angles.cos(), angles.sin()

    def hidden(self, codes: Tensor, pos: Tensor) -> Tensor:
        """The final hidden state (B, d) of one new event per row, appended to the cache.

        Args:
            codes: (B, 1, F) the new events.
            pos: (1,) long, their position (:meth:`position`); the caller advances
                :attr:`length` (a compiled step cannot).
        """
        m, c = self.model, self.config
        B, D, H = codes.shape[0], c.d_model, c.n_head
        x = sum(emb(codes[..., f]) for f, emb in enumerate(m.field_embeddings))  # (B, 1, d)
        assert isinstance(x, Tensor)
        if m.position_embedding is not None:
            x = x + m.position_embedding(pos) * D**-0.5
        rope = self._rope(codes, pos)
        visible = (self.key_positions <= pos)[None, None, None]  # (1, 1, 1, S)
        for layer, w in enumerate(self.blocks):
            a = F.layer_norm(x, (D,), *w.ln_attn)
            q, k, v = linear(a, *w.qkv).view(B, 1, 3, H, D // H).permute(2, 0, 3, 1, 4)
            if rope is not None:  # in fp32, as the eager model
                q = _rotate(q.float(), *rope).to(v.dtype)
                k = _rotate(k.float(), *rope).to(v.dtype)
            keys, values = self.keys[layer], self.values[layer]
            q, k, v = q.to(keys.dtype), k.to(keys.dtype), v.to(keys.dtype)
            keys.index_copy_(2, pos, k)  # (B, H, S, Dh), written in place
            values.index_copy_(2, pos, v)
            y = F.scaled_dot_product_attention(q, keys, values, attn_mask=visible)  # (B,H,1,Dh)
            x = x + linear(y.transpose(1, 2).reshape(B, 1, D).to(x.dtype), *w.out)
            a = F.layer_norm(x, (D,), *w.ln_ff)
            x = x + linear(F.gelu(linear(a, *w.ff_in)), *w.ff_out)
        return m.norm(x)[:, -1]  # (B, d)


__all__ = ["StaticDecoder"]
