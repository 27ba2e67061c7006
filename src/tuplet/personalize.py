"""Make it mine: from a musician's own files to their own model, in one call.

:func:`personalize` runs the whole workflow and leaves one folder, ``OUT``:

=========================  ================================================================
``OUT/config.json``,       the model (the best checkpoint of the fine-tune): ``tuplet generate
``OUT/model.safetensors``  --model OUT`` uses it, with its scope (what it knows) in the config
``OUT/originality.npz``    the catalog's originality index: every sample is scored against it
``OUT/MODEL_CARD.md``,     who owns the music it learned from, what it cost, how it was made
``OUT/DATA_STATEMENT.md``
``OUT/data/``              the catalog as a prepared dataset, with its rights records
``OUT/run/``               the fine-tune (``last/``, ``best/``, losses, loss curve, energy)
=========================  ================================================================

The steps: the folder is read with its rights declared (``rights``, ``holder``) and loose
filters (a catalog's short pieces count); a share of its pieces is held out for validation
(at least one where there are two); the shipped model (or ``base``) is fine-tuned on the rest,
drawing N-bar loops and single parts of each piece as extra examples
(:mod:`tuplet.training.slices`), and stops early when the held-out pieces stop improving; the
best checkpoint becomes the model, with the catalog's originality index, the model's scope
on the catalog and its card. Interrupted (Ctrl-C, a kill), the fine-tune keeps ``run/last``;
``resume=True`` continues it. The defaults were chosen on the measurements in
``docs/personal.md``.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tuplet.errors import UsageError

CATALOG_FILTERS = {"min_beats": 8.0, "max_beats": 8000.0, "min_notes": 16}
"""A catalog's short pieces and loops count (the paper's filters drop pieces under 40 beats)."""
MODEL_FILES = ("model.safetensors", "config.json")
"""Copied from the best checkpoint into OUT, the weights first: config.json commits them."""


@dataclass(frozen=True)
class PersonalizeOptions:
    """How to fine-tune on a catalog (defaults measured in ``docs/personal.md``).

    Attributes:
        steps: Most optimisation steps (early stopping usually ends sooner).
        lr: Peak learning rate (after ``warmup_steps``; linear decay to 0.1x at ``steps``).
        warmup_steps: Linear warm-up.
        batch_size: Sequences per step.
        max_seq_len: Events per training sequence.
        slice_rate: Share of examples that are a loop or a single part of a piece.
        loop_bars: Bars per loop.
        valid_share: Share of the pieces held out to validate (at least one of two or more).
        valid_every: Validate every this many steps.
        early_stop: Stop after this many validations without improvement.
        seed: Seed of everything random.
    """

    steps: int = 600
    lr: float = 3e-4
    warmup_steps: int = 30
    batch_size: int = 8
    max_seq_len: int = 512
    slice_rate: float = 0.5
    loop_bars: int = 4
    valid_share: float = 0.15
    valid_every: int = 25
    early_stop: int = 6
    seed: int = 0


@dataclass(frozen=True)
class PersonalizeResult:
    """What :func:`personalize` made."""

    model_dir: Path
    dataset_dir: Path
    run_dir: Path
    pieces: dict[str, int]
    skipped: int
    steps: int
    valid_nll: float | None
    base_valid_nll: float | None
    stopped: str
    minutes: float
    files: list[Path] = field(default_factory=list)


def hold_out(dataset_dir: Path, share: float) -> dict[str, int]:
    """Move ``share`` of a dataset's train pieces (at least one of two or more) to valid.

    The pieces held out are those with the smallest content hashes, so the choice repeats;
    pieces already in valid stay there. The folder is rewritten by
    :func:`tuplet.corpus.store.move_to_split`. Returns the pieces per split.
    """
    from tuplet.corpus.store import INDEX_FILE, move_to_split, read_jsonl

    entries = read_jsonl(dataset_dir / INDEX_FILE)
    train = sorted((e for e in entries if e["split"] == "train"), key=lambda e: e["hash"])
    in_valid = sum(e["split"] == "valid" for e in entries)
    wanted = round(share * (len(train) + in_valid))
    if len(train) + in_valid >= 2:
        wanted = max(wanted, 1)
    move = {e["item"] for e in train[: max(0, min(wanted - in_valid, len(train) - 1))]}
    valid = in_valid + len(move)
    note = (
        f"the {valid} pieces of smallest content hash held out to validate "
        f"(tuplet personalize, share {share})"
    )
    return move_to_split(dataset_dir, move, "valid", note if valid else "")


def train_config(options: PersonalizeOptions, fim: bool, max_beat: int = 256) -> Any:
    """The :class:`tuplet.training.train.TrainConfig` of a personal fine-tune.

    ``max_beat`` is the base model's beats per window (the fine-tune keeps its vocabulary).
    """
    from tuplet.training.train import TrainConfig

    return TrainConfig(
        steps=options.steps,
        batch_size=options.batch_size,
        lr=options.lr,
        warmup_steps=options.warmup_steps,
        decay_steps=options.steps,
        valid_every=options.valid_every,
        valid_batches=None,
        early_stop=options.early_stop,
        max_seq_len=options.max_seq_len,
        max_beat=max_beat,
        fim_rate=0.25 if fim else 0.0,
        slice_rate=options.slice_rate,
        loop_bars=options.loop_bars,
        range_shift=fim,  # the tuplet encoding (it has fill events): keep instruments in range
        seed=options.seed,
        save_every_s=60.0,
    )


def _say(progress: bool, text: str) -> None:
    if progress:
        print(text, file=sys.stderr, flush=True)


def _install_model(best: Path, out: Path) -> None:
    """Copy the best checkpoint's files into ``out`` (each through a temporary file)."""
    for name in MODEL_FILES:
        tmp = out / f".{name}.tmp"
        shutil.copyfile(best / name, tmp)
        os.replace(tmp, out / name)


