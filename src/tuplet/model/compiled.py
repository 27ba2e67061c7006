"""One decoding step over a static-shape KV cache, and compiling it into one graph.

The eager sampler (:func:`tuplet.generation.sample.sample_codes`) runs a step as some 150
small PyTorch operations and six field draws, each a Python round trip; on a CPU those cost
more than the step's arithmetic. Here the forward pass of one new event is written over a
cache whose shapes never change (every layer's keys and values preallocated to the longest
sequence, the new event written at its position, attention masked to the positions so far),
so that the whole step (this forward pass, the cascade heads, the rule masks and the draws,
assembled by the sampler) can be traced once by ``torch.compile`` and run as one graph of
generated C++ kernels (the approach of PyTorch's gpt-fast). Measured against the eager path in
``bench/generate.py``; figures in ``docs/benchmarks.md``.

int8 weights: a model made by :func:`tuplet.model.quantize.quantize_int8` is read here as
int8 weights with one scale per output channel (the same numbers), applied weight-only: the
activations stay in floating point and, in the compiled graph, each product reads the int8
weights directly (the dequantization fused into the product's loop).

Without a C++ compiler, or where compiling fails, :func:`compile_step` gives the function back
uncompiled with a one-line note; the static-cache step then runs eagerly, as tests run it.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import torch
import torch.nn.functional as F
from torch import Tensor

from tuplet.model.layers import KVCache, _rotate, linear
from tuplet.model.transformer import MusicTransformer

Fn = TypeVar("Fn", bound=Callable[..., Any])


# ------------------------------------------------------------------------------ weights
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
            keys.index_copy_(2, pos, k)  # (B, H, S, Dh), written in place
            values.index_copy_(2, pos, v)
            y = F.scaled_dot_product_attention(q, keys, values, attn_mask=visible)  # (B,H,1,Dh)
            x = x + linear(y.transpose(1, 2).reshape(B, 1, D), *w.out)
            a = F.layer_norm(x, (D,), *w.ln_ff)
            x = x + linear(F.gelu(linear(a, *w.ff_in)), *w.ff_out)
        return m.norm(x)[:, -1]  # (B, d)


# ------------------------------------------------------------------------------ compiling
def cache_dir() -> Path:
    """Where compiled steps are kept between runs (inductor's cache, one per user).

    ``TORCHINDUCTOR_CACHE_DIR`` when set, else ``~/.cache/tuplet/compiled``.
    """
    return Path(
        os.environ.get("TORCHINDUCTOR_CACHE_DIR") or Path.home() / ".cache" / "tuplet" / "compiled"
    )


def compile_unavailable(device: torch.device) -> str | None:
    """Why a step cannot be compiled here (a missing C++ compiler...), or None."""
    if sys.platform == "win32":
        return "compiling is not supported on Windows"
    if device.type == "cpu":
        from torch._inductor import config

        compiler = config.cpp.cxx[0] or "g++"
        if shutil.which(compiler) is None:
            return f"no C++ compiler ({compiler}) found"
    return None


def compile_options(device: torch.device) -> dict[str, Any]:
    """Keyword arguments of ``torch.compile`` for a decoding step on ``device``.

    CPU: ``cpp_wrapper`` (the graph's kernels are called from C++, not Python: a step is short
    enough for that Python to matter), and ``realize_opcount_threshold`` 4: a value computed by
    more than four operations is written out before a product reads it; by default inductor
    fuses, e.g., the residual add and layer norm into the product's loop and recomputes them
    for every output row (``small``: 3.8 ms a step, 1.8-2.0 ms with this). CUDA:
    ``reduce-overhead``, which captures the step in a CUDA graph, replayed each step with one
    launch (written and unit-tested on CPU only; not yet measured on a GPU).
    """
    if device.type == "cuda":
        return {"mode": "reduce-overhead"}
    return {"options": {"cpp_wrapper": True, "realize_opcount_threshold": 4}}


_ANNOUNCED: set[tuple[Any, str]] = set()


def compile_step(fn: Fn, device: torch.device, note: Callable[[str], None] | None = None) -> Fn:
    """``fn`` compiled with ``torch.compile`` (static shapes), or ``fn`` itself.

    The first call compiles (tens of seconds on a small CPU; inductor keeps what it built in
    :func:`cache_dir`, so later runs on the machine skip most of it); ``note`` gets one line
    before the first compilation in the process and one after any call that compiled for
    more than a second. Where compiling is unavailable or fails, ``note`` gets one line
    saying so and the function runs eagerly.
    """
    say = note or (lambda line: print(line, file=sys.stderr))
    why = compile_unavailable(device)
    if why is not None:
        say(f"tuplet: {why}; decoding without compiling")
        return fn
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(cache_dir()))
    with warnings.catch_warnings():  # torch's own deprecation notices on importing inductor
        warnings.simplefilter("ignore", DeprecationWarning)
        options = compile_options(device)
        tries = [torch.compile(fn, dynamic=False, **options)]
        if "options" in options:  # inductor has failed on some graphs with the fast options
            tries.append(torch.compile(fn, dynamic=False))
    state: dict[str, Any] = {"call": None}

    def first(*args: Any, **kwargs: Any) -> Any:
        if (fn, device.type) not in _ANNOUNCED:
            _ANNOUNCED.add((fn, device.type))
            say(f"tuplet: compiling the decoding step (once per model and machine: {cache_dir()})")
        start = time.perf_counter()
        error: Exception | None = None
        for compiled in tries:
            try:
                with warnings.catch_warnings():  # torch's own deprecation notices
                    warnings.simplefilter("ignore", DeprecationWarning)
                    out = compiled(*args, **kwargs)
            except Exception as e:  # any compiler failure: the next way, at last eagerly
                error = e
                continue
            if time.perf_counter() - start > 1.0:
                say(f"tuplet: compiled in {time.perf_counter() - start:.1f} s")
            state["call"] = compiled
            return out
        assert error is not None
        say(f"tuplet: compiling failed ({type(error).__name__}); decoding without compiling")
        state["call"] = fn
        return fn(*args, **kwargs)

    def call(*args: Any, **kwargs: Any) -> Any:
        return (state["call"] or first)(*args, **kwargs)

    return call  # type: ignore[return-value]


__all__ = [
    "StaticDecoder",
    "cache_dir",
    "compile_options",
    "compile_step",
    "compile_unavailable",
]
