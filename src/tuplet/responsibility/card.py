"""Model cards: what a model learned from, what it cost, how good it is, what it is not for.

:func:`write_model_card` writes ``MODEL_CARD.md`` into a checkpoint folder from facts that travel
with the run: the checkpoint's ``config.json``, the dataset's summary
(:func:`tuplet.corpus.inspect`, which reads the provenance records), the run's ``energy.json``
and evaluation results. Nothing in the card is typed by hand except the optional ``notes``;
every number comes from a file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def _table(counts: dict[str, Any], total: int, top: int = 12) -> list[str]:
    rows = sorted(counts.items(), key=lambda kv: -kv[1])[:top]
    lines = ["| | items | share |", "|---|---:|---:|"]
    lines += [f"| {k} | {v} | {100 * v / max(1, total):.1f}% |" for k, v in rows]
    return lines


def model_card_text(
    checkpoint: str | os.PathLike[str],
    dataset: str | os.PathLike[str],
    *,
    run_dir: str | os.PathLike[str] | None = None,
    evaluation: dict[str, Any] | None = None,
    notes: str = "",
    name: str | None = None,
) -> str:
    """The text of a model card (Markdown).

    Args:
        checkpoint: The checkpoint folder.
        dataset: The dataset it was trained on (made by ``tuplet data prepare``).
        run_dir: The training run folder (for ``energy.json``); default: the checkpoint's parent.
        evaluation: Results to list, as ``{"title": {"metric": value, ...}, ...}``.
        notes: Extra paragraphs (limitations found by hand, for instance).
        name: What the title calls the model; default: the checkpoint's ``RUN/FOLDER`` names.

    Returns:
        Markdown text.
    """
    from tuplet.corpus import inspect
    from tuplet.corpus.store import load_info
    from tuplet.model.checkpoint import load_checkpoint_info

    info = load_checkpoint_info(checkpoint)
    data = inspect(dataset)
    run = Path(run_dir) if run_dir is not None else Path(checkpoint).parent
    held_out = load_info(dataset).get("split", {}).get("held_out")
    if name is None:
        name = f"{Path(checkpoint).resolve().parent.name}/{Path(checkpoint).name}"
    lines = [f"# Model card: {name}", ""]
    lines += _what_it_is_lines(info)
    lines += _learned_from_lines(data, held_out)
    lines += _rights_lines(data, Path(dataset).name)
    bases = _bases(info)
    lines += _gate_lines(info, bases)
    if bases:
        lines += _base_lines(bases)
    lines += _energy_lines(_read_energy(run), bases)
    lines += _sampling_lines(info.get("sampling"))
    lines += _evaluation_lines(evaluation or {})
    lines += _limits_lines(data)
    if notes:
        lines += ["## Notes", "", notes.strip(), ""]
    return "\n".join(lines)


def _what_it_is_lines(info: dict[str, Any]) -> list[str]:
    """The model's shape and how it was trained."""
    model, training = info["model"], info.get("training") or {}
    return [
        "## What it is",
        "",
        f"A multitrack music transformer (tuplet {info.get('versions', {}).get('tuplet', '?')}) "
        f"on the `{info['encoding']['name']}` note-tuple encoding: {model['n_layer']} layers, "
        f"d={model['d_model']}, {model['n_head']} heads, position `{model['position']}`, "
        f"cascade heads {'on' if model['cascade'] else 'off'}"
        + (f" (in the order {', '.join(model['field_order'])})" if model.get("field_order") else "")
        + (
            f", the notes of one onset by {model['onset_order']}"
            if model.get("onset_order", "pitch") != "pitch"
            else ""
        )
        + ", "
        f"clean loss {'on' if model['clean_loss'] else 'off'}; "
        f"beats 0..{info['encoding']['max_beat'] - 1} per window, up to {model['max_seq_len']} "
        f"events. Trained by `tuplet train` with seed {training.get('seed', '?')} for "
        f"{training.get('steps', '?')} steps at most (batch {training.get('batch_size', '?')}, "
        f"lr {training.get('lr', '?')}, fill-in-the-middle rate {training.get('fim_rate', 0)}"
        + "".join(f", {part}" for part in _shaping(training))
        + ").",
        "",
    ]