def personalize(
    sources: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    *,
    rights: str | None,
    holder: str | None = None,
    manifest: str | os.PathLike[str] | None = None,
    base: str | os.PathLike[str] | None = None,
    options: PersonalizeOptions = PersonalizeOptions(),
    use: str = "personal",
    allow_unverified: bool = False,
    reason: str | None = None,
    resume: bool = False,
    name: str | None = None,
    progress: bool = True,
) -> PersonalizeResult:
    """Prepare a catalog, fine-tune a model on it and write the model with its card.

    Args:
        sources: The catalog: folders (searched recursively) or files.
        out_dir: The model folder to write (see the module docstring).
        rights: The catalog's rights basis (``owned``, ``contract``, ``open_license``,
            ``public_domain``); required unless ``manifest`` states it per file.
        holder: Who holds the rights (required with ``owned``; the card names them).
        manifest: A rights manifest instead of (or refining) ``rights`` (see ``docs/data.md``).
        base: The checkpoint to start from (default: the shipped model).
        options: How to fine-tune.
        use: What the model is for (``personal``, ``research``, ``commercial``): the rights
            gate checks the catalog for it.
        allow_unverified: Go on although pieces fail the gate (recorded with ``reason``).
        reason: Why (required with ``allow_unverified``).
        resume: Continue an interrupted fine-tune in ``OUT/run``.
        name: What the card calls the model (default: the folder's name).
        progress: Print the steps and show progress bars.

    Returns:
        A :class:`PersonalizeResult`.

    Raises:
        UsageError: No rights given, ``OUT`` in the wrong state, or nothing to learn from.
        RightsGateError: Pieces may not train a model for ``use``.
    """
    import time

    from tuplet.generation.sample import default_model_path
    from tuplet.model.checkpoint import load_checkpoint_config

    out = Path(out_dir)
    data, run = out / "data", out / "run"
    _check_request(rights, holder, manifest, out, resume)
    base_dir = Path(base) if base is not None else default_model_path()
    base_info = load_checkpoint_config(base_dir)
    start = time.perf_counter()

    out.mkdir(parents=True, exist_ok=True)
    counts, skipped = _read_catalog(
        sources, data, options, rights=rights, holder=holder, manifest=manifest,
        encoding=base_info["encoding"]["name"], progress=progress,
    )  # fmt: skip
    _say(
        progress,
        f"[2/4] fine-tuning {base_dir} on them (at most {options.steps} steps; "
        "Ctrl-C keeps what was learned, --resume continues)",
    )
    result = _fine_tune(
        data, run, base_dir, base_info, options, resume=resume, progress=progress, use=use,
        allow_unverified=allow_unverified, reason=reason,
    )  # fmt: skip
    if result.stopped == "interrupted":
        _say(progress, f"interrupted: {run / 'last'} kept; run again with --resume")
        raise KeyboardInterrupt
    files = _write_model(out, data, run, name or out.resolve().name, progress)
    base_nll, tuned_nll = _held_out_nll(base_dir, out, data) if counts["valid"] else (None, None)
    return PersonalizeResult(
        model_dir=out,
        dataset_dir=data,
        run_dir=run,
        pieces=counts,
        skipped=skipped,
        steps=result.steps,
        valid_nll=tuned_nll,
        base_valid_nll=base_nll,
        stopped=result.stopped,
        minutes=(time.perf_counter() - start) / 60,
        files=files,
    )


