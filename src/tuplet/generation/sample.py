"""The sampler: constrained, KV-cached decoding of note-tuple sequences.

:func:`sample_codes` continues one prompt (an int64 code array, see :mod:`tuplet.encoding`)
into ``n`` sequences at once, one event per step and one field after another: the type
first, then the other fields, each knowing the type (and, with cascade heads, conditioned on
the fields already chosen). Each field is drawn from the model's distribution restricted to
the codes the rules of :mod:`tuplet.generation.constraints` allow, then shaped by the field's
temperature, top-k, top-p and min-p. The default is MMT's own sampler: top-k with
k = ceil(10% of the field's vocabulary), temperature 1 (so the type, with 5 or 10 codes, is
chosen greedily).

Speed: the prompt is run once and its keys and values are shared by the whole batch (a KV
cache); each step then runs the model on one new event per sequence; the masks are tensor
operations on the batch (no Python loop over sequences); finished sequences leave the batch.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tuplet.encoding import EncodingConfig, order_onsets
from tuplet.errors import TupletError, UsageError
from tuplet.generation.constraints import MaskState, Violation, check_sequence, read_prompt
from tuplet.generation.rules import RULES, Constraints, Limits
from tuplet.generation.settings import (
    DEFAULT_TOP_K_FRAC,
    FieldRule,
    SamplingSettings,
)

if TYPE_CHECKING:
    import torch

    from tuplet.model.transformer import MusicTransformer

_NO_DEFAULT_MODEL = (
    "no default model is installed; pass --model CHECKPOINT (train one with `tuplet train`)"
)


def default_model_path() -> Path:
    """The checkpoint shipped in the package (``tuplet/data/default-model``).

    Raises:
        TupletError: No default model is installed.
    """
    from importlib.resources import files

    path = Path(str(files("tuplet") / "data" / "default-model"))
    if not (path / "config.json").is_file():
        raise TupletError(_NO_DEFAULT_MODEL)
    return path


# ------------------------------------------------------------------------------ sampling
DECODERS: tuple[str, ...] = ("eager", "compiled", "jit", "static")
"""How :func:`sample_codes` runs a decoding step (see its ``decoder`` argument)."""

WINDOW_MIN = 128
"""The shortest cache window a step compiled ahead of time attends over (see
:meth:`tuplet.model.static.StaticDecoder.window`): windows of 128, 256, 512... positions, each
its own package, so a short piece compiles one or two."""

PARALLEL_ROWS = 4
"""On a CPU, a forward pass over fewer rows (sequences x new events) than this runs on one
thread: measured on the project's 2-core machine, one cached step of a single stream was no
faster on two threads (small preset 3.23 against 3.25 ms; mmt-paper 12.8 against 12.3 ms),
two streams were mixed (small 5.6 against 5.4 ms, mmt-paper 19.3 against 22.5 ms), four and
eight were faster on two."""


def _draw(logits: torch.Tensor, allowed: torch.Tensor, rule: FieldRule, race: torch.Tensor) -> Any:
    """One code per row from ``logits`` (B, V) restricted to ``allowed`` (B, V).

    The ``k`` best allowed codes are kept (sorted), tempered, cut to the top-``p`` mass and to
    those at least ``min_p`` times as likely as the first, and one is drawn by an exponential
    race (``argmax p_i / E_i`` with ``E_i ~ Exp(1)`` picks ``i`` with probability ``p_i``),
    which costs a fraction of ``torch.multinomial``. ``race`` (B, >= k) holds the ``E_i``,
    drawn for the whole step at once (:func:`_race`).
    """
    logits = logits.float().masked_fill(~allowed, -math.inf)
    if rule.temperature == 0 or rule.k == 1:
        return logits.argmax(dim=-1)
    values, index = logits.topk(rule.k, dim=-1)  # (B, k), best first
    if rule.temperature != 1:
        values = values / rule.temperature
    probs = values.softmax(dim=-1)
    if rule.p < 1:
        # drop a code once the codes before it already reach p (the first is always kept)
        probs = probs.masked_fill(probs.cumsum(dim=-1) - probs >= rule.p, 0.0)
    if rule.min_p > 0:
        probs = probs.masked_fill(probs < rule.min_p * probs[:, :1], 0.0)
    choice = (probs / race[:, : rule.k]).argmax(dim=-1, keepdim=True)
    return index.gather(-1, choice).squeeze(-1)


def _race(n: int, rules: list[FieldRule], generator: Any, device: Any) -> torch.Tensor:
    """(n, F, max k) Exp(1) draws for one step: every field of every sequence of the batch.

    Drawn once per step for all ``n`` sequences, finished or not, so that each sequence's
    draws do not depend on which others are still running, nor on whether a step runs
    eagerly or compiled.
    """
    import torch

    k = max(rule.k for rule in rules)
    race = torch.empty(n, len(rules), k, device=device)
    return race.exponential_(generator=generator).clamp_min_(1e-30)


def _draw_event(
    model: MusicTransformer,
    state: MaskState,
    rules: list[FieldRule],
    h: torch.Tensor,
    race: torch.Tensor,
    force_end: bool,
    skip: bool,
) -> torch.Tensor:
    """The next event (B, F) of every row: its type, then its other fields in model order.

    The order is the one the model predicts them in (``model.config.order``).

    With ``skip``, fields that no row's type defines are not drawn (one sync with the host
    per step); without, every field is drawn, masked to 0 where the type leaves it undefined:
    the same codes, in a fixed sequence of operations (what a compiled step needs).
    """
    import torch

    g, n_fields = state.g, len(rules)
    order = model.config.order  # the cascade's order: type first, then as the model predicts
    row = torch.zeros(h.shape[0], n_fields, dtype=torch.long, device=h.device)
    allowed = state.type_mask(force_end=force_end)
    types = _draw(model.head_logits(h, None, 0), allowed, rules[0], race[:, 0])
    row[:, 0] = types
    defined = g.defined[types]  # (B, F)
    if skip:
        # which fields some row needs, which every row needs
        needed, every = torch.stack([defined.any(dim=0), defined.all(dim=0)]).tolist()
        last = max((k for k, j in enumerate(order) if needed[j]), default=0)
        if not state.on["fields"]:
            last = n_fields - 1
    else:
        needed, every, last = [True] * n_fields, [False] * n_fields, n_fields - 1
    # the cascade input carried from field to field (a field no row needs keeps its code 0,
    # which later fields still see, as in training)
    prefix = model.cascade_prefix(None, types, 0) if last > 0 else None
    for k in range(1, last + 1):
        j = order[k]
        if needed[j] or not state.on["fields"]:
            allowed = state.field_mask(j, types, None if every[j] else defined[:, j], row)
            row[:, j] = _draw(model.head_logits(h, prefix, j), allowed, rules[j], race[:, j])
        if k < last:
            prefix = model.cascade_prefix(prefix, row[:, j], j)
    return row


def _static_step(
    model: MusicTransformer,
    state: MaskState,
    rules: list[FieldRule],
    decoder: Any,
    h: torch.Tensor,
    race: torch.Tensor,
    pos: torch.Tensor,
    done: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """One step of :func:`_decode_static`: the next event, the rule state, the model.

    Returns the new rows, which sequences are done, whether all are, and the new hidden
    states. A plain function of its arguments, so that one compiled graph serves every
    call of :func:`sample_codes` with the same model, batch size and settings.
    """
    row = _draw_event(model, state, rules, h, race, False, skip=False)
    done = done | state.update(row)
    return row, done, done.all(), decoder.hidden(row[:, None], pos)


def _ahead_of_time(
    model: MusicTransformer,
    state: MaskState,
    rules: list[FieldRule],
    decoder: Any,
    args: tuple[torch.Tensor, ...],
    note: Callable[[str], None] | None,
) -> Callable[..., Any]:
    """:func:`_static_step` compiled ahead of time for these shapes and settings (on disk).

    Falls back to ``torch.compile`` (and that to eager) with a one-line note where exporting
    or compiling fails.
    """
    from tuplet.model.compiled import AheadOfTime, Leaves, compile_step, notifier

    def step(*args: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return _static_step(model, state, rules, decoder, *args)

    def run(model: Any, state: Any, rules: Any, decoder: Any, *args: torch.Tensor) -> Any:
        return aot(*args)

    try:
        leaves = Leaves([(state, None), (state.g, None),
                         (decoder, ("keys", "values", "onset", "key_positions"))])  # fmt: skip
        aot = AheadOfTime(step, model, leaves, args, repr(rules), note)
    except Exception as e:  # any exporter or compiler failure: the step compiled as it runs
        notifier(note)(
            f"tuplet: compiling ahead of time failed ({type(e).__name__}: "
            f"{' '.join(str(e).split())[:120]}); "
            "compiling as it runs instead"
        )
        return compile_step(_static_step, args[0].device, note)
    return run


def _decode_static(
    model: MusicTransformer,
    state: MaskState,
    rules: list[FieldRule],
    h: torch.Tensor,
    cache: Any,
    out: torch.Tensor,
    generator: Any,
    bar: Any,
    compile: bool,
    note: Callable[[str], None] | None,
    n: int,
    jit: bool = False,
) -> torch.Tensor:
    """The decoding loop of :func:`sample_codes` with one compiled graph per step.

    Each step (draw every field of the next event, update the rule state, run the new event
    through the model over a static-shape cache) is one call of a function compiled once.
    Shapes never change: finished sequences stay in the batch (their rows are cut off at
    their end afterwards), so one graph serves the whole run. The last step, which must end
    every sequence, runs eagerly. The first ``n`` rows are the sequences asked for, the others
    pad the batch to its compiled size. Returns each row's number of new rows.
    """
    import torch

    from tuplet.model.compiled import compile_step, compile_unavailable
    from tuplet.model.static import StaticDecoder

    rows, steps = out.shape[0], out.shape[1]
    # the cache's length is the model's longest sequence, whatever this call's limit: one
    # graph serves every call with this batch size
    decoder = StaticDecoder(model, rows, model.config.max_seq_len)
    decoder.load(cache)
    h = h.new_empty(h.shape).copy_(h)  # the prompt's, expanded: one layout for every step

    compiled: Callable[..., Any] = _static_step
    ahead = compile and not jit and h.device.type == "cpu" and compile_unavailable(h.device) is None
    if compile and not ahead:
        compiled = compile_step(_static_step, h.device, note)
    done = torch.arange(rows, device=h.device) >= n  # padding rows count as done from the start
    packages: dict[int, Callable[..., Any]] = {}  # per window width: its compiled step
    views: dict[int, Any] = {}  # per window width: the decoder seen through it
    for i in range(steps):
        race = _padded_race(n, rows, rules, generator, h.device)
        if i == steps - 1:
            row = _draw_event(model, state, rules, h, race, True, skip=True)
            state.update(row)
            out[:, i] = row
            break
        # the first step runs uncompiled: it turns the rule state's tensors, made outside
        # inference mode, into inference tensors, as every later step finds them; after the
        # second, nothing a compiled graph depends on changes within this call (the same
        # objects, shapes and settings), so dynamo's checks of it are skipped
        view = decoder
        if not compile or ahead:
            # the cache seen through a window of the next power of two above the position (at
            # least WINDOW_MIN); compiled ahead of time, one package per window, compiled when
            # first needed (a step compiled as it runs keeps the whole cache: one graph)
            width = max(WINDOW_MIN, 1 << decoder.length.bit_length())
            if width not in views:
                views[width] = decoder.window(width)
            view = views[width]
            if ahead and i > 0 and view.capacity not in packages:
                packages[view.capacity] = _ahead_of_time(
                    model, state, rules, view, (h, race, decoder.position(), done), note
                )
            compiled = packages.get(view.capacity, _static_step)
        run = compiled if i > 0 else _static_step
        # dynamo's checks matter only to a step compiled as it runs (importing dynamo to set
        # them costs 2 s: not done for a step compiled ahead of time)
        with (
            torch.compiler.set_stance(skip_guard_eval_unsafe=compile and i > 1)
            if compile and not ahead
            else contextlib.nullcontext()
        ):
            row, done, finished, h = run(
                model, state, rules, view, h, race, decoder.position(), done
            )
        decoder.length += 1
        out[:, i] = row
        bar.update(1)
        if bool(finished):
            break
    return _lengths(out, state)


def _padded_race(
    n: int, rows: int, rules: list[FieldRule], generator: Any, device: Any
) -> torch.Tensor:
    """:func:`_race` for the ``n`` sequences, and ones for the rows that pad the batch.

    The padding rows take no randomness from the sequences'.
    """
    import torch

    race = _race(n, rules, generator, device)
    if rows > n:
        race = torch.cat([race, race.new_ones(rows - n, *race.shape[1:])])
    return race


def _lengths(out: torch.Tensor, state: MaskState) -> torch.Tensor:
    """Each row's new rows, up to its first end (a finished one keeps drawing end-of-song)."""
    import torch

    types = out[..., 0]
    ends = types == state.g.eos
    if state.header_only:
        ends = ends | (types == state.g.son)
    first = torch.where(ends.any(dim=1), ends.int().argmax(dim=1) + 1, out.shape[1])
    return first.cpu()