def _shaping(training: dict[str, Any]) -> list[str]:
    """The training options beyond the defaults that shape what a model plays, in words."""
    parts = []
    if training.get("range_shift"):
        parts.append("pitch shifts that keep instruments in their ranges")
    if training.get("swap_rate"):
        parts.append(f"instrument swaps in {training['swap_rate']:.0%} of examples")
    if training.get("choir_rate"):
        parts.append(
            f"choirs scored for instrumental ensembles in {training['choir_rate']:.0%} of examples"
            + (", transposed into their ranges where needed" if training.get("ensemble_shift")
               else "")
        )  # fmt: skip
    if training.get("range_loss"):
        head = training.get("range_head", "pitch")  # runs before the option: the pitch head
        where = (
            "the instrument head, among each piece's own instruments"
            if head == "ensemble"
            else f"the {head} head"
        )
        parts.append(
            f"a training term for instruments' ranges on {where}, weight {training['range_loss']:g}"
        )
    return parts


def _learned_from_lines(data: dict[str, Any], held_out: str | None) -> list[str]:
    """The training data: its size and split, sources, genres, regions, periods, instruments."""
    n = int(data["sequences"])
    return [
        "## What it learned from",
        "",
        f"{n} pieces ({data['notes']:,} notes, {data['beats']:,.0f} beats), split "
        + ", ".join(f"{k} {v}" for k, v in data["splits"].items())
        + " by content hash"
        + (f"; {held_out}." if held_out else "."),
        "",
        "Sources:",
        "",
        *_table(data["sources"], n),
        "",
        "Genres, regions and periods, as recorded in the provenance records:",
        "",
        *_table(data["genres"], n),
        "",
        *_table(data["regions"], n),
        "",
        *_table(data["periods"], n),
        "",
        "Instruments (pieces using each):",
        "",
        *_table(data["instruments"], n),
        "",
    ]


def _rights_lines(data: dict[str, Any], dataset_name: str) -> list[str]:
    """The rights basis, licence terms, flags and holders of the training data."""
    n = int(data["sequences"])
    return [
        "## Rights and licence terms of the training data",
        "",
        "Rights basis of each item (the weaker of the composition's and the file's):",
        "",
        *_table(data["rights"], n),
        "",
        "Compositions:",
        "",
        *_table(data["composition_rights"], n),
        "",
        "Encodings (the files themselves):",
        "",
        *_table(data["encoding_rights"], n),
        "",
        "Flags:",
        "",
        *_table(data["flags"], n),
        "",
        "Rights holders, as declared or recorded:",
        "",
        *_table(data.get("holders", {}), n),
        "",
        f"Every item's record is in `{dataset_name}/provenance.jsonl`. An `unknown` basis "
        "means exactly that: the terms under which the files were distributed are recorded, "
        "and nothing more is claimed.",
        "",
    ]


def _limits_lines(data: dict[str, Any]) -> list[str]:
    """What the model is not suited for, and how to make it one's own."""
    n = int(data["sequences"])
    covered = ", ".join(sorted(data["periods"])) or "the periods listed above"
    common = [k for k, v in data["instruments"].items() if v >= 0.05 * n]
    return [
        "## What it is not suited for",
        "",
        f"It knows only what it saw: {covered}; instruments in at least 5% of its pieces: "
        f"{', '.join(common) or 'none'} (the full list is above). Music, instruments and "
        "styles it has not seen (drums, popular, jazz, film or non-European music, lyrics, "
        "unless listed above) it will answer in the style of what it knows, or badly. It is a "
        "small model trained on a CPU: expect plausible textures, not finished compositions. "
        "Its output may echo training pieces; check originality before publishing anything "
        "made with it.",
        "",
        "## Make it yours",
        "",
        "Fine-tune it on your own music (files you own or may use):",
        "",
        "```bash",
        "tuplet data prepare my-music/ --out data-out/mine --rights owned --holder 'Your Name'",
        "tuplet train data-out/mine --from <this folder> --out runs/mine   # fine-tuning defaults",
        "tuplet generate --model runs/mine/best --n 4 --out my-samples/",
        "```",
        "",
    ]


