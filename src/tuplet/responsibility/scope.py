"""What a model knows, and whether a prompt lies outside it: OK, WARN or ABSTAIN.

A model's **scope** is measured once on the dataset it was trained on and kept in its
``config.json`` (``"scope"``): the instruments it saw (notes of each), the meters, the range of
tempos, each instrument's pitch range, and how surprising held-out prompts of its own style are
to it (the per-note NLL of the first :data:`PROMPT_BEATS` beats of each validation piece).

A prompt is then **judged** before anything is generated for it:

* **ABSTAIN** when its per-note NLL is above the 99th percentile of the validation prompts' (so
  about 1% of in-style prompts are refused, by construction; the test split measures it), or
  when most of its notes are on instruments the model never saw. The message says in plain
  words what the model does not know, and suggests fine-tuning on the musician's own music;
* **WARN** when its NLL is above their 95th percentile, when it uses instruments, a meter or a
  tempo the model never saw, or notes outside an instrument's seen range; the bars the model
  finds most unusual are named;
* **OK** otherwise.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from tuplet.notes import Notes

PROMPT_BEATS = 16
"""Beats of each validation piece scored as a prompt when the scope is measured."""
FOREIGN_SHARE = 0.5
"""ABSTAIN when more than this share of a prompt's notes are on instruments never seen."""


@dataclass
class Scope:
    """What a model saw in training (see the module docstring)."""

    instruments: dict[str, int]
    meters: dict[str, int]
    tempo_qpm: list[float] | None
    pitch: dict[str, list[int]]
    nll_warn: float
    nll_abstain: float
    velocity: list[int] | None = None
    nll_mean: float | None = None
    nll_std: float | None = None
    band: dict[str, list[float]] = field(default_factory=dict)
    entropy_warn: float | None = None
    prompt_beats: int = PROMPT_BEATS
    calibrated_on: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Scope:
        """From :meth:`to_dict`."""
        return cls(**d)


@dataclass
class Judgement:
    """A prompt, judged against a scope."""

    level: str
    reasons: list[str] = field(default_factory=list)
    nll_per_note: float | None = None
    unusual_bars: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe."""
        return asdict(self)


def _instrument_names(lm: Any, notes: Notes) -> list[str]:
    """The encoding's instrument name of each note ('' where it has none)."""
    from tuplet.encoding.vocab import DRUMS_NAME, INSTRUMENT_NAMES
    from tuplet.generation.generate import Session, note_instruments
    from tuplet.generation.session import GenerationOptions

    codes = note_instruments(Session(lm, GenerationOptions()), notes)
    names = [*INSTRUMENT_NAMES, DRUMS_NAME]
    return [names[c - 1] if 0 < c <= len(names) else "" for c in codes.tolist()]


def _as_heard(lm: Any, velocity: np.ndarray) -> np.ndarray:
    """Velocities as the model's encoding holds them (the middle of their bin)."""
    from tuplet.encoding.vocab import velocity_centres, velocity_code

    bins = getattr(lm.encoding, "velocity_bins", None)
    if lm.encoding.name != "tuplet" or not bins:
        return velocity
    return velocity_centres(bins)[velocity_code(velocity, bins)]


def _meter(notes: Notes) -> str | None:
    if len(notes.timesig_ticks) == 0:
        return None
    return f"{int(notes.timesig_numerator[0])}/{int(notes.timesig_denominator[0])}"


def _as_prompt(lm: Any, notes: Notes, beats: int | None) -> tuple[Any, np.ndarray]:
    """(session, codes) of a piece's first ``beats`` beats, encoded as a prompt is.

    A header of its instruments, then its events, cut to the model's context.
    """
    from tuplet.generation.generate import Session, prompt_body
    from tuplet.generation.session import GenerationOptions

    run = Session(lm, GenerationOptions())
    seq = run.whole(prompt_body(run, notes, "prompt", beats))[:-1]
    return run, seq[: lm.model.config.max_seq_len]


