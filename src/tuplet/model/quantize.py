"""int8 or halved (bf16, fp16) weights for faster generation on a CPU.

A decoding step with one stream multiplies one row of activations by every weight matrix of
the model, so it is bound by how fast the weights can be read, not by arithmetic. int8 weights
are a quarter of the fp32 bytes: the paper-sized model's 80 MB of fp32 weights become about
20 MB, which fits in a large last-level cache, where the fp32 ones do not. Measured in
``bench/generate.py`` (``--dtype int8``) and ``docs/benchmarks.md``.

What is quantized: the linear layers of the transformer blocks (attention in/out projections
and the feed-forward layers, nearly all the weights), with PyTorch's dynamic quantization:
int8 weights with one scale per output channel; each step's activations are quantized on the
fly (one scale per call) and the products summed in int32. The embeddings, layer norms, output
heads and the cascade heads stay fp32 (small, and where the sampled probabilities are made).
The model's logits change slightly: ``tuplet evaluate --model M --data D --weights int8``
scores a checkpoint that way (on the shipped default model: test NLL/note 3.7202 against
3.7194 in fp32). Choosing the engine sets ``torch.backends.quantized.engine`` for the process.

Halved weights (:func:`halve_products`, ``--dtype bfloat16``): the same layers' weights in
bf16, with the attention's keys and values, everything else fp32. On a CPU with bf16 products
(AVX-512 BF16, AMX) a compiled batch step packs them once for oneDNN
(:func:`tuplet.model.compiled.aot_options`); measured in ``docs/benchmarks.md``.

The int8 path uses ``torch.ao.quantization.quantize_dynamic``, which PyTorch marks as deprecated in
favour of the separate ``torchao`` package; it is present and works in the pinned torch
(2.13), and tuplet raises a clear error where it is missing.
"""

from __future__ import annotations

import copy
import warnings
from typing import TYPE_CHECKING

from tuplet.errors import UsageError

if TYPE_CHECKING:
    from tuplet.model.transformer import MusicTransformer


def quantize_int8(model: MusicTransformer) -> MusicTransformer:
    """A copy of ``model`` (on the CPU, for inference) with int8 transformer-block weights.

    Raises:
        UsageError: The model is not on the CPU, or this PyTorch build cannot quantize.
    """
    import torch

    device = next(model.parameters()).device
    if device.type != "cpu":
        raise UsageError(f"int8 weights run on the CPU only, not {device} (use --device cpu)")
    engines = torch.backends.quantized.supported_engines
    try:
        from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic
    except ImportError as e:  # pragma: no cover - depends on the torch build
        raise UsageError(f"this PyTorch cannot make int8 weights ({e}); use float32") from e
    engine = next((e for e in ("x86", "fbgemm") if e in engines), None)
    if engine is None:  # pragma: no cover - ARM builds have qnnpack only
        raise UsageError(
            f"int8 weights need the x86 quantization engine; this PyTorch has {engines}"
        )
    torch.backends.quantized.engine = engine
    model = copy.deepcopy(model).float().eval()
    with warnings.catch_warnings():
        # deprecation notices of torch.ao.quantization (see the module docstring)
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        quantized = quantize_dynamic(
            model, {"blocks": per_channel_dynamic_qconfig}, dtype=torch.qint8, inplace=True
        )
    return quantized


HALF_DTYPES = ("bfloat16", "float16")
"""The halved weights :func:`halve_products` makes."""


def halve_products(model: MusicTransformer, dtype: str) -> MusicTransformer:
    """A copy of ``model`` whose transformer-block products read ``dtype`` weights.

    The same layers as :func:`quantize_int8` (nearly all the weights, so nearly all the bytes
    a decoding step reads) hold their weights in bfloat16 or float16; each product takes its
    input in that dtype and gives its output back in fp32, where the bias is added. The
    attention's queries, keys and values are kept in that dtype too (the KV cache, which a
    batch's step reads more of than its weights, is halved), its output comes back in fp32.
    The residual stream, embeddings, layer norms and output heads stay fp32. (The whole model
    in bf16 cost the default model 0.047 nats a note on its test split; this, 0.00001:
    `docs/benchmarks.md`.)

    Raises:
        UsageError: ``dtype`` is not one of :data:`HALF_DTYPES`.
    """
    import torch

    if dtype not in HALF_DTYPES:
        raise UsageError(f"halved weights are {' or '.join(HALF_DTYPES)}, not {dtype!r}")
    half = getattr(torch, dtype)
    model = copy.deepcopy(model).float().eval()
    for block in model.blocks:
        for layer in block.modules():  # the attention's qkv and out, the feed-forward's two
            if isinstance(layer, torch.nn.Linear):
                layer.weight.data = layer.weight.data.to(half)
    return model


def with_weights(model: MusicTransformer, dtype: str) -> MusicTransformer:
    """``model`` as ``tuplet generate --dtype`` runs it.

    ``float32``: itself, as trained; ``int8``: :func:`quantize_int8`; ``bfloat16`` /
    ``float16``: :func:`halve_products`.

    Raises:
        UsageError: An unknown dtype, or int8 off the CPU.
    """
    if dtype == "float32":
        return model
    if dtype == "int8":
        return quantize_int8(model)
    return halve_products(model, dtype)


def int8_bytes(model: MusicTransformer) -> int:
    """Bytes of the int8 weights of a model made by :func:`quantize_int8`."""
    total = 0
    for module in model.modules():
        weight = getattr(module, "weight", None)
        if callable(weight):  # quantized linear layers expose weight() as a method
            total += weight().numel()
    return total


__all__ = ["HALF_DTYPES", "halve_products", "int8_bytes", "quantize_int8", "with_weights"]
