"""The transformer's parts: KV cache, causal self-attention and the pre-LayerNorm block.

The KV cache serves step-by-step decoding; the attention is fused, or returns its weights for
the attention analysis.

:class:`tuplet.model.transformer.MusicTransformer` stacks the blocks between its field embeddings
and its
field heads; see :mod:`tuplet.model.transformer` for the whole model and its options.
"""

from __future__ import annotations

import functools
from typing import Any, TypeGuard

import torch
import torch.nn.functional as F
from torch import Tensor, nn


# ------------------------------------------------------------------------------ cache
class KVCache:
    """Keys and values of the events seen so far, per layer, for step-by-step decoding.

    Buffers are allocated on first use (with the dtype and device of the keys) and grow by
    doubling. Use under ``torch.no_grad()``: the buffers are written in place.

    Attributes:
        length: Events cached so far.
        last_onset_ticks: (B,) onset of the last cached event (onset positions only).
        key_real: (B, length) bool, True for real events; None when no padding was given.
    """

    def __init__(self, n_layer: int, batch_size: int, capacity: int) -> None:
        self.batch_size = batch_size
        self.capacity = capacity
        self.length = 0
        self.keys: list[Tensor | None] = [None] * n_layer
        self.values: list[Tensor | None] = [None] * n_layer
        self.last_onset_ticks: Tensor | None = None
        self.key_real: Tensor | None = None

    def update(self, layer: int, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Store the new keys/values (B, H, T, Dh) of one layer; return all so far."""
        start, end = self.length, self.length + k.shape[2]
        buf_k, buf_v = self.keys[layer], self.values[layer]
        if buf_k is None or buf_v is None or end > buf_k.shape[2]:
            size = max(end, self.capacity, 2 * (0 if buf_k is None else buf_k.shape[2]))
            new_k = k.new_zeros(k.shape[0], k.shape[1], size, k.shape[3])
            new_v = v.new_zeros(v.shape[0], v.shape[1], size, v.shape[3])
            if buf_k is not None and buf_v is not None:
                new_k[:, :, :start] = buf_k[:, :, :start]
                new_v[:, :, :start] = buf_v[:, :, :start]
            buf_k, buf_v = self.keys[layer], self.values[layer] = new_k, new_v
        buf_k[:, :, start:end] = k
        buf_v[:, :, start:end] = v
        return buf_k[:, :, :end], buf_v[:, :, :end]

    def select(self, index: Tensor) -> None:
        """Keep (and reorder) batch rows ``index`` (long or bool), e.g. to drop finished ones."""
        if index.dtype == torch.bool:
            index = index.nonzero().squeeze(1)
        self.keys = [None if k is None else k[index] for k in self.keys]
        self.values = [None if v is None else v[index] for v in self.values]
        if self.last_onset_ticks is not None:
            self.last_onset_ticks = self.last_onset_ticks[index]
        if self.key_real is not None:
            self.key_real = self.key_real[index]
        self.batch_size = int(index.numel())


# ------------------------------------------------------------------------------ blocks
MULTIPLY_AND_SUM_ROWS = 1
"""Up to this many rows, a compiled product is a multiply-and-sum (:func:`linear`): a single
stream's step. With more rows the generated loop reads the weights once per row, and a BLAS
routine, reading them once for all rows, is faster (measured at batch 8 in bench/generate.py)."""


HALF = (torch.bfloat16, torch.float16)
"""The dtypes of halved weights (:func:`tuplet.model.quantize.halve_products`)."""


def _halved(weight: object, x: Tensor) -> TypeGuard[Tensor]:
    """Whether ``weight`` is a halved weight (bf16 or fp16) for fp32 activations ``x``."""
    return isinstance(weight, Tensor) and weight.dtype in HALF and x.dtype == torch.float32


def linear(x: Tensor, weight: Tensor | tuple[Tensor, Tensor], bias: Tensor | None) -> Tensor:
    """``x @ weight.T + bias``; ``weight`` float (out, in), or int8 (out, in) and fp32 scales.

    int8 weights are applied weight-only (the activations stay in floating point). Halved
    weights (:func:`tuplet.model.quantize.halve_products`: bf16 or fp16 where ``x`` is fp32)
    multiply ``x`` cast to their dtype, and the product comes back in ``x``'s. Inside
    ``torch.compile`` (:mod:`tuplet.model.compiled`) a product with few rows is written as a
    multiply-and-sum, so the generated kernel reads the weights (int8 ones converted in its
    loop) and fuses the bias and what follows, instead of calling a BLAS routine per product
    (tens of microseconds each on a CPU, more than a small matrix-vector product costs).
    """
    if torch.compiler.is_compiling() and x.numel() <= MULTIPLY_AND_SUM_ROWS * x.shape[-1]:
        w, scale = (weight, None) if isinstance(weight, Tensor) else weight
        y = (x.unsqueeze(-2) * w.to(x.dtype)).sum(-1)  # (..., out)
        y = y if scale is None else y * scale.to(x.dtype)
        return y if bias is None else y + bias.to(x.dtype)
    if _halved(weight, x):
        y = F.linear(x.to(weight.dtype), weight).to(x.dtype)
        return y if bias is None else y + bias.to(x.dtype)
    if isinstance(weight, Tensor):
        return F.linear(x, weight, bias)
    w, scale = weight
    y = F.linear(x, w.to(x.dtype)) * scale.to(x.dtype)
    return y if bias is None else y + bias.to(x.dtype)


def project(layer: nn.Module, x: Tensor) -> Tensor:
    """``layer(x)``, or :func:`linear` where the layer's weights are halved.

    Halved: bf16 or fp16 weights for fp32 activations
    (:func:`tuplet.model.quantize.halve_products`).
    """
    weight = layer.weight
    if _halved(weight, x):
        bias = layer.bias
        return linear(x, weight, bias if isinstance(bias, Tensor) else None)
    return layer(x)


def _rotate(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate the pairs (x[..., i], x[..., i + Dh/2]) of x (B, H, T, Dh) by the given angles."""
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)


