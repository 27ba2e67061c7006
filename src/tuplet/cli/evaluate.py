"""``tuplet evaluate``: samples against a reference dataset, or a model's NLL on a split."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from tuplet.errors import UsageError


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def cmd_evaluate_samples(args: argparse.Namespace) -> int:
    """Compare a folder of samples (or a dataset) with a reference dataset."""
    from tuplet.analysis.evaluate import (
        PLOT_KINDS,
        evaluate_sets,
        format_comparison,
        is_dataset,
        load_pieces,
        plot_evaluation,
        read_dataset_pieces,
        save_json,
    )

    if args.reference is None:
        raise UsageError("give --reference DATASET to compare SAMPLES with")
    if not is_dataset(args.reference):
        raise UsageError(f"{args.reference}: not a prepared dataset (run 'tuplet data prepare')")
    if args.trim < 0:
        raise UsageError(f"--trim must be 0 (no trimming) or a number of beats, not {args.trim}")
    samples = load_pieces(args.samples, args.samples_split)
    reference = read_dataset_pieces(args.reference, args.split)
    evaluation = evaluate_sets(samples, reference, trim_beats=args.trim or None)
    print(format_comparison(evaluation))
    out = Path(args.out) if args.out else Path(args.samples) / "evaluation"
    out.mkdir(parents=True, exist_ok=True)
    written = [save_json(evaluation.to_dict(), out / "evaluation.json")]
    if not args.no_plots:
        written += plot_evaluation(evaluation, out)
    else:  # no picture of an earlier run may stay beside this run's numbers
        for kind in PLOT_KINDS:
            (out / f"{kind}.png").unlink(missing_ok=True)
    print("wrote " + ", ".join(str(p) for p in written))
    return 0


def cmd_evaluate_model(args: argparse.Namespace) -> int:
    """Score a dataset split with a checkpoint."""
    from tuplet.analysis.evaluate import evaluate_nll, format_nll

    if args.data is None:
        raise UsageError("give --data DATASET to score the model on")
    device = _device(args.device)
    report = evaluate_nll(
        args.model,
        args.data,
        split=args.split,
        batch_size=args.batch_size,
        max_batches=args.max_batches,
        device=device,
        weights=args.weights,
    )
    print(format_nll(report))
    _write_report(report.to_dict(), args.out, f"nll-{args.split}.json")
    return 0


def cmd_evaluate_continuations(args: argparse.Namespace) -> int:
    """Continue held-out pieces with a model and compare with their true continuations."""
    from tuplet.analysis.continuations import evaluate_continuations, format_continuations

    if args.data is None:
        raise UsageError("give --data DATASET whose pieces the model should continue")
    if args.samples is not None or args.reference is not None:
        raise UsageError("--continuations takes --data (and --model), not SAMPLES/--reference")
    settings = None
    from tuplet.generation.settings import KNOBS

    if any(getattr(args, k) is not None for k in KNOBS):
        from tuplet.cli.generate import _model_config, _settings
        from tuplet.generation.settings import recommended

        info, _ = _model_config(args.model)  # config.json only: the weights load once, below
        settings = _settings(args, recommended(info.get("sampling"), "continuation"))
    report = evaluate_continuations(
        args.model,
        args.data,
        split=args.split,
        prompt_beats=args.prompt_beats,
        beats=args.beats,
        seed=args.seed,
        max_pieces=args.max_pieces,
        device=_device(args.device),
        progress=not args.quiet,
        settings=settings,
        rounds=args.rounds,
    )
    print(format_continuations(report))
    name = f"continuations-{args.split}.json"
    _write_report(report.to_dict(), args.out, name)
    return 0


def _write_report(data: dict[str, Any], out: str | None, name: str) -> None:
    """Save a JSON report to ``out`` (a .json file, or a folder for ``name``).

    The default is ``name`` in the working folder: never the model's folder, which was only read
    (and may be the shipped model inside the installed package).
    """
    from tuplet.analysis.evaluate import save_json

    path = Path(out) if out else Path(name)
    if path.suffix.lower() != ".json":
        path.mkdir(parents=True, exist_ok=True)
        path = path / name
    print(f"wrote {save_json(data, path)}")


def _device(device: str) -> str:
    if device == "auto":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Dispatch: continuations, a model's NLL, or SAMPLES against a reference."""
    if args.continuations:
        return cmd_evaluate_continuations(args)
    from tuplet.generation.settings import KNOBS

    given = [k for k in KNOBS if getattr(args, k)]
    if given:
        flag = "--" + given[0].replace("_", "-")
        raise UsageError(f"{flag} sets how continuations are sampled: it goes with --continuations")
    if args.model is not None:
        if args.samples is not None or args.reference is not None:
            raise UsageError("--model scores a checkpoint: give --data, not SAMPLES/--reference")
        return cmd_evaluate_model(args)
    if args.samples is None:
        raise UsageError(
            "give SAMPLES --reference DATASET, or --model CHECKPOINT --data DATASET "
            "(see 'tuplet evaluate --help')"
        )
    if args.data is not None:
        raise UsageError("--data goes with --model; compare SAMPLES with --reference DATASET")
    return cmd_evaluate_samples(args)