def _per_note(
    run: Any, notes: Notes, seq: np.ndarray, values: np.ndarray
) -> tuple[float, dict[int, float]]:
    """The mean of ``values`` (one per target event ``seq[1:]``) over note events, and per bar.

    Bars from 0, by the first meter; NaN and {} without notes.
    """
    from tuplet.analysis.wholepiece import beats_per_bar

    targets = seq[1 : len(values) + 1]
    is_note = targets[:, 0] == run.types["note"]
    if not is_note.any():
        return math.nan, {}
    bars = ((targets[is_note, run.col["beat"]] - 1) // beats_per_bar(notes)).astype(int)
    mine = values[is_note]
    return float(mine.mean()), {int(b): float(mine[bars == b].mean()) for b in np.unique(bars)}


def prompt_nll(lm: Any, notes: Notes, beats: int | None = None) -> tuple[float, dict[int, float]]:
    """Per-note NLL (nats) of a piece's first ``beats`` beats under the model, and per bar.

    The model scores each note event given those before it.

    Returns:
        (mean NLL over note events, {bar index: mean NLL of its notes}); NaN and {} when no
        note can be scored.
    """
    import torch

    run, seq = _as_prompt(lm, notes, beats)
    with torch.inference_mode():
        device = next(lm.model.parameters()).device
        out = lm.model.loss(torch.as_tensor(seq, device=device)[None])
    return _per_note(run, notes, seq, out.event_nll[0].float().cpu().numpy())


def bar_entropy(lm: Any, notes: Notes, beats: int | None = None) -> dict[int, float]:
    """How unsure the model is, bar by bar (bars from 0; {} when no note can be scored).

    The mean entropy (nats, summed over the fields a note fills) of its predictive
    distribution at each note of the piece's first ``beats`` beats, given the events before
    it. These are the distributions the sampler draws from (before its rules and top-k), so on
    a generated piece they are the model's doubts as it wrote each bar.
    """
    import torch

    run, seq = _as_prompt(lm, notes, beats)
    model = lm.model
    with torch.inference_mode():
        codes = torch.as_tensor(seq, device=next(model.parameters()).device)[None]
        inputs, targets = codes[:, :-1], codes[:, 1:]
        h, _ = model.hidden(inputs)
        logits = model.all_field_logits(h, targets)
        ent = torch.stack(
            [-(lg.float().softmax(-1) * lg.float().log_softmax(-1)).sum(-1) for lg in logits],
            dim=-1,
        )[0]  # (T, F)
        if model.config.defined_fields is not None:
            types = targets[0, :, 0].clamp(0, len(model.config.defined_fields) - 1)
            ent = ent * model.defined[types].float()
    return _per_note(run, notes, seq, ent.sum(-1).cpu().numpy())[1]


def measure_scope(
    lm: Any,
    dataset: str | os.PathLike[str],
    *,
    prompt_beats: int = PROMPT_BEATS,
    split: str = "valid",
    progress: bool = False,
) -> Scope:
    """Measure a model's scope on the dataset it was trained on.

    What it saw comes from the train split; the thresholds from the NLL of ``split``'s prompts.
    """
    from tuplet.analysis.evaluate import read_dataset_pieces

    train = read_dataset_pieces(dataset, "train")
    counts: dict[str, int] = {}
    pitches: dict[str, list[np.ndarray]] = {}
    meters: dict[str, int] = {}
    tempos: list[float] = []
    velocities: list[np.ndarray] = []
    for notes in train.pieces:
        velocities.append(notes.velocity[~notes.is_drum])
        names = np.array(_instrument_names(lm, notes))
        for name in set(names.tolist()) - {""}:
            mask = names == name
            counts[name] = counts.get(name, 0) + int(mask.sum())
            pitches.setdefault(name, []).append(notes.pitch[mask])
        meter = _meter(notes)
        if meter is not None:
            meters[meter] = meters.get(meter, 0) + 1
        tempos += notes.tempo_qpm.tolist()
    pitch = {
        k: [int(np.percentile(np.concatenate(v), 0.5)), int(np.percentile(np.concatenate(v), 99.5))]
        for k, v in pitches.items()
    }
    held = read_dataset_pieces(dataset, split)
    items: Any = held.pieces
    if progress:
        from tqdm.auto import tqdm

        items = tqdm(items, desc="scope", unit="prompt", dynamic_ncols=True)
    nlls = [prompt_nll(lm, p, prompt_beats)[0] for p in items]
    nlls = [x for x in nlls if math.isfinite(x)]
    doubts = [v for p in held.pieces for v in bar_entropy(lm, p, 64).values()]
    return Scope(
        entropy_warn=float(np.percentile(doubts, 95)) if doubts else None,
        nll_mean=float(np.mean(nlls)),
        nll_std=float(np.std(nlls)) or 1.0,
        band=style_band(train.pieces),
        instruments=dict(sorted(counts.items(), key=lambda kv: -kv[1])),
        meters=dict(sorted(meters.items(), key=lambda kv: -kv[1])),
        tempo_qpm=[float(np.percentile(tempos, 1)), float(np.percentile(tempos, 99))]
        if tempos
        else None,
        pitch=pitch,
        nll_warn=float(np.percentile(nlls, 95)),
        nll_abstain=float(np.percentile(nlls, 99)),
        velocity=[int(np.percentile(np.concatenate(velocities), q)) for q in (1, 50, 99)]
        if velocities and lm.encoding.name == "tuplet"  # MMT's encoding has no velocity
        else None,
        prompt_beats=prompt_beats,
        calibrated_on=(
            f"{len(train.pieces)} training pieces; the first {prompt_beats} beats of "
            f"{len(nlls)} {split} pieces (per-note NLL: 95th percentile "
            f"{np.percentile(nlls, 95):.2f}, 99th {np.percentile(nlls, 99):.2f} nats)"
        ),
    )


BAND_METRICS = ("pitch_class_entropy", "scale_consistency", "groove_consistency", "polyphony",
                "pitch_range")
"""What a piece's style is measured by (on its first 64 beats) for :data:`Scope.band`."""


def style_band(pieces: list[Notes]) -> dict[str, list[float]]:
    """Each of :data:`BAND_METRICS`' 5th and 95th percentile over pieces' first 64 beats."""
    from tuplet.analysis.metrics import METRICS, trim

    values: dict[str, list[float]] = {m: [] for m in BAND_METRICS}
    for p in pieces:
        t = trim(p)
        for m in BAND_METRICS:
            v = float(METRICS[m](t))
            if math.isfinite(v):
                values[m].append(v)
    return {
        m: [float(np.percentile(v, 5)), float(np.percentile(v, 95))] for m, v in values.items() if v
    }


def judge(lm: Any, scope: Scope, notes: Notes, beats: int | None = None) -> Judgement:
    """OK, WARN or ABSTAIN for a prompt (its first ``beats`` beats; all of it when None)."""
    from dataclasses import replace

    tpb = notes.ticks_per_beat
    part = notes if beats is None else notes.select(notes.onset_ticks < beats * tpb)
    abstain: list[str] = []
    warn: list[str] = []
    if scope.velocity is not None and len(part):
        lo_v, mid_v, hi_v = scope.velocity
        loud = _as_heard(lm, part.velocity[~part.is_drum])
        if len(loud) and float(((loud < lo_v) | (loud > hi_v)).mean()) > 0.05:
            # dynamics it never heard (a model of scores knows one velocity): said, then left
            # out of the surprise, which should measure the music
            warn.append(
                f"it knows velocities {lo_v}-{hi_v} only"
                + (" (it learned from scores, which have no dynamics)" if lo_v == hi_v else "")
                + ": the prompt's dynamics will sound foreign to it"
            )
            notes = replace(notes, velocity=np.full(len(notes), mid_v))
    nll, per_bar = prompt_nll(lm, notes, beats)
    j = Judgement(level="ok", nll_per_note=None if math.isnan(nll) else round(nll, 4))
    names = np.array(_instrument_names(lm, part))
    unseen = sorted(set(names.tolist()) - set(scope.instruments) - {""})
    if unseen:
        share = float(np.isin(names, unseen).mean())
        text = f"it never heard {', '.join(unseen)} ({100 * share:.0f}% of the prompt's notes)"
        (abstain if share > FOREIGN_SHARE else warn).append(text)
    meter = _meter(part)
    if meter is not None and scope.meters and meter not in scope.meters:
        warn.append(f"it never saw the meter {meter}")
    if scope.tempo_qpm is not None and len(part.tempo_qpm):
        lo, hi = scope.tempo_qpm
        qpm = float(part.tempo_qpm[0])
        if not lo / 1.06 <= qpm <= hi * 1.06:  # tempi are held in bins (~6% wide)
            warn.append(f"a tempo of {qpm:.0f} is outside the {lo:.0f}-{hi:.0f} it knows")
    for name in sorted(set(names.tolist()) & set(scope.pitch)):
        lo_p, hi_p = scope.pitch[name]
        p = part.pitch[names == name]
        out = float(((p < lo_p) | (p > hi_p)).mean())
        if out > 0.05:
            warn.append(f"{100 * out:.0f}% of the {name} notes are outside the range it knows")
    if math.isfinite(nll):
        if nll > scope.nll_abstain:
            abstain.append(
                f"the prompt surprises it more than 99% of the pieces of its own style do "
                f"({nll:.2f} nats per note, against {scope.nll_abstain:.2f})"
            )
        elif nll > scope.nll_warn:
            warn.append(
                f"the prompt is unusual for it ({nll:.2f} nats per note; 95% of pieces of its "
                f"own style are under {scope.nll_warn:.2f})"
            )
        j.unusual_bars = sorted(b + 1 for b, v in per_bar.items() if v > scope.nll_abstain)
        if j.unusual_bars and not abstain:
            warn.append("bars it finds most unusual: " + ", ".join(map(str, j.unusual_bars)))
    if abstain:
        j.level, j.reasons = "abstain", abstain + warn
    elif warn:
        j.level, j.reasons = "warn", warn
    return j


def write_scope(model_dir: str | os.PathLike[str], scope: Scope) -> None:
    """Keep a scope in the checkpoint's ``config.json`` (atomically; the weights untouched)."""
    import json
    from pathlib import Path

    path = Path(model_dir) / "config.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    config["scope"] = scope.to_dict()
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def abstain_message(j: Judgement) -> str:
    """What the command line says when the model abstains (what it does not know, what to do)."""
    return (
        "the model is out of its depth with this prompt: " + "; ".join(j.reasons) + ". "
        "It would answer in the style of what it knows, or badly. Fine-tune it on music like "
        "this (tuplet train DATA --from MODEL), or pass --force-prompt to generate anyway "
        "(the report records it)"
    )


__all__ = [
    "BAND_METRICS",
    "FOREIGN_SHARE",
    "PROMPT_BEATS",
    "Judgement",
    "Scope",
    "abstain_message",
    "bar_entropy",
    "judge",
    "measure_scope",
    "prompt_nll",
    "style_band",
    "write_scope",
]
