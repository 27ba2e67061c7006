"""Training and fine-tuning: the loop, apart from the model.

``train(dataset_dir, out_dir, config)`` trains a :class:`tuplet.model.transformer.MusicTransformer`
on a
prepared dataset with the MMT paper's schedule by default (Adam(W), linear warm-up, linear decay
to 0.1x, gradient clipping 1.0, validation every N steps, early stopping), and writes into
``out_dir``:

* nothing at all if the rights gate refuses (:mod:`tuplet.responsibility.gate`): before any model
  is built,
  the train and valid items are checked for the declared ``use`` (their rights basis, flags and
  source files' SHA-256); ``allow_unverified`` with a ``reason`` goes on, and every save
  records the outcome in ``extra["rights_gate"]``;
* ``best/`` and ``last/``: checkpoints (``config.json`` + ``model.safetensors``), written
  atomically; ``last/`` also holds the trainer state (optimizer, step, early-stopping counters)
  as safetensors + JSON, so ``resume=True`` continues exactly where the last one left off.
  ``last/`` is saved at every validation, on Ctrl-C or SIGTERM, and every ``save_every_s``
  seconds (5 minutes by default), so a ``kill -9`` loses at most that much training;
* ``losses.csv`` and ``loss_curve.png``;
* ``energy.json``: energy and CO2 of the run (all resumed segments added up).

Repeatability: the data order and augmentation are drawn from ``(seed, epoch, index)`` and the
dropout RNG is re-seeded from ``(seed, step)`` at every step, so a run resumed from its last
checkpoint takes exactly the steps an uninterrupted run would.

Distributed: under ``torchrun`` (``RANK``/``WORLD_SIZE`` set), PyTorch DDP is used (NCCL on GPUs,
gloo on CPU); each process takes its share of every global batch and only rank 0 writes.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from tuplet.errors import UsageError, WriteError, is_out_of_space
from tuplet.training import lineage
from tuplet.training.losslog import load_losses, truncate_losses
from tuplet.training.run import RANGE_HEADS, Run, TrainerState, learning_rate, range_head

LOSS_COLUMNS = ("step", "split", "loss", "nll_per_note", "lr", "tokens_per_s", "elapsed_s")


@dataclass(frozen=True)
class TrainConfig:
    """How to train (the paper's values are the defaults where the paper gives one).

    Attributes:
        preset: Model preset (``tiny``, ``small``, ``mmt-paper``).
        model_overrides: Model config fields to change from the preset (e.g. position, cascade;
            ``field_order``, by name, and ``onset_order`` may also change when fine-tuning).
        steps: Optimisation steps in all (the run stops earlier on early stopping).
        batch_size: Sequences per step, per process.
        lr: Peak learning rate.
        warmup_steps: Linear warm-up from 0 to ``lr``.
        decay_steps: Step at which the linear decay reaches ``final_lr_ratio * lr``.
        final_lr_ratio: Learning-rate floor as a fraction of ``lr``.
        weight_decay: AdamW weight decay (0 = Adam, as the paper).
        grad_clip: Gradient-norm clip.
        valid_every: Validate (and save ``last``) every this many steps.
        save_every_s: Also save ``last`` when this many seconds of training have passed since
            it was last saved (0 = only at validations), so a killed run loses at most that.
        valid_batches: Batches per validation (None = the whole valid split).
        early_stop: Stop after this many validations without improvement (0 = never).
        max_seq_len: Events per training sequence (including SOS ... EOS).
        max_beat: Beats per training window.
        augment: MMT's pitch-shift and random-window augmentation on the train split.
        fim_rate: Fraction of training sequences rearranged for fill-in-the-middle
            (0 disables; only for encodings that have fill events).
        slice_rate: Fraction of training sequences that are a slice of their piece (an N-bar
            loop, all tracks or one, or one track alone; :mod:`tuplet.training.slices`).
        loop_bars: Bars per loop slice.
        range_shift: Pitch shifts keep ranged instruments' notes in their ranges.
        swap_rate: Fraction of training sequences whose line instruments may move to others
            that can play their notes (:mod:`tuplet.training.augment`).
        choir_rate: Fraction of training sequences whose choir is sung by line instruments,
            one per voice (:func:`tuplet.training.augment.split_choir`).
        ensemble_shift: A choir an ensemble cannot play where it is written may be moved
            (-5..+6 semitones) into the ensemble's ranges.
        range_loss: Weight of a training term that teaches instruments' ranges
            (:class:`tuplet.model.transformer.RangeLoss`); 0 = off. Not in the reported NLL.
        range_head: The head that term is on: ``pitch`` (the probability the pitch head puts
            inside the target instrument's range), ``instrument`` (the probability the
            instrument head puts on instruments that can play the target pitch), ``ensemble``
            (the same among the piece's own instruments, as instrument-informed sampling
            keeps them), or ``auto`` (default): the later of the two in the model's cascade
            order (the instrument for the column order), the pitch head without the cascade.
            Runs made before this option resume with ``pitch``, the head they were trained
            with.
        seed: Seed of everything random.
        country_iso_code: Grid for the energy and CO2 report.
        num_workers: DataLoader worker processes.
    """

    preset: str = "small"
    model_overrides: dict[str, Any] = field(default_factory=dict)
    steps: int = 200_000
    batch_size: int = 8
    lr: float = 5e-4
    warmup_steps: int = 5_000
    decay_steps: int = 100_000
    final_lr_ratio: float = 0.1
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    valid_every: int = 1_000
    save_every_s: float = 300.0
    valid_batches: int | None = None
    early_stop: int = 20
    max_seq_len: int = 1024
    max_beat: int = 256
    augment: bool = True
    fim_rate: float = 0.0
    slice_rate: float = 0.0
    loop_bars: int = 4
    range_shift: bool = False
    swap_rate: float = 0.0
    choir_rate: float = 0.0
    ensemble_shift: bool = False
    range_loss: float = 0.0
    range_head: str = "auto"
    seed: int = 0
    country_iso_code: str = "USA"
    num_workers: int = 0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict."""
        return asdict(self)


# A musician fine-tuning on a handful of files: gentler, shorter, watched closely.
FINETUNE_DEFAULTS: dict[str, Any] = {
    "lr": 1e-4,
    "warmup_steps": 50,
    "decay_steps": 1_000,
    "steps": 1_000,
    "valid_every": 50,
    "early_stop": 5,
}


@dataclass(frozen=True)
class TrainResult:
    """What a run did."""

    out_dir: Path
    steps: int
    best_valid_nll: float
    best_step: int
    stopped: str
    energy: dict[str, Any]


def _dist_info() -> tuple[int, int, int]:
    """(rank, world size, local rank) from torchrun's environment."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    return rank, world, local


# ------------------------------------------------------------------------------ train
def train(
    dataset_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    config: TrainConfig,
    **options: Any,
) -> TrainResult:
    """Train (or fine-tune, or resume) a model; see the module docstring for what is written.

    While it runs, the dataset folder is locked for reading (a ``tuplet data prepare`` of the
    same folder is refused, and a dataset that a prepare is writing, or that a stopped prepare
    left unfinished, is refused here) and the run folder for writing (a second run into it is
    refused); see :func:`tuplet.corpus.store.lock_folder`.

    Args:
        dataset_dir: A folder made by ``tuplet data prepare``.
        out_dir: The run folder.
        config: How to train.
        **options: ``resume``, ``from_checkpoint``, ``device``, ``progress``, ``stop_after``,
            ``extend_to``, ``use``, ``allow_unverified``, ``reason``: see :func:`_train`.

    Returns:
        A :class:`TrainResult`.

    Raises:
        RightsGateError: Items of the train or valid split fail the rights gate.
        UsageError: On a dataset/checkpoint mismatch, a run folder in the wrong state, or a
            dataset or run folder another process is writing.
        WriteError: The disk filled up; ``last/`` holds the last save that fitted.
    """
    import contextlib

    from tuplet.corpus import store
    from tuplet.training.dataset import load_dataset_info

    load_dataset_info(dataset_dir)  # a folder that is no dataset is refused before locking
    with contextlib.ExitStack() as locks:
        locks.enter_context(
            store.lock_folder(
                Path(dataset_dir), shared=True, holder="tuplet train", busy="is being written"
            )
        )
        if not load_dataset_info(dataset_dir).get("complete", True):
            raise UsageError(
                f"{dataset_dir}: its preparation did not finish (a tuplet data prepare was "
                "stopped part-way); run the same prepare again to complete it"
            )
        try:
            return _train(dataset_dir, out_dir, config, locks=locks, **options)
        except OSError as exc:
            if not is_out_of_space(exc):
                raise
            then = "free some space and run it again (with --resume once it has saved last/)"
            raise WriteError(out_dir, exc, then) from None


def _model_and_config(
    dataset_dir: str | os.PathLike[str],
    out: Path,
    config: TrainConfig,
    data_encoding: Any,
    encoding: dict[str, Any],
    resume: bool,
    extend_to: int | None,
    from_checkpoint: str | os.PathLike[str] | None,
) -> tuple[Any, TrainConfig, dict[str, Any], dict[str, Any] | None]:
    """The model to train (on the CPU), the run's config, its checkpoints' encoding, its base.

    Resumed: the run's own model and config (extended to ``extend_to`` steps); fine-tuned:
    the checkpoint, its encoding, and the record of it; else a new model of the preset.
    """
    import torch

    from tuplet.model.checkpoint import load_checkpoint
    from tuplet.model.transformer import ModelConfig, MusicTransformer, field_order, preset

    base: dict[str, Any] | None = None
    if resume:
        model, ck = load_checkpoint(out / "last", device="cpu")
        base = ck["extra"].get("base")
        # runs from before range_head had the term on the pitch head
        config = replace(TrainConfig(), **{"range_head": "pitch", **ck["training"]})
        if extend_to is not None and extend_to != config.steps:
            if extend_to < config.steps:
                raise UsageError(
                    f"{out}: the run is set for {config.steps} steps; --steps can only extend it"
                )
            stretch = config.decay_steps >= config.steps
            config = replace(
                config,
                steps=extend_to,
                decay_steps=extend_to if stretch else config.decay_steps,
            )
    else:
        if from_checkpoint is not None:
            model, ck = load_checkpoint(from_checkpoint, device="cpu")
            if ck["encoding"]["name"] != data_encoding.name:
                raise UsageError(
                    f"{from_checkpoint}: model uses the {ck['encoding']['name']} encoding but "
                    f"{dataset_dir} is {data_encoding.name}: prepare the data with "
                    f"--encoding {ck['encoding']['name']}"
                )
            config = replace(config, max_beat=ck["encoding"]["max_beat"])
            if "field_order" in config.model_overrides:
                names = model.config.field_names
                model.set_field_order(field_order(config.model_overrides["field_order"], names))
            if "onset_order" in config.model_overrides:
                model.config = replace(
                    model.config, onset_order=config.model_overrides["onset_order"]
                )
            encoding = ck["encoding"]
            base = lineage.base_record(from_checkpoint, ck)
        else:
            enc = data_encoding.with_max_beat(config.max_beat)
            overrides = dict(config.model_overrides)
            if "field_order" in overrides:
                overrides["field_order"] = field_order(overrides["field_order"], enc.fields)
            model_config: ModelConfig = preset(
                config.preset,
                enc.fields,
                enc.vocab_sizes,
                max_seq_len=config.max_seq_len,
                defined_fields=tuple(map(tuple, enc.defined_fields.tolist())),
                **overrides,
            )
            torch.manual_seed(config.seed)
            model = MusicTransformer(model_config)
    if config.range_head == "auto":  # recorded as the head it means for this model
        config = replace(config, range_head=range_head(config, model.config))
    return model, config, encoding, base


def _datasets(
    dataset_dir: str | os.PathLike[str],
    config: TrainConfig,
    max_seq_len: int,
    say: bool,
    onset_order: str = "pitch",
) -> tuple[Any, Any]:
    """The train split as training examples, and the valid split to validate on.

    Both with the notes of an onset in the model's ``onset_order``.

    Without a valid split the train split serves, unaugmented (with a note when ``say``).
    """
    from tuplet.training.dataset import SequenceDataset

    train_set = SequenceDataset(
        dataset_dir,
        "train",
        max_seq_len=max_seq_len,
        max_beat=config.max_beat,
        augment=config.augment,
        seed=config.seed,
        fim_rate=config.fim_rate,
        slice_rate=config.slice_rate,
        loop_bars=config.loop_bars,
        range_shift=config.range_shift,
        swap_rate=config.swap_rate,
        choir_rate=config.choir_rate,
        ensemble_shift=config.ensemble_shift,
        onset_order=onset_order,
    )

    def plain(split: str) -> SequenceDataset:  # as read for validation: no augmentation
        return SequenceDataset(
            dataset_dir, split, max_seq_len=max_seq_len, max_beat=config.max_beat,
            augment=False, seed=config.seed, onset_order=onset_order,
        )  # fmt: skip

    valid_set = plain("valid")
    if len(train_set) == 0:
        raise UsageError(f"{dataset_dir}: the train split is empty")
    if len(valid_set) == 0:
        if say:
            print(
                f"note: {dataset_dir} has no valid split: validating on the train split, so "
                "'best' is the best fit to the training data (prepare more files for a split)",
                file=sys.stderr,
            )
        valid_set = plain("train")
    return train_set, valid_set


def _train(
    dataset_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    config: TrainConfig,
    *,
    resume: bool = False,
    from_checkpoint: str | os.PathLike[str] | None = None,
    device: str | None = None,
    progress: bool = True,
    stop_after: int | None = None,
    extend_to: int | None = None,
    use: str | None = None,
    allow_unverified: bool = False,
    reason: str | None = None,
    locks: Any = None,
) -> TrainResult:
    """Train (or fine-tune, or resume) a model, the dataset locked by :func:`train`.

    Args:
        dataset_dir: A folder made by ``tuplet data prepare``.
        out_dir: The run folder.
        config: How to train.
        resume: Continue the run in ``out_dir`` from its ``last/`` checkpoint.
        from_checkpoint: Fine-tune this checkpoint instead of starting from random weights.
        device: ``cpu``, ``cuda``, ``cuda:1``... (default: CUDA when available).
        progress: Show a progress bar.
        stop_after: Stop (as if interrupted, saving ``last/``) after this global step; for tests.
        extend_to: With ``resume``: train until this step instead of the run's own ``steps``
            (a finished run goes on; the decay is stretched to end there too, so the learning
            rate rises from its floor to where the longer schedule has it: a warm restart).
        use: What the model is for, ``personal``, ``research`` or ``commercial`` (default
            research; a resumed run keeps its own): the rights gate
            (:mod:`tuplet.responsibility.gate`)
            checks the train and valid items for it before any model is built.
        allow_unverified: Go on although items fail the gate; ``reason``, the counts and the
            items are recorded in every checkpoint (``extra["rights_gate"]``) and model card.
        reason: Why the run may go on (required with ``allow_unverified``).
        locks: The :class:`contextlib.ExitStack` that holds the dataset's lock; the run
            folder's lock joins it once the folder is made.

    Returns:
        A :class:`TrainResult`.

    Raises:
        RightsGateError: Items of the train or valid split fail the rights gate.
        UsageError: On a dataset/checkpoint mismatch or a run folder in the wrong state.
    """
    import torch.distributed as dist

    from tuplet.encoding import EncodingConfig
    from tuplet.training.dataset import load_dataset_info
    from tuplet.training.energy import EnergyMeter

    out = Path(out_dir)
    _check_range_term(config)
    device, rank, world, local_rank = _device(device)
    is_main = rank == 0
    data_encoding = EncodingConfig.from_dict(load_dataset_info(dataset_dir)["encoding"])
    rights_gate = _open_run_folder(
        out, dataset_dir, resume, is_main, locks, progress,
        use=use, allow_unverified=allow_unverified, reason=reason,
    )  # fmt: skip
    # checkpoints carry the encoding as the model sees it (beats of one training window)
    model, config, encoding, base = _model_and_config(
        dataset_dir,
        out,
        config,
        data_encoding,
        data_encoding.with_max_beat(config.max_beat).to_dict(),
        resume,
        extend_to,
        from_checkpoint,
    )
    model.to(device)
    max_seq_len = min(config.max_seq_len, model.config.max_seq_len)
    train_set, valid_set = _datasets(
        dataset_dir, config, max_seq_len, progress and is_main, model.config.onset_order
    )
    optimizer, state = _optimizer(model, config, out, resume, is_main)
    extra: dict[str, Any] = {"rights_gate": rights_gate}
    if base is not None:
        extra["base"] = lineage.shared_items(base, rights_gate.get("items"))
    run = Run(
        out, dataset_dir, config, encoding, model, optimizer, train_set, valid_set, device,
        rank=rank, world=world, local_rank=local_rank, state=state, extra=extra,
    )  # fmt: skip
    meter = EnergyMeter(config.country_iso_code) if is_main else None
    if meter is not None:
        meter.start()
    run.train(progress, stop_after)
    energy = run.record_energy(meter, progress)
    if world > 1:
        dist.barrier()
    return TrainResult(out, state.step, state.best_valid, state.best_step, state.stopped, energy)


def _check_range_term(config: TrainConfig) -> None:
    """Refuse a negative range-term weight and an unknown head."""
    if not config.range_loss >= 0:
        raise UsageError(f"range_loss must be 0 or more, got {config.range_loss}")
    if config.range_head not in RANGE_HEADS:
        raise UsageError(
            f"range_head must be one of {', '.join(RANGE_HEADS)}, got {config.range_head!r}"
        )


def _device(device: str | None) -> tuple[str, int, int, int]:
    """(device, rank, world size, local rank): torchrun's processes joined, CUDA chosen."""
    import torch
    import torch.distributed as dist

    from tuplet.model.checkpoint import check_device

    rank, world, local_rank = _dist_info()
    if device is None:
        device = f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"
    check_device(device)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    if device.startswith("cuda"):
        torch.cuda.set_device(torch.device(device))
    return device, rank, world, local_rank


def _open_run_folder(
    out: Path,
    dataset_dir: str | os.PathLike[str],
    resume: bool,
    is_main: bool,
    locks: Any,
    progress: bool,
    **gate_options: Any,
) -> dict[str, Any]:
    """Check the run folder's state and the rights gate, then make and lock the folder.

    The gate comes before any model is built or anything written: a refused run costs
    nothing. Returns the gate's record (saved with every checkpoint).
    """
    from tuplet.model.checkpoint import load_checkpoint_config, recover_interrupted_save
    from tuplet.responsibility.gate import gate

    last_dir = out / "last"
    recover_interrupted_save(last_dir)  # a save killed between its renames: put it back
    if resume and not (last_dir / "config.json").exists():
        raise UsageError(f"{out}: nothing to resume (no last/ checkpoint); drop --resume")
    if not resume and is_main and (last_dir / "config.json").exists():
        raise UsageError(f"{out}: holds a run already (use --resume, or another --out)")
    recorded = load_checkpoint_config(last_dir)["extra"].get("rights_gate") if resume else None
    rights_gate = gate(dataset_dir, recorded=recorded, **gate_options)
    if progress and is_main and rights_gate["outcome"] != "passed":
        print(
            f"note: going on unverified for {rights_gate['use']} use: "
            f"{rights_gate['failing']} of {rights_gate['checked']} items fail the rights gate; "
            f"reason recorded: {rights_gate['reason']}",
            file=sys.stderr,
        )
    if is_main:
        out.mkdir(parents=True, exist_ok=True)
        if locks is not None:
            from tuplet.corpus.store import lock_folder

            locks.enter_context(
                lock_folder(
                    out, shared=False, holder="tuplet train", busy="is in use by another run"
                )
            )
        if not resume:  # losses of a run killed before its first save: nothing continues them
            truncate_losses(out / "losses.csv", 0)
    return rights_gate


def _optimizer(
    model: Any, config: TrainConfig, out: Path, resume: bool, is_main: bool
) -> tuple[Any, TrainerState]:
    """AdamW over the model, and the trainer state: a resumed run's, from its ``last/``."""
    import torch

    from tuplet.model.checkpoint import load_state, optimizer_state_from_tensors

    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.lr, betas=(0.9, 0.999), weight_decay=config.weight_decay
    )
    state = TrainerState()
    if resume:
        tensors, meta = load_state(out / "last", "trainer")
        optimizer.load_state_dict(optimizer_state_from_tensors(tensors, meta["optimizer"]))
        for key, value in meta["state"].items():
            setattr(state, key, value)
        if state.stopped == "interrupted" or (
            state.stopped == "finished" and state.step < config.steps
        ):
            state.stopped = ""
        if is_main:
            truncate_losses(out / "losses.csv", state.step)
    return optimizer, state


def describe_run(run_dir: str | os.PathLike[str]) -> str:
    """A few lines about a run folder: steps, best validation NLL, energy."""
    run = Path(run_dir)
    lines = [str(run)]
    energy = run / "energy.json"
    if energy.exists():
        e = json.loads(energy.read_text(encoding="utf-8"))
        lines.append(
            f"energy: {e.get('total_kwh', e['kwh']):.4g} kWh, "
            f"{e.get('total_kg_co2eq', e['kg_co2eq']) * 1000:.4g} g CO2eq"
        )
    rows = load_losses(run) if (run / "losses.csv").exists() else []
    valid = [float(r["nll_per_note"]) for r in rows if r["split"] == "valid"]
    if valid:
        lines.append(f"validations: {len(valid)}, best NLL/note {np.min(valid):.4f}")
    return "\n".join(lines)


__all__ = [
    "FINETUNE_DEFAULTS",
    "LOSS_COLUMNS",
    "TrainConfig",
    "TrainResult",
    "describe_run",
    "learning_rate",
    "load_losses",
    "train",
]