def _read_energy(*folders: Path) -> dict[str, Any] | None:
    """The first ``energy.json`` among the folders, or None."""
    for folder in folders:
        if (folder / "energy.json").exists():
            e: dict[str, Any] = json.loads((folder / "energy.json").read_text(encoding="utf-8"))
            return e
    return None


def _energy_lines(e: dict[str, Any] | None, bases: list[dict[str, Any]]) -> list[str]:
    """The card's "Energy and CO2 of training" section (none without a record)."""
    if e is None:
        return []
    own_kwh = e.get("total_kwh", e["kwh"])
    with_bases = [b.get("energy_kwh") for b in bases]
    bases_kwh = sum(float(k) for k in with_bases if k is not None)
    return [
        "## Energy and CO2 of training",
        "",
        f"- energy: {own_kwh:.4g} kWh over "
        f"{e.get('total_hours', e['hours']) * 60:.1f} minutes"
        + (
            f" (this run; {own_kwh + bases_kwh:.4g} kWh with the training of the "
            "model it started from)"
            if bases and all(k is not None for k in with_bases)
            else ""
        ),
        f"- emissions: {e.get('total_kg_co2eq', e['kg_co2eq']) * 1000:.4g} g CO2eq at "
        f"{e['grid_intensity_g_per_kwh']:.0f} g/kWh ({e['country_iso_code']}; "
        f"{e['intensity_source']})",
        f"- hardware: {e['hardware'].get('cpu')} x{e['hardware'].get('cpu_count')}"
        + (f", {e['hardware']['gpu']}" if e["hardware"].get("gpu") else ""),
        f"- method: {e['method']}",
        "",
    ]


def _sampling_lines(sampling: dict[str, Any] | None) -> list[str]:
    """The card's "Sampling" section: the settings ``tuplet generate`` uses by default."""
    if not sampling:
        return []
    knobs = {k: v for k, v in sampling.items() if k not in ("chosen_on", "modes")}
    lines = [
        "## Sampling",
        "",
        f"`tuplet generate` samples this model with `{json.dumps(knobs, sort_keys=True)}` "
        "unless told otherwise (the knobs not named keep MMT's values: top-k with 10% of "
        "each field's codes, temperature 1)"
        + (f"; chosen {sampling['chosen_on']}." if sampling.get("chosen_on") else "."),
        "",
    ]
    for mode, own in dict(sampling.get("modes") or {}).items():
        changed = {k: v for k, v in own.items() if k != "chosen_on"}
        lines += [
            f"In {mode} mode it lays these knobs over them: `{json.dumps(changed, sort_keys=True)}`"
            + (f"; chosen {own['chosen_on']}." if own.get("chosen_on") else "."),
            "",
        ]
    return lines


def _evaluation_lines(evaluation: dict[str, Any]) -> list[str]:
    """The card's "Evaluation" section: one table per title."""
    if not evaluation:
        return []
    lines = ["## Evaluation", ""]
    for title, values in evaluation.items():
        lines += [f"{title}:", "", "| | value |", "|---|---:|"]
        lines += [
            f"| {k} | {v:.4g} |" if isinstance(v, float) else f"| {k} | {v} |"
            for k, v in values.items()
        ]
        lines.append("")
    return lines


def _bases(info: dict[str, Any]) -> list[dict[str, Any]]:
    """The checkpoints a model was fine-tuned from, nearest first."""
    out: list[dict[str, Any]] = []
    base = info.get("extra", {}).get("base")
    while isinstance(base, dict) and len(out) < 16:
        out.append(base)
        base = base.get("base")
    return out