def sample_codes(
    model: MusicTransformer,
    encoding: EncodingConfig,
    prompt: np.ndarray,
    *,
    n: int = 1,
    settings: SamplingSettings | None = None,
    limits: Limits | None = None,
    constraints: Constraints | None = None,
    generator: torch.Generator | None = None,
    use_cache: bool = True,
    progress: bool = False,
    decoder: str = "eager",
    note: Callable[[str], None] | None = None,
) -> list[np.ndarray]:
    """Continue a prompt into ``n`` sequences, obeying the rules of the module docstring.

    Args:
        model: The model (put in eval mode for the call).
        encoding: Its encoding (``info["encoding"]`` of its checkpoint).
        prompt: (P, F) codes: start-of-song, then any valid beginning (a header, events, or
            a fill-in-the-middle context ending with the two fill markers).
        n: How many sequences (sampled as one batch).
        settings: Temperature, top-k, top-p, min-p (default: MMT's sampler).
        limits: Length limits (default: up to the model's ``max_seq_len``).
        constraints: Instruments and forbidden event types.
        generator: Randomness (a ``torch.Generator`` on the model's device).
        use_cache: Decode with a KV cache; False recomputes the whole sequence every step
            (for comparison).
        progress: Show a progress bar (tqdm).
        decoder: ``eager`` (the reference); ``compiled``: each step one compiled graph
            over a static-shape cache (:mod:`tuplet.model.compiled`), the same codes as the
            eager path for the same generator up to float rounding, several times faster
            on a CPU once compiled (there compiled ahead of time, kept on disk per model,
            batch size and settings), and run uncompiled where compiling is unavailable;
            ``jit``: the same step compiled by ``torch.compile`` as it runs (traced again in
            each process; for comparison); ``static``: that step uncompiled. All but
            ``eager`` need ``use_cache``.
        note: Where the compiled path's one-line notes go (default: stderr).

    Returns:
        ``n`` int64 arrays (prompt + new rows, ending with end-of-song); the prompt's notes of
        one onset in the model's ``onset_order``.

    Raises:
        UsageError: A model and encoding that do not match, a prompt that breaks the rules,
            limits the model cannot meet, or constraints that leave nothing to sample.
    """
    import torch
    from tqdm.auto import tqdm

    settings = settings or SamplingSettings()
    limits = limits or Limits()
    constraints = constraints or Constraints()
    # the notes of a prompt's onsets in the order the model reads them
    prompt = order_onsets(np.asarray(prompt, dtype=np.int64), encoding, model.config.onset_order)
    max_events = _check_call(model, encoding, prompt, n, limits, decoder, use_cache)
    info = read_prompt(prompt, encoding)
    rules = settings.resolve(encoding.fields, encoding.vocab_sizes)
    device = next(model.parameters()).device
    # a compiled step serves one batch size: batches are rounded up to a power of two (the
    # extra rows decode alongside and are dropped), so a redraw of a few pieces reuses it
    rows = n if decoder == "eager" else 1 << (n - 1).bit_length()
    state = MaskState(encoding, info, rows, constraints, limits, device, model.config.order)
    steps = max_events - len(prompt)
    out = torch.zeros(rows, steps, len(encoding.fields), dtype=torch.long, device=device)
    was_training = model.training
    model.eval()
    forward = _Forward(model)
    try:
        with (
            torch.inference_mode(),
            tqdm(total=steps, unit="event", disable=not progress, leave=False) as bar,
        ):
            seq = torch.as_tensor(prompt, device=device)[None]  # (1, P, F)
            cache = model.new_cache(1, capacity=max_events) if use_cache else None
            h = forward(seq, cache).expand(rows, -1)  # (rows, d)
            if cache is not None:
                cache.select(torch.zeros(rows, dtype=torch.long, device=device))
            if decoder != "eager":
                if forward.few and n >= PARALLEL_ROWS:  # the step's kernels use these threads
                    torch.set_num_threads(forward.threads)
                lengths = _decode_static(
                    model, state, rules, h, cache, out, generator, bar,
                    decoder in ("compiled", "jit"), note, n, jit=decoder == "jit",
                )  # fmt: skip
            else:
                lengths = _decode_eager(
                    forward, state, rules, h, seq.expand(n, -1, -1), cache, out, generator, bar
                )
    finally:
        model.train(was_training)
        torch.set_num_threads(forward.threads)
    new = out.cpu().numpy()
    return [np.concatenate([prompt, new[i, : int(lengths[i])]]) for i in range(n)]


