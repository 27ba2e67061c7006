"""``tuplet train``: train, fine-tune (``--from``) or resume (``--resume``) a model."""

from __future__ import annotations

import argparse
from dataclasses import fields
from typing import Any

from tuplet.errors import UsageError


def _bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected on/off, got {text!r}")


def cmd_train(args: argparse.Namespace) -> int:
    """Run training as asked and print where everything went."""
    from tuplet.training.dataset import load_dataset_info
    from tuplet.training.train import FINETUNE_DEFAULTS, TrainConfig, train

    overrides: dict[str, Any] = {}
    for name in ("position", "cascade", "clean_loss", "dropout", "n_layer", "d_model", "n_head"):
        value = getattr(args, name)
        if value is not None:
            overrides[name] = value
    base: dict[str, Any] = {}
    if args.from_checkpoint:
        base.update(FINETUNE_DEFAULTS)
    elif args.preset == "tiny":
        base.update(warmup_steps=20, valid_every=50)
    if args.fim_rate is None and not args.resume:
        encoding = load_dataset_info(args.dataset)["encoding"]["name"]
        # fill-in-the-middle is on by default where the encoding supports it
        base["fim_rate"] = 0.25 if encoding == "tuplet" else 0.0
    if args.range_shift is None and not args.resume:
        encoding = load_dataset_info(args.dataset)["encoding"]["name"]
        # shifts that keep instruments in range, where MMT's exact augmentation is not the point
        base["range_shift"] = encoding == "tuplet"
    given = {
        f.name: getattr(args, f.name)
        for f in fields(TrainConfig)
        if f.name not in ("model_overrides",) and getattr(args, f.name, None) is not None
    }
    if overrides and args.from_checkpoint:
        raise UsageError("model options cannot change when fine-tuning (--from): drop them")
    if args.field_order is not None:  # changes no weight's shape: a fine-tune may change it
        overrides["field_order"] = args.field_order
    if args.onset_order is not None:  # the same
        overrides["onset_order"] = args.onset_order
    config = TrainConfig(**{**base, **given, "model_overrides": overrides})
    if config.decay_steps > config.steps and "decay_steps" not in given:
        config = TrainConfig(**{**config.to_dict(), "decay_steps": config.steps})
    result = train(
        args.dataset,
        args.out,
        config,
        resume=args.resume,
        extend_to=args.steps if args.resume else None,
        from_checkpoint=args.from_checkpoint,
        device=args.device,
        progress=not args.quiet,
        use=args.use,
        allow_unverified=args.allow_unverified,
        reason=args.reason,
    )
    print(
        f"{result.stopped} after {result.steps} steps; best valid NLL/note "
        f"{result.best_valid_nll:.4f} at step {result.best_step}; checkpoints in "
        f"{result.out_dir}/best and {result.out_dir}/last"
    )
    return 0


def register(sub: Any) -> None:
    """Add ``tuplet train`` to the ``tuplet`` parser."""
    p = sub.add_parser(
        "train",
        help="train, fine-tune (--from) or resume (--resume) a model on a prepared dataset",
        description=(
            "Train a multitrack music transformer. Defaults follow the MMT paper (Adam, lr 5e-4, "
            "5k warm-up steps, linear decay to 0.1x at 100k, clip 1.0, validation every 1k "
            "steps, early stop after 20). With --from, fine-tuning defaults apply (lr 1e-4, "
            "1,000 steps, validation every 50, early stop after 5). Ctrl-C saves the last "
            "checkpoint; --resume continues from it. Under torchrun, trains with DDP. Refuses to "
            "start when the data's rights do not allow the declared --use (see the rights gate)."
        ),
    )
    _add_run_options(p)
    _add_schedule_options(p)
    _add_example_options(p)
    _add_gate_options(p)
    _add_model_options(p)
    p.set_defaults(handler=cmd_train)


def _add_run_options(p: argparse.ArgumentParser) -> None:
    """The data, the run folder, where it starts from, and where it runs."""
    p.add_argument("dataset", help="a folder made by `tuplet data prepare`")
    p.add_argument("--out", required=True, help="run folder")
    p.add_argument("--preset", default=None, help="tiny, small (default) or mmt-paper")
    p.add_argument("--from", dest="from_checkpoint", default=None, help="checkpoint to fine-tune")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument(
        "--steps",
        type=int,
        default=None,
        help="optimiser steps; with --resume, extend the run to this many (a warm restart)",
    )
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--country", dest="country_iso_code", default=None, help="grid, e.g. DEU")
    p.add_argument("--num-workers", dest="num_workers", type=int, default=None)
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: cuda if any)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _add_schedule_options(p: argparse.ArgumentParser) -> None:
    """Batch, learning-rate schedule, validation, saving and early stopping."""
    p.add_argument("--batch-size", dest="batch_size", type=int, default=None)
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--warmup-steps", dest="warmup_steps", type=int, default=None)
    p.add_argument("--decay-steps", dest="decay_steps", type=int, default=None)
    p.add_argument("--weight-decay", dest="weight_decay", type=float, default=None)
    p.add_argument("--valid-every", dest="valid_every", type=int, default=None)
    p.add_argument(
        "--save-every",
        dest="save_every_s",
        type=float,
        default=None,
        help="also save last/ every this many seconds (default 300; 0: only at validations)",
    )
    p.add_argument("--valid-batches", dest="valid_batches", type=int, default=None)
    p.add_argument("--early-stop", dest="early_stop", type=int, default=None)