@functools.lru_cache(maxsize=4)
def _causal_hidden(T: int, S: int, device: torch.device) -> Tensor:
    """(T, S) bool, True where query i (the last T of S positions) may not see key j."""
    with torch.inference_mode(False):  # a normal tensor, usable with autograd later too
        return torch.ones(T, S, dtype=torch.bool, device=device).triu_(S - T + 1)


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention; q/k/v without bias, output projection with bias."""

    def __init__(self, d_model: int, n_head: int, dropout: float) -> None:
        super().__init__()
        self.n_head = n_head
        self.dropout = dropout
        self.qkv = nn.Linear(d_model, 3 * d_model, bias=False)
        self.out = nn.Linear(d_model, d_model)
        self.attn_drop = nn.Dropout(dropout)

    def forward(
        self,
        x: Tensor,
        *,
        rope: tuple[Tensor, Tensor] | None,
        mask: Tensor | None,
        cache: KVCache | None,
        layer: int,
        return_attention: bool,
    ) -> tuple[Tensor, Tensor | None]:
        """Attend; ``mask`` (B or 1, 1, T, S) bool True = may attend, None = plain causal."""
        B, T, D = x.shape
        H = self.n_head
        qkv = project(self.qkv, x).view(B, T, 3, H, D // H)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # 3 x (B,H,T,Dh)
        if rope is not None:  # rotate in fp32 (bf16 angles would blur distant positions)
            cos, sin = rope
            q, k = (
                _rotate(q.float(), cos, sin).to(v.dtype),
                _rotate(k.float(), cos, sin).to(v.dtype),
            )
        weight = self.qkv.weight
        if _halved(weight, x):  # keys and values kept halved too
            q, k, v = q.to(weight.dtype), k.to(weight.dtype), v.to(weight.dtype)
        if cache is not None:
            k, v = cache.update(layer, k, v)  # (B, H, S, Dh), S = events so far
        weights = None
        if return_attention:
            # scale q (small) rather than the scores (T x S); mask and softmax the scores in
            # fp32 with as few passes over them as possible
            scores = (q.float() * (D // H) ** -0.5) @ k.float().transpose(-2, -1)  # (B,H,T,S)
            hidden = _causal_hidden(T, k.shape[2], x.device) if mask is None else ~mask
            weights = scores.masked_fill_(hidden, float("-inf")).softmax(dim=-1)
            del scores
            y = self.attn_drop(weights).to(v.dtype) @ v  # (B, H, T, Dh)
        else:
            y = F.scaled_dot_product_attention(
                q,
                k,
                v,
                attn_mask=mask,
                dropout_p=self.dropout if self.training else 0.0,
                # is_causal aligns the mask top-left: right only without cached keys
                is_causal=mask is None and T == k.shape[2],
            )  # (B, H, T, Dh)
        y = y.transpose(1, 2).reshape(B, T, D).to(x.dtype)  # (B, T, D)
        return project(self.out, y), weights


class Block(nn.Module):
    """Pre-LayerNorm transformer block: x + attn(ln(x)), then x + ff(ln(x))."""

    def __init__(self, d_model: int, n_head: int, ff_mult: int, dropout: float) -> None:
        super().__init__()
        self.ln_attn = nn.LayerNorm(d_model)
        self.attn = CausalSelfAttention(d_model, n_head, dropout)
        self.ln_ff = nn.LayerNorm(d_model)
        self.ff_in = nn.Linear(d_model, ff_mult * d_model)
        self.ff_drop = nn.Dropout(dropout)
        self.ff_out = nn.Linear(ff_mult * d_model, d_model)

    def forward(self, x: Tensor, **attn_kwargs: Any) -> tuple[Tensor, Tensor | None]:
        """Apply the block; keyword arguments go to the attention."""
        a, weights = self.attn(self.ln_attn(x), **attn_kwargs)
        x = x + a
        h = self.ff_drop(F.gelu(project(self.ff_in, self.ln_ff(x))))
        return x + project(self.ff_out, h), weights


__all__ = ["Block", "CausalSelfAttention", "KVCache", "linear", "project"]
