"""The forward pass of one new event on ONNX Runtime, the cache bound in place.

``bench/step_rivals.py`` measured the routes to a compiled decoding step side by side: for a
single stream, ONNX Runtime ran the forward pass of one new event over a static-shape cache
2-3 times faster than eager PyTorch and than inductor's graph (it was the slowest for batches).
This module builds that forward pass for ``sample_codes(..., decoder="onnx")``:

* :class:`ReadOnlyStep` is :meth:`tuplet.model.compiled.StaticDecoder.hidden`'s arithmetic
  written over a cache it only reads (ONNX has no in-place writes): the new event attends to
  the cached positions before it and to itself, and its keys and values come back;
* :func:`export` writes it to an ONNX file once per model, batch size and versions
  (``torch.onnx.export``; kept in :func:`tuplet.model.compiled.cache_dir`, named by a hash of
  the weights, the config and the versions; written to a temporary file and renamed, so an
  interrupted export leaves nothing half-written);
* :class:`OnnxDecoder` runs it with one ONNX Runtime thread, the keys and values in numpy
  buffers bound once (I/O binding: ONNX Runtime reads them where they lie), the new event's
  keys and values written into them at its position after each step.

The heads, the rule masks and the draws stay in PyTorch (compiled with the rest of the step
where a compiler exists, see :mod:`tuplet.generation.sample`). Float32 models only.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from tuplet.model.compiled import cache_dir
from tuplet.model.layers import KVCache, _rotate
from tuplet.model.transformer import MusicTransformer

OUTPUTS = ("hidden", "new_k", "new_v", "new_onset")


class ReadOnlyStep(torch.nn.Module):
    """One new event per row through the model over a cache it only reads (exportable).

    ``forward(codes (B, 1, F), pos (1,), onset (B,), keys, values (L, B, H, S, Dh))`` returns
    the final hidden state (B, d), the new event's keys and values (L, B, H, 1, Dh) for the
    caller to store at ``pos``, and its onset in ticks (B,) (onset positions; else ``onset``).
    Positions ``pos`` and after in the cache are ignored.
    """

    def __init__(self, model: MusicTransformer) -> None:
        super().__init__()
        self.m = model

    def forward(
        self, codes: Tensor, pos: Tensor, onset: Tensor, keys: Tensor, values: Tensor
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        m, c = self.m, self.m.config
        B, D, H = codes.shape[0], c.d_model, c.n_head
        x = sum(emb(codes[..., f]) for f, emb in enumerate(m.field_embeddings))  # (B, 1, d)
        assert isinstance(x, Tensor)
        if m.position_embedding is not None:
            x = x + m.position_embedding(pos) * D**-0.5
        new_onset = onset[:, None]
        rope = None
        if c.position not in ("absolute", "none"):
            index_angles = pos.float()[None, :, None] * m.inv_freq  # (1, 1, Dh/2)
            angles = index_angles
            if c.position != "rotary":  # onsets: one new event, its own or the last one's
                beat = codes[..., c.field_names.index(c.beat_field)]
                tick = codes[..., c.field_names.index(c.position_field)]
                ticks = (beat - 1).clamp(min=0) * c.resolution + (tick - 1).clamp(min=0)
                new_onset = torch.where(beat > 0, ticks.float(), onset[:, None])
                angles = new_onset[:, :, None] * m.inv_freq
                if c.position == "hybrid-rotary":
                    on_index = torch.arange(angles.shape[-1]) % 2 == 0
                    angles = torch.where(on_index, index_angles, angles)
            rope = angles[:, None].cos(), angles[:, None].sin()
        past = (torch.arange(keys.shape[3]) < pos)[None, None, None]  # (1, 1, 1, S)
        scale = (D // H) ** -0.5
        new_k, new_v = [], []
        for layer, blk in enumerate(m.blocks):
            a = F.layer_norm(x, (D,), blk.ln_attn.weight, blk.ln_attn.bias, blk.ln_attn.eps)
            q, k, v = blk.attn.qkv(a).view(B, 1, 3, H, D // H).permute(2, 0, 3, 1, 4)
            if rope is not None:
                q, k = _rotate(q, *rope), _rotate(k, *rope)
            s_past = (q @ keys[layer].transpose(-1, -2) * scale).masked_fill(~past, float("-inf"))
            s_new = (q * k).sum(-1, keepdim=True) * scale
            w = torch.softmax(torch.cat([s_past, s_new], -1), -1)
            y = w[..., :-1] @ values[layer] + w[..., -1:] * v
            x = x + blk.attn.out(y.transpose(1, 2).reshape(B, 1, D))
            a = F.layer_norm(x, (D,), blk.ln_ff.weight, blk.ln_ff.bias, blk.ln_ff.eps)
            x = x + blk.ff_out(F.gelu(blk.ff_in(a)))
            new_k.append(k)
            new_v.append(v)
        return m.norm(x)[:, -1], torch.stack(new_k), torch.stack(new_v), new_onset[:, -1]


def unavailable(model: MusicTransformer) -> str | None:
    """Why the ONNX Runtime step cannot run this model here, or None."""
    param = next(model.parameters())
    if param.device.type != "cpu" or param.dtype != torch.float32:
        return "the ONNX Runtime step runs float32 models on the CPU only"
    if any(not isinstance(p, torch.nn.Parameter) for p in model.parameters()):
        return "the ONNX Runtime step runs float32 models only"
    for name in ("onnxruntime", "onnxscript"):
        try:
            __import__(name)
        except ImportError:
            return f"{name} is not installed (pip install 'tuplet[onnx]')"
    return None


def _key(model: MusicTransformer, batch: int) -> str:
    """A name for the exported step: the weights, the config, the batch and the versions."""
    import onnxruntime

    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    c = model.config
    meta = {
        "config": {k: str(v) for k, v in vars(c).items()},
        "batch": batch,
        "torch": torch.__version__,
        "onnxruntime": onnxruntime.__version__,
        "format": 1,
    }
    h.update(json.dumps(meta, sort_keys=True).encode())
    return h.hexdigest()[:24]


def export(
    model: MusicTransformer, batch: int, note: Callable[[str], None] | None = None
) -> Path:
    """The ONNX file of ``model``'s step for ``batch`` rows, exported unless already on disk."""
    c = model.config
    folder = cache_dir() / "onnx"
    path = folder / f"step-{_key(model, batch)}.onnx"
    if path.is_file():
        return path
    if note is not None:
        note(f"tuplet: exporting the decoding step for ONNX Runtime (once per model: {folder})")
    folder.mkdir(parents=True, exist_ok=True)
    shape = (c.n_layer, batch, c.n_head, c.max_seq_len, c.head_dim)
    codes = torch.ones(batch, 1, len(c.vocab_sizes), dtype=torch.long)
    args = (codes, torch.tensor([1]), torch.zeros(batch), torch.zeros(shape), torch.zeros(shape))
    start = time.perf_counter()
    fd, scratch = tempfile.mkstemp(suffix=".onnx", dir=folder)
    os.close(fd)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                ReadOnlyStep(model).eval(), args, scratch, dynamo=True, optimize=True,
                verbose=False, external_data=False, input_names=["codes", "pos", "onset",
                "keys", "values"], output_names=list(OUTPUTS),
            )  # fmt: skip
        os.replace(scratch, path)
    finally:
        if os.path.exists(scratch):
            os.unlink(scratch)
    if note is not None:
        note(f"tuplet: exported in {time.perf_counter() - start:.1f} s")
    return path