def _add_example_options(p: argparse.ArgumentParser) -> None:
    """How training examples are cut and augmented."""
    from tuplet.training.run import RANGE_HEADS

    p.add_argument("--max-seq-len", dest="max_seq_len", type=int, default=None)
    p.add_argument("--max-beat", dest="max_beat", type=int, default=None)
    p.add_argument("--augment", type=_bool, default=None, help="on/off")
    p.add_argument(
        "--fim-rate",
        dest="fim_rate",
        type=float,
        default=None,
        help="share of fill-in-the-middle examples (default 0.25 for the tuplet encoding)",
    )
    p.add_argument(
        "--slice-rate",
        dest="slice_rate",
        type=float,
        default=None,
        help="share of examples that are a slice: an N-bar loop or one track (default 0)",
    )
    p.add_argument("--loop-bars", dest="loop_bars", type=int, default=None, help="bars per loop")
    p.add_argument(
        "--range-shift",
        dest="range_shift",
        type=_bool,
        default=None,
        help="on/off: pitch shifts keep instruments in their ranges (default on for the tuplet "
        "encoding)",
    )
    p.add_argument(
        "--swap-rate",
        dest="swap_rate",
        type=float,
        default=None,
        help="share of examples whose melodic lines may move to other instruments that can "
        "play them, e.g. a cello part as bassoon (default 0)",
    )
    p.add_argument(
        "--choir-rate",
        dest="choir_rate",
        type=float,
        default=None,
        help="share of examples whose choir is sung by instruments, one per voice (colla "
        "parte; default 0)",
    )
    p.add_argument(
        "--ensemble-shift",
        dest="ensemble_shift",
        type=_bool,
        default=None,
        help="on/off: a choir an ensemble cannot play where it is written may move -5..+6 "
        "semitones into the ensemble's ranges (default off)",
    )
    p.add_argument(
        "--range-loss",
        dest="range_loss",
        type=float,
        default=None,
        help="weight of a training term that teaches instruments' ranges (default 0: off; "
        "the default model's trials used 20-60)",
    )
    p.add_argument(
        "--range-head",
        dest="range_head",
        choices=RANGE_HEADS,
        default=None,
        help="the head the range term is on: pitch (-log P(pitch in the note's instrument's "
        "range)), instrument (-log P(an instrument that can play the note's pitch)), ensemble "
        "(the same among the piece's own instruments, as the sampler keeps them), or auto "
        "(default): the later of the two in the model's order (instrument for the column order)",
    )


def _add_gate_options(p: argparse.ArgumentParser) -> None:
    """The rights gate: the declared use, and going on unverified with a reason."""
    r = p.add_argument_group(
        "rights gate",
        "before training, every train and valid item's rights record is checked for the "
        "declared use, and its file against its SHA-256 (docs/data.md: the table of uses)",
    )
    r.add_argument(
        "--use",
        choices=("personal", "research", "commercial"),  # responsibility.gate.USES, not imported
        default=None,
        help="what the model is for (default research; a resumed run keeps its own)",
    )
    r.add_argument(
        "--allow-unverified",
        dest="allow_unverified",
        action="store_true",
        help="go on although items fail the gate (needs --reason; recorded in the checkpoint "
        "and model card, which then makes no licensed-data claim)",
    )
    r.add_argument("--reason", default=None, help="why the run may go on unverified")


def _add_model_options(p: argparse.ArgumentParser) -> None:
    """The model's shape (new runs only)."""
    g = p.add_argument_group("model (new runs only)")
    g.add_argument(
        "--position", default=None, help="absolute, rotary, none, onset-rotary, hybrid-rotary"
    )
    g.add_argument("--cascade", type=_bool, default=None, help="within-note dependence on/off")
    g.add_argument("--clean-loss", dest="clean_loss", type=_bool, default=None, help="on/off")
    g.add_argument("--dropout", type=float, default=None)
    g.add_argument("--n-layer", dest="n_layer", type=int, default=None)
    g.add_argument("--d-model", dest="d_model", type=int, default=None)
    g.add_argument("--n-head", dest="n_head", type=int, default=None)
    g.add_argument(
        "--field-order",
        dest="field_order",
        default=None,
        help="the order an event's fields are predicted in: columns (MMT's), instrument-first "
        "(the instrument before the pitch), or a comma list; may change when fine-tuning",
    )
    g.add_argument(
        "--onset-order",
        dest="onset_order",
        choices=("pitch", "instrument"),
        default=None,
        help="the order of the notes of one onset the model learns: pitch (rising, as encoded) "
        "or instrument (by instrument, then pitch: for instrument-first models); may change "
        "when fine-tuning",
    )