def _check_call(
    model: MusicTransformer,
    encoding: EncodingConfig,
    prompt: np.ndarray,
    n: int,
    limits: Limits,
    decoder: str,
    use_cache: bool,
) -> int:
    """Refuse what :func:`sample_codes` cannot do; returns the most events a sequence may have."""
    c = model.config
    if tuple(c.field_names) != encoding.fields or tuple(c.vocab_sizes) != encoding.vocab_sizes:
        raise UsageError(
            f"the model reads fields {list(c.field_names)} with vocabularies "
            f"{list(c.vocab_sizes)}, not the {encoding.name} encoding's "
            f"{list(encoding.vocab_sizes)}"
        )
    if n < 1:
        raise UsageError(f"n must be at least 1, got {n}")
    if decoder not in DECODERS:
        raise UsageError(f"unknown decoder {decoder!r} (choose from {', '.join(DECODERS)})")
    if decoder != "eager" and not use_cache:
        raise UsageError(f"the {decoder} decoder needs the KV cache (use_cache=True)")
    max_events = c.max_seq_len if limits.max_events is None else limits.max_events
    if not len(prompt) < max_events <= c.max_seq_len:
        raise UsageError(
            f"max_events {max_events} must exceed the prompt's {len(prompt)} events and be at "
            f"most the model's max_seq_len {c.max_seq_len}"
        )
    if limits.max_beats is not None and not 0 < limits.max_beats <= encoding.max_beat:
        raise UsageError(
            f"max_beats {limits.max_beats} must be 1..{encoding.max_beat} (the model's beats)"
        )
    return max_events