def _gate_outcome(gate: dict[str, Any] | None) -> str:
    """One rights-gate record in words."""
    from tuplet.responsibility.gate import REASONS

    if gate is None:
        return (
            "no rights-gate record (trained before `tuplet train` checked rights, or by other "
            "means): the rights of its data were not checked"
        )
    use = gate.get("use")
    if gate.get("outcome") == "passed":
        return (
            f"passed for {use} use: all {gate.get('checked')} items have a known rights basis "
            f"whose recorded terms allow {use} use, and every file matched the hash recorded "
            "when the data was prepared"
        )
    why = ", ".join(f"{n} {REASONS.get(k, k)}" for k, n in (gate.get("counts") or {}).items())
    return (
        f"went on unverified for {use} use: {gate.get('failing')} of {gate.get('checked')} "
        f'items failed ({why}), and training went on for this reason: "{gate.get("reason")}"'
    )


def _gate_lines(info: dict[str, Any], bases: list[dict[str, Any]]) -> list[str]:
    """The card's "Rights gate" section: this run's outcome, its bases', and what it claims."""
    from tuplet.responsibility.gate import REASONS, USES

    gate = info.get("extra", {}).get("rights_gate")
    lines = [
        "## Rights gate",
        "",
        "Before training, `tuplet train` checks every item of the train and valid splits for "
        "the declared use: the rights basis and flags of its provenance record, and its file "
        "against the SHA-256 recorded when the data was prepared (the table of uses is in "
        "tuplet's `docs/data.md`).",
        "",
        f"- this model's training data: {_gate_outcome(gate)}",
    ]
    for depth, b in enumerate(bases):
        what = "the model it was fine-tuned from" if depth == 0 else "whose base was"
        lines.append(f"- {what}: {_gate_outcome(b.get('rights_gate'))}")
    lines.append("")
    if gate is not None and gate.get("outcome") != "passed":
        counts = gate.get("counts") or {}
        names = list(gate.get("items") or {})
        lines += ["| reason | items |", "|---|---:|"]
        lines += [f"| {REASONS.get(k, k)} | {n} |" for k, n in counts.items()]
        lines += [
            "",
            "The first of them: " + ", ".join(f"`{n}`" for n in names[:5])
            + ("; all are listed in `config.json` under `extra.rights_gate.items`."
               if len(names) > 5 else "."),
            "",
        ]  # fmt: skip
    use = gate.get("use") if gate is not None else None
    gates = [gate, *(b.get("rights_gate") for b in bases)]
    unchecked = [g for g in gates if g is None or g.get("outcome") != "passed"]
    narrower = [g for g in gates if g is not None and g not in unchecked
                and use in USES and USES.index(str(g.get("use"))) < USES.index(use)]  # fmt: skip
    if unchecked or narrower or use not in USES:
        why = (
            "some of what it learned from was not checked, or did not pass, for the use it "
            "was declared for"
            if unchecked
            else f"the model it started from passed for a narrower use than {use}"
        )
        lines += [
            f"This model makes no licensed-data claim: {why}. Do not describe it, or what it "
            "makes, as trained on licensed data.",
            "",
        ]
    else:
        lines += [
            f"For {use} use, every item this model learned from has a rights basis that allows "
            "it, as the provenance records declare (declarations by whoever prepared the data: "
            "the gate checks them against each other and against the files, not against the "
            "world).",
            "",
        ]
    return lines


