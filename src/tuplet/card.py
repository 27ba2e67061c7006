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
    from tuplet.checkpoint import load_checkpoint_info
    from tuplet.corpus import inspect

    info = load_checkpoint_info(checkpoint)
    data = inspect(dataset)
    run = Path(run_dir) if run_dir is not None else Path(checkpoint).parent
    model = info["model"]
    training = info.get("training") or {}
    n = int(data["sequences"])
    if name is None:
        name = f"{Path(checkpoint).resolve().parent.name}/{Path(checkpoint).name}"
    lines = [
        f"# Model card: {name}",
        "",
        "## What it is",
        "",
        f"A multitrack music transformer (tuplet {info.get('versions', {}).get('tuplet', '?')}) "
        f"on the `{info['encoding']['name']}` note-tuple encoding: {model['n_layer']} layers, "
        f"d={model['d_model']}, {model['n_head']} heads, position `{model['position']}`, "
        f"cascade heads {'on' if model['cascade'] else 'off'}, "
        f"clean loss {'on' if model['clean_loss'] else 'off'}; "
        f"beats 0..{info['encoding']['max_beat'] - 1} per window, up to {model['max_seq_len']} "
        f"events. Trained by `tuplet train` with seed {training.get('seed', '?')} for "
        f"{training.get('steps', '?')} steps at most (batch {training.get('batch_size', '?')}, "
        f"lr {training.get('lr', '?')}, fill-in-the-middle rate {training.get('fim_rate', 0)}).",
        "",
        "## What it learned from",
        "",
        f"{n} pieces ({data['notes']:,} notes, {data['beats']:,.0f} beats), split "
        + ", ".join(f"{k} {v}" for k, v in data["splits"].items())
        + " by content hash.",
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
        f"Every item's record is in `{Path(dataset).name}/provenance.jsonl`. An `unknown` basis "
        "means exactly that: the terms under which the files were distributed are recorded, "
        "and nothing more is claimed.",
        "",
    ]
    bases = _bases(info)
    if bases:
        lines += _base_lines(bases)
    energy_path = run / "energy.json"
    if energy_path.exists():
        e = json.loads(energy_path.read_text(encoding="utf-8"))
        own_kwh = e.get("total_kwh", e["kwh"])
        with_bases = [b.get("energy_kwh") for b in bases]
        bases_kwh = sum(float(k) for k in with_bases if k is not None)
        lines += [
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
    sampling = info.get("sampling")
    if sampling:
        knobs = {k: v for k, v in sampling.items() if k != "chosen_on"}
        lines += [
            "## Sampling",
            "",
            f"`tuplet generate` samples this model with `{json.dumps(knobs, sort_keys=True)}` "
            "unless told otherwise (the knobs not named keep MMT's values: top-k with 10% of "
            "each field's codes, temperature 1)"
            + (f"; chosen {sampling['chosen_on']}." if sampling.get("chosen_on") else "."),
            "",
        ]
    if evaluation:
        lines += ["## Evaluation", ""]
        for title, values in evaluation.items():
            lines += [f"{title}:", "", "| | value |", "|---|---:|"]
            lines += [
                f"| {k} | {v:.4g} |" if isinstance(v, float) else f"| {k} | {v} |"
                for k, v in values.items()
            ]
            lines.append("")
    covered = ", ".join(sorted(data["periods"])) or "the periods listed above"
    common = [k for k, v in data["instruments"].items() if v >= 0.05 * n]
    lines += [
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
    if notes:
        lines += ["## Notes", "", notes.strip(), ""]
    return "\n".join(lines)


def _bases(info: dict[str, Any]) -> list[dict[str, Any]]:
    """The checkpoints a model was fine-tuned from, nearest first."""
    out: list[dict[str, Any]] = []
    base = info.get("extra", {}).get("base")
    while isinstance(base, dict) and len(out) < 16:
        out.append(base)
        base = base.get("base")
    return out


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
