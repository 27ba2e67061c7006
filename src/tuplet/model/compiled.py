"""Compiling one decoding step over a static-shape KV cache into one graph.

The eager sampler (:func:`tuplet.generation.sample.sample_codes`) runs a step as some 150
small PyTorch operations and six field draws, each a Python round trip; on a CPU those cost
more than the step's arithmetic. :class:`tuplet.model.static.StaticDecoder` writes the forward
pass of one new event over a cache whose shapes never change (every layer's keys and values
preallocated to the longest sequence, the new event written at its position, attention masked
to the positions so far), so that the whole step (this forward pass, the cascade heads, the
rule masks and the draws, assembled by the sampler) can be compiled into one graph of
generated C++ kernels (the approach of PyTorch's gpt-fast). On a CPU the step is compiled
ahead of time (:class:`AheadOfTime`: ``torch.export`` and AOTInductor, the package kept on disk
and loaded in milliseconds by later runs); elsewhere, and as the fallback, ``torch.compile``
compiles it as it runs (:func:`compile_step`, which traces it again in every process).
Measured against the eager path in ``bench/generate.py``; figures in ``docs/benchmarks.md``.

int8 weights: a model made by :func:`tuplet.model.quantize.quantize_int8` is read here as
int8 weights with one scale per output channel (the same numbers), applied weight-only: the
activations stay in floating point and, in the compiled graph, each product reads the int8
weights directly (the dequantization fused into the product's loop).

Without a C++ compiler, or where compiling fails, the step runs eagerly (the static-cache step,
as tests run it) after a one-line note.
"""

from __future__ import annotations

import functools
import os
import shutil
import sys
import time
import warnings
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import Tensor

Fn = TypeVar("Fn", bound=Callable[..., Any])


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
        # inductor's own choice (its config.cpp.cxx), without importing inductor (1.5 s):
        # $CXX, else clang++ on macOS and g++ elsewhere
        compiler = os.environ.get("CXX") or ("clang++" if sys.platform == "darwin" else "g++")
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


def notifier(note: Callable[[str], None] | None) -> Callable[[str], None]:
    """Where a compiled path's one-line notes go: ``note``, else standard error."""
    return note or (lambda line: print(line, file=sys.stderr))


_ANNOUNCED: set[tuple[Any, str]] = set()


def compile_step(fn: Fn, device: torch.device, note: Callable[[str], None] | None = None) -> Fn:
    """``fn`` compiled with ``torch.compile`` (static shapes), or ``fn`` itself.

    The first call compiles (tens of seconds on a small CPU; inductor keeps what it built in
    :func:`cache_dir`, so later runs on the machine skip most of it); ``note`` gets one line
    before the first compilation in the process and one after any call that compiled for
    more than a second. Where compiling is unavailable or fails, ``note`` gets one line
    saying so and the function runs eagerly.
    """
    say = notifier(note)
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


# ------------------------------------------------------------------------------ ahead of time
class Leaves:
    """The tensors a step reads from Python objects (a sampler's rule state, a cache), by name.

    A compiled-ahead step takes them as inputs (so their values are not baked into it) and
    gives back those it replaces; everything else the objects hold (Python numbers, flags,
    settings) is baked in, so it goes into :meth:`signature`, which names the artefact.

    Args:
        holders: ``(object, names)`` pairs: the attributes to read (``None``: every attribute
            but those another pair walks); a list of tensors counts as one leaf per element.
    """

    def __init__(self, holders: list[tuple[Any, tuple[str, ...] | None]]) -> None:
        walked = {id(obj) for obj, _ in holders}
        self.slots: list[tuple[Any, str, int | None]] = []
        self.baked: list[str] = []
        for number, (obj, names) in enumerate(holders):
            attrs = vars(obj)
            for name in sorted(attrs if names is None else names):
                value = attrs[name]
                if isinstance(value, Tensor):
                    self.slots.append((obj, name, None))
                elif isinstance(value, list | tuple) and value and all(
                    isinstance(v, Tensor) for v in value
                ):
                    self.slots += [(obj, name, i) for i in range(len(value))]
                elif id(value) not in walked:
                    text = repr(value)
                    # an object's identity has no stable name; a tensor inside something else
                    # would be baked by a repr that elides its values
                    if " at 0x" in text or "tensor(" in text:
                        raise ValueError(f"cannot bake {type(obj).__name__}.{name} ({text[:80]})")
                    self.baked.append(f"{number}.{name}={text}")

    def values(self) -> list[Tensor]:
        """The leaves' current tensors, in slot order."""
        out = []
        for obj, name, i in self.slots:
            value = getattr(obj, name)
            out.append(value if i is None else value[i])
        return out

    def assign(self, values: list[Tensor], which: list[int] | None = None) -> None:
        """Put tensors back into the objects (all slots, or the slots ``which``)."""
        for j, value in zip(range(len(self.slots)) if which is None else which, values,
                            strict=True):  # fmt: skip
            obj, name, i = self.slots[j]
            if i is None:
                setattr(obj, name, value)
            else:
                held = getattr(obj, name)
                if isinstance(held, tuple):
                    held = list(held)
                held[i] = value
                setattr(obj, name, held)

    def signature(self) -> str:
        """What the compiled step depends on besides the leaves' values."""
        shapes = [f"{tuple(v.shape)}:{v.dtype}" for v in self.values()]
        return ";".join(self.baked + shapes)