def register(sub: Any) -> None:
    """Add ``tuplet evaluate`` to the ``tuplet`` parser."""
    p = sub.add_parser(
        "evaluate",
        help="musical metrics of samples against a dataset, or a model's NLL on a split",
        description=(
            "tuplet evaluate SAMPLES --reference DATASET: pitch-class entropy, scale and "
            "groove consistency and other metrics of SAMPLES (a folder of MIDI files or a "
            "dataset) against a split of a prepared dataset, with overlapped area (OA) and KL "
            "divergence of the distance distributions. tuplet evaluate --model CHECKPOINT "
            "--data DATASET: per-event NLL and per-field losses on a split. tuplet evaluate "
            "--continuations --data DATASET [--model CHECKPOINT]: the model continues each "
            "held-out piece after --prompt-beats beats; the next --beats beats are measured "
            "against the true continuation. See docs/metrics.md."
        ),
    )
    p.add_argument("samples", nargs="?", default=None, help="folder of MIDI files, or a dataset")
    p.add_argument("--reference", default=None, help="prepared dataset to compare SAMPLES with")
    p.add_argument(
        "--split", default="test", choices=["train", "valid", "test"],
        help="split of the reference (or, with --model, of --data) (default: test)",
    )  # fmt: skip
    p.add_argument(
        "--samples-split", default=None, choices=["train", "valid", "test"],
        help="when SAMPLES is a dataset: its split (default: every split)",
    )  # fmt: skip
    p.add_argument(
        "--trim", type=float, default=64.0,
        help="measure the first this many beats of each piece, as the MMT paper (0: whole)",
    )  # fmt: skip
    p.add_argument(
        "--out", default=None,
        help="output folder (default: SAMPLES/evaluation; with --model: a .json file or "
        "folder, default nll-SPLIT.json in the working folder)",
    )  # fmt: skip
    p.add_argument("--no-plots", action="store_true", help="write the JSON file only")
    p.add_argument("--model", default=None, help="checkpoint folder to score")
    p.add_argument("--data", default=None, help="with --model: the dataset to score it on")
    p.add_argument("--batch-size", type=_positive, default=8)
    p.add_argument("--max-batches", type=_positive, default=None, help="score only N batches")
    p.add_argument("--device", default="auto", help="torch device (default: cuda if available)")
    p.add_argument(
        "--weights", default="float32", choices=["float32", "bfloat16", "int8"],
        help="with --model: score bfloat16 or int8 weights (as `tuplet generate --dtype` runs "
        "them; int8 on the CPU only)",
    )  # fmt: skip
    p.add_argument(
        "--continuations", action="store_true",
        help="continue the --data split's pieces with --model (default: the shipped model)",
    )  # fmt: skip
    p.add_argument("--prompt-beats", dest="prompt_beats", type=_positive, default=16)
    p.add_argument("--beats", type=_positive, default=32, help="beats of continuation measured")
    p.add_argument("--max-pieces", dest="max_pieces", type=_positive, default=None)
    p.add_argument("--seed", type=int, default=0, help="piece i is sampled with seed + i")
    p.add_argument(
        "--rounds", type=_positive, default=1,
        help="continue every piece this many times (seeds SEED, SEED+1, ...) and average",
    )  # fmt: skip
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    s = p.add_argument_group(
        "sampling of --continuations (default: the model's own; one value, or per field: "
        "1.0,pitch=0.9; as tuplet generate)"
    )
    s.add_argument("--temperature", default=None)
    s.add_argument("--top-k-frac", dest="top_k_frac", default=None)
    s.add_argument("--top-k", dest="top_k", default=None)
    s.add_argument("--top-p", dest="top_p", default=None)
    s.add_argument("--min-p", dest="min_p", default=None)
    p.set_defaults(handler=cmd_evaluate)