class _Forward:
    """The model's last hidden state after new events, on as many threads as pay.

    The masks and draws are tiny tensor operations, slower on several threads than on one:
    only the model's forward pass gets the threads (switching costs under a microsecond), and
    only when it has rows enough to share: a cached step of fewer than :data:`PARALLEL_ROWS`
    sequences gains little or nothing from more threads, and their spinning after it slows
    the sampling that follows (docs/benchmarks.md, Generation).
    """

    def __init__(self, model: MusicTransformer) -> None:
        import torch

        self.model = model
        self.threads = torch.get_num_threads()
        self.few = next(model.parameters()).device.type == "cpu" and self.threads > 1

    def __call__(self, codes: torch.Tensor, cache: Any) -> torch.Tensor:
        import torch

        wide = codes.shape[0] * codes.shape[1] >= PARALLEL_ROWS
        if self.few and wide:
            torch.set_num_threads(self.threads)
        h = self.model.hidden(codes, kv_cache=cache)[0][:, -1]  # (B, d)
        if self.few:
            torch.set_num_threads(1)
        return h


def _decode_eager(
    forward: _Forward,
    state: MaskState,
    rules: Any,
    h: torch.Tensor,
    seq: torch.Tensor,
    cache: Any,
    out: torch.Tensor,
    generator: torch.Generator | None,
    bar: Any,
) -> torch.Tensor:
    """The reference decoding loop: one event per step, finished sequences dropped.

    Writes each step's rows into ``out`` (rows, steps, F); with a ``cache`` the model reads
    only the new event, without one the whole sequence ``seq`` (n, P, F) again. Returns each
    sequence's number of new rows.
    """
    import torch

    n, steps = len(seq), out.shape[1]
    device = out.device
    lengths = torch.full((out.shape[0],), steps, dtype=torch.long)
    active = torch.arange(n, device=device)
    for step in range(steps):
        race = _race(n, rules, generator, device)
        race = race if len(active) == n else race[active]
        row = _draw_event(forward.model, state, rules, h, race, step == steps - 1, skip=True)
        ended = state.update(row)
        out[active, step] = row
        bar.update(1)
        if bool(ended.any()):
            lengths[active[ended].cpu()] = step + 1
            keep = (~ended).nonzero().squeeze(1)
            if len(keep) == 0:
                break
            active, row, h = active[keep], row[keep], h[keep]
            state.select(keep)
            if cache is not None:
                cache.select(keep)
            else:
                seq = seq[keep]
        if cache is not None:
            h = forward(row[:, None], cache)
        else:
            seq = torch.cat([seq, row[:, None]], dim=1)
            h = forward(seq, None)
    return lengths


__all__ = [
    "DEFAULT_TOP_K_FRAC",
    "RULES",
    "Constraints",
    "FieldRule",
    "Limits",
    "SamplingSettings",
    "Violation",
    "check_sequence",
    "default_model_path",
    "sample_codes",
]