def _base_lines(bases: list[dict[str, Any]]) -> list[str]:
    lines = [
        "## Started from",
        "",
        "This model was fine-tuned from another; what that model learned from is part of what "
        "this one learned from:",
        "",
    ]
    for depth, b in enumerate(bases):
        what = "the model it was fine-tuned from" if depth == 0 else "whose base was"
        facts = [f"checkpoint `{b.get('checkpoint_id')}` (weights SHA-256 "
                 f"`{str(b.get('weights_sha256'))[:16]}...`)"]  # fmt: skip
        if b.get("dataset"):
            facts.append(f"trained on `{b['dataset']}`")
        if b.get("note"):
            facts.append(str(b["note"]))
        if b.get("energy_kwh") is not None:
            facts.append(f"{b['energy_kwh']:.4g} kWh to train")
        lines.append(f"- {what}: " + "; ".join(facts))
    return [*lines, ""]


# regions and styles worth naming when a corpus has none of them
_COMMON_REGIONS = ("Africa", "East Asia", "South Asia", "the Middle East", "Latin America")
_COMMON_GENRES = ("popular song", "jazz", "film and game music", "electronic dance music",
                  "hip hop", "folk music outside Europe")  # fmt: skip


def data_statement_text(
    checkpoint: str | os.PathLike[str],
    dataset: str | os.PathLike[str],
    *,
    extraction: dict[str, Any] | None = None,
    run_dir: str | os.PathLike[str] | None = None,
) -> str:
    """A data statement (Markdown) of a model and its dataset.

    What the data covers and does not, its rights, what the representation cannot hold,
    energy, and the responsibility figures (originality calibration, extraction audit,
    abstention) where they were measured.
    """
    from tuplet.corpus import inspect
    from tuplet.encoding import EncodingConfig
    from tuplet.model.checkpoint import load_checkpoint_info

    info = load_checkpoint_info(checkpoint)
    data = inspect(dataset)
    enc = EncodingConfig.from_dict(info["encoding"])
    n = int(data["sequences"])
    lines = [
        f"# Data statement: {Path(checkpoint).resolve().name}",
        "",
        f"What the model `{Path(checkpoint).name}` learned from, and what that leaves out. "
        f"Made by `tuplet card` from the checkpoint and its dataset `{Path(dataset).name}` "
        f"({n} pieces, {data['notes']:,} notes).",
        "",
        *_coverage_lines(data),
        *_representation_lines(enc),
        "## Rights",
        "",
        "Rights basis of each item (the weaker of composition and encoding):",
        "",
        *_table(data["rights"], n),
        "",
        *(_gate_lines(info, _bases(info))),
    ]
    run = Path(run_dir) if run_dir is not None else Path(checkpoint).parent
    e = _read_energy(Path(checkpoint), run)
    if e is not None:
        kwh, co2 = e.get("total_kwh", e["kwh"]), e.get("total_kg_co2eq", e["kg_co2eq"])
        grid = e["country_iso_code"]
        own = f"{kwh:.4g} kWh, {co2 * 1000:.4g} g CO2eq ({grid} grid) for its own training."
        lines += ["## Energy", "", own, ""]
    lines += ["## Responsibility figures", ""]
    lines += _responsibility_lines(Path(checkpoint), info, extraction)
    return "\n".join([*lines, ""])


def _coverage_lines(data: dict[str, Any]) -> list[str]:
    """What the data covers (genres, regions, periods, instruments) and what it does not."""
    from tuplet.encoding.vocab import INSTRUMENT_NAMES

    unseen = sum(1 for name in INSTRUMENT_NAMES if not _seen(name, data["instruments"]))
    return [
        "## Covered",
        "",
        f"- genres: {', '.join(data['genres']) or 'none recorded'}",
        f"- regions: {', '.join(data['regions']) or 'none recorded'}",
        f"- periods: {', '.join(data['periods']) or 'none recorded'}",
        "- instruments (pieces using each): "
        + ", ".join(f"{k} {v}" for k, v in data["instruments"].items()),
        "",
        "## Not covered",
        "",
        "- regions with no piece: "
        + ", ".join(r for r in _COMMON_REGIONS if r not in data["regions"]),
        "- styles with no piece (unless listed above): " + ", ".join(_COMMON_GENRES),
        f"- General MIDI instruments in no piece: {unseen} of the encoding's "
        f"{len(INSTRUMENT_NAMES)}",
        "",
    ]