def _digest(h: Any, value: Any) -> None:
    """Feed every tensor under ``value`` (tensors, quantized ones, tuples, lists, dicts)."""
    if isinstance(value, Tensor):
        if value.is_quantized:
            _digest(h, value.int_repr())
            scales = (
                value.q_per_channel_scales()
                if value.qscheme() in (torch.per_channel_symmetric, torch.per_channel_affine)
                else torch.tensor([value.q_scale()])
            )
            _digest(h, scales)
            return
        h.update(f"{tuple(value.shape)}{value.dtype}".encode())
        h.update(value.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    elif isinstance(value, dict):
        for k in sorted(value):
            h.update(str(k).encode())
            _digest(h, value[k])
    elif isinstance(value, list | tuple):
        for v in value:
            _digest(h, v)
    else:
        h.update(repr(value).encode())


class _Traced(torch.nn.Module):
    """``fn`` over explicit leaves: what ``torch.export`` traces (the objects are restored)."""

    def __init__(self, fn: Callable[..., tuple[Tensor, ...]], leaves: Leaves,
                 n_args: int) -> None:  # fmt: skip
        super().__init__()
        # the model is not registered: its weights (float, or int8 read out of quantized
        # layers, which export cannot take as modules) are the package's constants either way
        self.fn, self.leaves, self.n_args = fn, leaves, n_args
        self.changed: list[int] = []

    def forward(self, *inputs: Tensor) -> tuple[Tensor, ...]:
        """``fn``'s outputs, then the leaves it replaced (:attr:`changed`)."""
        args, values = inputs[: self.n_args], list(inputs[self.n_args :])
        saved = self.leaves.values()
        self.leaves.assign(values)
        try:
            out = self.fn(*args)
            now = self.leaves.values()
        finally:
            self.leaves.assign(saved)
        self.changed = [i for i, (a, b) in enumerate(zip(values, now, strict=True)) if a is not b]
        return (*out, *(now[i] for i in self.changed))


AOT_OPTIONS: tuple[dict[str, Any], ...] = ({"realize_opcount_threshold": 4}, {})
"""Inductor's options for a step compiled ahead of time, tried in turn: the first as
:func:`compile_options` explains (inductor 2.13 has failed on a step with it, KeyError in its
scheduler), then the defaults."""


def aot_options(model: Any) -> tuple[dict[str, Any], ...]:
    """:data:`AOT_OPTIONS` for ``model``'s weights, tried in turn.

    bfloat16 weights are compiled with inductor's ``freezing`` first: the weights become
    constants that inductor packs once for oneDNN's bf16 products, instead of bf16 products
    that repack them (or compute in fp32) on every call. (`docs/benchmarks.md`: a `small`
    batch-8 step at 1,024 events, 3.84 ms frozen in bf16 against 5.26 ms in fp32, on a CPU with
    AMX.)
    """
    if any(p.dtype == torch.bfloat16 for p in model.parameters()):
        return tuple({"freezing": True, **o} for o in AOT_OPTIONS) + AOT_OPTIONS
    return AOT_OPTIONS

_LOADED: dict[Path, tuple[Callable[[list[Tensor]], list[Tensor]], list[int]]] = {}
"""Packages loaded in this process: their step and the leaves it replaces."""

_DIGESTS: weakref.WeakKeyDictionary[Any, tuple[tuple[int, ...], str]] = weakref.WeakKeyDictionary()
"""Per live model: its tensors' version counters and the digest of its weights."""


def weights_digest(model: Any) -> str:
    """A hash of every weight of ``model`` (float or int8), kept while no weight changes.

    Recomputed when any tensor of the model's state was written in place since (training,
    ``load_state_dict``: each bumps the tensor's version counter).
    """
    import hashlib

    state = model.state_dict(keep_vars=True)
    tensors = [v for v in state.values() if isinstance(v, Tensor)]
    # inference tensors keep no version counter: a model with any is hashed every time
    versions = (
        None if any(v.is_inference() for v in tensors) else tuple(v._version for v in tensors)
    )
    held = _DIGESTS.get(model)
    if versions is not None and held is not None and held[0] == versions:
        return held[1]
    h = hashlib.sha256()
    _digest(h, state)
    if versions is not None:
        _DIGESTS[model] = (versions, h.hexdigest())
    return h.hexdigest()


_FAILED: set[Path] = set()
"""Packages whose compiling failed in this process (tried once per process)."""

AOT_FORMAT = 1
"""Bumped when what a compiled-ahead step takes or gives changes (old artefacts are ignored)."""
STEP_MODULES = ("tuplet.model.compiled", "tuplet.model.static", "tuplet.model.transformer",
                "tuplet.model.config", "tuplet.model.layers", "tuplet.model.quantize",
                "tuplet.generation.sample",
                "tuplet.generation.settings", "tuplet.generation.constraints",
                "tuplet.generation.grammar")  # fmt: skip
"""Modules whose code a compiled step is traced from: their source is part of its name."""


@functools.lru_cache(maxsize=1)
def code_digest() -> str:
    """A hash of the source of :data:`STEP_MODULES`: a changed step never loads an old package."""
    import hashlib
    import importlib.util

    h = hashlib.sha256()
    for name in STEP_MODULES:
        spec = importlib.util.find_spec(name)
        origin = spec.origin if spec is not None else None
        h.update(name.encode() + (Path(origin).read_bytes() if origin else b"?"))
    return h.hexdigest()


class AheadOfTime:
    """A decoding step compiled ahead of time (AOTInductor) and kept on disk.

    ``torch.compile`` traces a step again in every process (seconds) before it finds its
    kernels on disk; here the step is exported once (``torch.export``), compiled into a
    package of C++ kernels and weights (``torch._inductor.aoti_compile_and_package``), and a
    later process only loads it (milliseconds). The package is named by a hash of everything
    baked into it: the model's weights, the leaves' shapes and the objects' other attributes
    (:class:`Leaves`), the step's own settings and the versions; it is written to a
    temporary file and renamed, so an interrupted compile leaves nothing half-written.

    Args:
        fn: The step, ``fn(*args) -> tuple of tensors``; it reads and replaces (or writes in
            place) the leaves' tensors.
        model: The model whose weights ``fn`` reads.
        leaves: Its other inputs and state.
        args: Example arguments (tensors of the shapes every call will have).
        settings: Anything else ``fn`` bakes in (its sampling rules...), for the name.

    Raises:
        Exception: Whatever exporting, compiling or loading raises (callers fall back).
    """

    def __init__(self, fn: Callable[..., tuple[Tensor, ...]], model: Any, leaves: Leaves,
                 args: tuple[Tensor, ...], settings: str,
                 note: Callable[[str], None] | None = None) -> None:  # fmt: skip
        import hashlib
        import json

        say = notifier(note)
        self.leaves, self.n_args = leaves, len(args)
        h = hashlib.sha256(weights_digest(model).encode())
        arg_shapes = [f"{tuple(a.shape)}:{a.dtype}" for a in args]
        self.options = aot_options(model)
        meta = [AOT_FORMAT, torch.__version__, code_digest(), settings, leaves.signature(),
                arg_shapes, str(model.config), fn.__module__, fn.__qualname__,
                self.options]  # fmt: skip
        h.update(json.dumps(meta).encode())
        folder = cache_dir() / "aot"
        self.path = folder / f"step-{h.hexdigest()[:32]}.pt2"
        if self.path in _FAILED:  # not again in this process: the caller falls back at once
            raise RuntimeError(f"compiling {self.path.name} failed earlier in this process")
        if self.path in _LOADED:  # loaded before in this process
            self.run, self.changed = _LOADED[self.path]
            return
        try:
            self._build(fn, args, folder, say)
        except BaseException:
            _FAILED.add(self.path)
            raise
        _LOADED[self.path] = (self.run, self.changed)

    def _build(self, fn: Callable[..., Any], args: tuple[Tensor, ...], folder: Path,
               say: Callable[[str], None]) -> None:  # fmt: skip
        """Compile the package unless on disk, then load it (a damaged one is compiled again)."""
        import json

        sidecar = self.path.with_suffix(".json")
        os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(cache_dir()))
        for attempt in range(2):
            if not (self.path.is_file() and sidecar.is_file()):
                say(f"tuplet: compiling the decoding step ahead of time (once per model, "
                    f"settings and machine: {folder})")  # fmt: skip
                start = time.perf_counter()
                changed = self._compile(fn, args, folder)
                _write_atomic(sidecar, json.dumps({"changed": changed}).encode())
                say(f"tuplet: compiled in {time.perf_counter() - start:.1f} s")
            try:
                self.changed = list(json.loads(sidecar.read_text())["changed"])
                self.run = _load(self.path)
                break
            except Exception:  # a damaged package: compiled again, once
                if attempt:
                    raise
                say(f"tuplet: {self.path.name} could not be loaded; compiling it again")
                self.path.unlink(missing_ok=True)
                sidecar.unlink(missing_ok=True)

    def _compile(self, fn: Callable[..., Any], args: tuple[Tensor, ...],
                 folder: Path) -> list[int]:  # fmt: skip
        """Export and compile the step into :attr:`path`; returns the replaced leaves."""
        import tempfile

        import torch._inductor

        traced = _Traced(fn, self.leaves, len(args))
        folder.mkdir(parents=True, exist_ok=True)
        fd, scratch = tempfile.mkstemp(suffix=".pt2", dir=folder)
        os.close(fd)
        try:
            with warnings.catch_warnings(), torch.no_grad():
                warnings.simplefilter("ignore")
                # which leaves the step replaces, from one real run on copies (tracing runs it
                # on stand-ins, whose identities say nothing)
                traced(*args, *(v.clone() for v in self.leaves.values()))
                changed = traced.changed
                program = torch.export.export(
                    traced, (*args, *self.leaves.values()), strict=False
                )
                for options in self.options:  # the fast options have failed on some graphs
                    try:
                        torch._inductor.aoti_compile_and_package(
                            program, package_path=scratch, inductor_configs=dict(options)
                        )
                        break
                    except Exception:
                        if options is self.options[-1]:
                            raise
            os.replace(scratch, self.path)
        finally:
            if os.path.exists(scratch):
                os.unlink(scratch)
        return changed

    def __call__(self, *args: Tensor) -> tuple[Tensor, ...]:
        """Run the step: its outputs; the replaced leaves go back into their objects."""
        out = self.run([*args, *self.leaves.values()])
        n_out = len(out) - len(self.changed)
        self.leaves.assign(list(out[n_out:]), self.changed)
        return tuple(out[:n_out])


def _load(path: Path) -> Callable[[list[Tensor]], list[Tensor]]:
    """A package's step, called with and returning flat lists of tensors.

    Through the package loader itself (``torch._C._aoti``, which torch 2.13's
    ``torch._inductor.aoti_load_package`` wraps): that function imports inductor (1.5 s) and
    unpacks the package's contents (1.1 s for the shipped model's step), and its calls parse
    the input and output layouts each time; the loader alone takes 0.03 s. Where it is missing
    the caller falls back to compiling as it runs.
    """
    loader = torch._C._aoti.AOTIModelPackageLoader(str(path), "model", True, 1, -1)
    return loader.boxed_run


def _write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    scratch.write_bytes(data)
    os.replace(scratch, path)


__all__ = [
    "AheadOfTime",
    "Leaves",
    "cache_dir",
    "compile_options",
    "compile_step",
    "compile_unavailable",
    "notifier",
]