class OnnxDecoder:
    """The forward pass of one new event per row on ONNX Runtime, over a bound cache.

    The same interface as :class:`tuplet.model.compiled.StaticDecoder` where the sampler uses
    it (:meth:`load`, :meth:`position`, :meth:`hidden`, :attr:`length`), but :meth:`hidden`
    also stores the new event's keys and values and advances nothing: the caller advances
    :attr:`length`, as with the static decoder.

    Args:
        model: A float32 model on the CPU (read, never changed).
        batch_size: Rows decoded together.
        note: Gets the one-line notes of a first export.
    """

    def __init__(
        self,
        model: MusicTransformer,
        batch_size: int,
        note: Callable[[str], None] | None = None,
    ) -> None:
        import onnxruntime as ort

        c = model.config
        self.config, self.batch_size = c, batch_size
        path = export(model, batch_size, note)
        options = ort.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self.session = ort.InferenceSession(
            str(path), options, providers=["CPUExecutionProvider"]
        )
        shape = (c.n_layer, batch_size, c.n_head, c.max_seq_len, c.head_dim)
        self.keys = np.zeros(shape, np.float32)
        self.values = np.zeros(shape, np.float32)
        self.onset = np.zeros(batch_size, np.float32)
        self.codes = np.zeros((batch_size, 1, len(c.vocab_sizes)), np.int64)
        self.pos = np.zeros(1, np.int64)
        self.out = {
            "hidden": np.zeros((batch_size, c.d_model), np.float32),
            "new_k": np.zeros((c.n_layer, batch_size, c.n_head, 1, c.head_dim), np.float32),
            "new_v": np.zeros((c.n_layer, batch_size, c.n_head, 1, c.head_dim), np.float32),
            "new_onset": np.zeros(batch_size, np.float32),
        }
        self.binding = b = self.session.io_binding()
        value = ort.OrtValue.ortvalue_from_numpy
        for name, array in (("keys", self.keys), ("values", self.values), ("codes", self.codes),
                            ("pos", self.pos), ("onset", self.onset)):  # fmt: skip
            b.bind_ortvalue_input(name, value(array))
        for name, array in self.out.items():
            b.bind_ortvalue_output(name, value(array))
        self.hidden_out = torch.from_numpy(self.out["hidden"])
        self.length = 0

    def load(self, cache: KVCache) -> None:
        """Start from an eager cache of one sequence (a prompt), copied to every row."""
        n = cache.length
        for layer, (k, v) in enumerate(zip(cache.keys, cache.values, strict=True)):
            assert k is not None and v is not None
            self.keys[layer, :, :, :n] = k[:, :, :n].float().numpy()
            self.values[layer, :, :, :n] = v[:, :, :n].float().numpy()
        if cache.last_onset_ticks is not None:
            self.onset[:] = cache.last_onset_ticks.float().numpy()
        self.length = n

    def position(self) -> Tensor:
        """The next event's position as a (1,) tensor."""
        return torch.tensor([self.length])

    def hidden(self, codes: Tensor, pos: Tensor) -> Tensor:
        """The final hidden state (B, d) of one new event per row, stored in the cache.

        The returned tensor is a view of a buffer the next call overwrites.
        """
        at = int(pos[0])
        self.codes[...] = codes.numpy()
        self.pos[0] = at
        self.session.run_with_iobinding(self.binding)
        self.keys[:, :, :, at] = self.out["new_k"][:, :, :, 0]
        self.values[:, :, :, at] = self.out["new_v"][:, :, :, 0]
        self.onset[:] = self.out["new_onset"]
        return self.hidden_out


__all__ = ["OnnxDecoder", "ReadOnlyStep", "export", "unavailable"]