def _representation_lines(enc: Any) -> list[str]:
    """What the encoding cannot hold: tunings, rhythms off its grid, timbre, dynamics."""
    return [
        "## What the representation cannot hold",
        "",
        "- pitches: the 128 MIDI keys of 12-tone equal temperament; no microtones, no tuning "
        "systems, no pitch bends or glissandi;",
        f"- time: onsets and durations on a grid of {enc.resolution} steps per beat (sixteenths "
        f"and triplets exact; quintuplets, rubato and swing feel are rounded); windows of "
        f"{enc.max_beat} beats;",
        "- instruments: "
        + (
            "MMT's 64 instrument classes, drums dropped;"
            if enc.name == "mmt"
            else "64 instrument classes and drums; sound effects (General MIDI 120-127) dropped;"
        )
        + " no lyrics, no articulations, no audio timbre;",
        "- "
        + (
            "velocity is not encoded;"
            if enc.name == "mmt"
            else f"velocity in {enc.velocity_bins} bins; scores carry one velocity (64), so "
            "a model of scores knows no dynamics."
        ),
        "",
    ]


def _responsibility_lines(
    checkpoint: Path, info: dict[str, Any], extraction: dict[str, Any] | None
) -> list[str]:
    """Originality thresholds, the extraction audit and the scope, where they were measured."""
    lines = []
    index = checkpoint / "originality.npz"
    if index.exists():
        from tuplet.responsibility.originality import OriginalityIndex

        t = OriginalityIndex.load(index).thresholds
        lines.append(
            f"- originality: every sample is scored against the training corpus; warn above a "
            f"window cardinality score of {t.warn_cs:.2f} or {t.warn_verbatim} verbatim notes, "
            f"draw again and withhold at {t.block_cs:.2f} or {t.block_verbatim} notes "
            f"(calibrated on {t.calibrated_on})"
        )
    else:
        lines.append("- originality: no index of the training corpus ships with this model")
    if extraction:
        for bars, r in extraction.get("rates", {}).items():
            lines.append(
                f"- extraction audit, {bars}-bar prompts: {100 * r['train']:.1f}% of training "
                f"pieces and {100 * r['heldout']:.1f}% of held-out pieces reproduced "
                f"(difference {100 * r['difference']:+.1f} points)"
            )
    else:
        lines.append("- extraction audit: not run (tuplet audit extraction)")
    scope = info.get("scope")
    if scope:
        lines.append(
            f"- out of its depth: prompts are judged against what it saw ({scope['calibrated_on']}"
            f"); above {scope['nll_abstain']:.2f} nats per note it abstains"
        )
    else:
        lines.append("- out of its depth: no scope measured (tuplet audit scope --write)")
    return lines


def _seen(name: str, instruments: dict[str, Any]) -> bool:
    """Whether an encoding instrument name is among a dataset's General MIDI names."""
    key = name.replace("-", " ").lower()
    return any(key in k.lower() or k.lower() in key for k in instruments)


def write_data_statement(checkpoint: str | os.PathLike[str], dataset: str | os.PathLike[str],
                         **kwargs: Any) -> Path:  # fmt: skip
    """Write ``DATA_STATEMENT.md`` into the checkpoint folder (atomically) and return its path."""
    out = Path(checkpoint) / "DATA_STATEMENT.md"
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(data_statement_text(checkpoint, dataset, **kwargs), encoding="utf-8")
    os.replace(tmp, out)
    return out


def write_model_card(
    checkpoint: str | os.PathLike[str],
    dataset: str | os.PathLike[str],
    **kwargs: Any,
) -> Path:
    """Write ``MODEL_CARD.md`` into the checkpoint folder (atomically) and return its path."""
    out = Path(checkpoint) / "MODEL_CARD.md"
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(model_card_text(checkpoint, dataset, **kwargs), encoding="utf-8")
    os.replace(tmp, out)
    return out