def _check_request(
    rights: str | None, holder: str | None, manifest: object, out: Path, resume: bool
) -> None:
    """Refuse a catalog without rights, ``owned`` without a holder, ``OUT`` in the wrong state."""
    if rights is None and manifest is None:
        raise UsageError(
            "whose music is this? give --rights (owned, contract, open_license, "
            "public_domain) and --holder, or a --manifest"
        )
    if rights == "owned" and not holder:
        raise UsageError("--rights owned needs --holder NAME (the card names the owner)")
    last = out / "run" / "last" / "config.json"
    if last.exists() and not resume:
        raise UsageError(f"{out}: holds a fine-tune already (use --resume, or another --out)")
    if resume and not last.exists():
        raise UsageError(f"{out}: nothing to resume (no run/last checkpoint); drop --resume")


def _fine_tune(
    data: Path,
    run: Path,
    base_dir: Path,
    base_info: dict[str, Any],
    options: PersonalizeOptions,
    *,
    resume: bool,
    **kwargs: Any,
) -> Any:
    """``tuplet train`` from ``base_dir`` (or resumed), filling spans if its encoding can.

    ``kwargs`` go to :func:`tuplet.training.train.train` (progress, use, the rights gate's
    override).
    """
    from tuplet.encoding import EncodingConfig
    from tuplet.encoding.fim import supports_fill
    from tuplet.training.train import train

    fim = supports_fill(EncodingConfig.from_dict(base_info["encoding"]))
    config = train_config(options, fim, int(base_info["encoding"]["max_beat"]))
    return train(
        data, run, config, resume=resume, from_checkpoint=None if resume else base_dir, **kwargs
    )


def _read_catalog(
    sources: Sequence[str | os.PathLike[str]],
    data: Path,
    options: PersonalizeOptions,
    *,
    rights: str | None,
    holder: str | None,
    manifest: str | os.PathLike[str] | None,
    encoding: str,
    progress: bool,
) -> tuple[dict[str, int], int]:
    """Prepare the catalog into ``data`` and hold pieces out: (pieces per split, skipped)."""
    from tuplet.corpus import prepare

    _say(progress, f"[1/4] reading the catalog into {data}")
    report = prepare(
        list(sources),
        data,
        encoding=encoding,
        filters=CATALOG_FILTERS,
        split=(1.0, 0.0, 0.0),
        rights=rights,
        holder=holder,
        manifest=manifest,
        progress=progress,
    )
    counts = hold_out(data, options.valid_share)
    skipped = f"{report.skipped} skipped (see {data / 'skipped.csv'})"
    if counts["train"] == 0:
        raise UsageError(f"{', '.join(map(str, sources))}: no piece could be used ({skipped})")
    _say(
        progress,
        f"      {counts['train']} pieces to learn from, {counts['valid']} held out to validate"
        + (f", {skipped}" if report.skipped else ""),
    )
    return counts, report.skipped


def _write_model(out: Path, data: Path, run: Path, name: str, progress: bool) -> list[Path]:
    """The best checkpoint into ``out``, with the catalog's index, the scope and the card."""
    from tuplet.responsibility.card import write_data_statement, write_model_card

    best = run / "best"
    if not (best / "config.json").exists():
        raise UsageError(f"{run}: the fine-tune saved no best checkpoint")
    _say(progress, "[3/4] the catalog's originality index and the model's scope")
    _install_model(best, out)
    files = [out / "config.json", *_index_and_scope(out, data, progress)]
    _say(progress, "[4/4] the model card")
    files.append(write_model_card(out, data, run_dir=run, name=name))
    files.append(write_data_statement(out, data, run_dir=run))
    return files


def _held_out_nll(base: Path, out: Path, data: Path) -> tuple[float, float]:
    """The held-out pieces' NLL per event under the base model and the new one."""
    from tuplet.analysis.evaluate import evaluate_nll

    return (
        evaluate_nll(base, data, split="valid").nll_per_event,
        evaluate_nll(out, data, split="valid").nll_per_event,
    )


def _index_and_scope(out: Path, data: Path, progress: bool) -> list[Path]:
    """Copy the catalog's originality index into ``out`` and write the model's scope."""
    from tuplet.generation.session import load_model
    from tuplet.responsibility.originality import INDEX_FILE, index_for_dataset
    from tuplet.responsibility.scope import measure_scope, write_scope

    index = index_for_dataset(data, progress=progress)
    path = index.save(out / INDEX_FILE)
    lm = load_model(out)
    write_scope(out, measure_scope(lm, data, progress=progress))
    return [path]
