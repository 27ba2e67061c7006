"""One training run in progress: its steps, validations, saves and energy.

:func:`tuplet.training.train.train` checks the rights gate, builds the model, the datasets and
the optimizer, and hands them to a :class:`Run`, whose loop is a few named stages:

* :meth:`Run.step`: one optimisation step on one batch (learning rate, dropout seed, loss,
  gradient, the progress bar and the train rows of ``losses.csv``);
* :meth:`Run.validated`: every ``valid_every`` steps and at the last, the valid split's NLL per
  note, early stopping, ``best/`` when it improved, ``last/``, the loss curve;
* :meth:`Run.save_if_due`: ``last/`` every ``save_every_s`` seconds between validations;
* :meth:`Run.train`: the epochs around those, stopping cleanly on Ctrl-C or SIGTERM (``last/``
  saved, resumable);
* :meth:`Run.record_energy`: the energy of this segment, added to the run's totals.

Only rank 0 of a distributed run writes; every process steps and validates.
"""

from __future__ import annotations

import math
import os
import signal
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tuplet.training.losslog import append_row, plot_losses

if TYPE_CHECKING:
    from tuplet.training.train import TrainConfig


def learning_rate(step: int, config: TrainConfig) -> float:
    """The learning rate at ``step`` (0-based): linear warm-up, then linear decay to a floor."""
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    span = max(1, config.decay_steps - config.warmup_steps)
    frac = min(1.0, (step - config.warmup_steps) / span)
    return config.lr * (1.0 - frac * (1.0 - config.final_lr_ratio))


@dataclass
class TrainerState:
    """What ``last/`` saves besides the weights and the optimizer: where the run stands."""

    step: int = 0
    best_valid: float = math.inf
    best_step: int = -1
    bad_valids: int = 0
    elapsed_s: float = 0.0
    energy_kwh: float = 0.0
    energy_kg: float = 0.0
    stopped: str = ""


@dataclass(frozen=True)
class _Step:
    loss: Any
    nll_per_note: Any
    n_events: Any


def _loss_module(model: Any, range_loss: Any = None) -> Any:
    """The model's loss as a module's forward (DDP synchronises gradients through forward).

    ``range_loss`` (a :class:`tuplet.model.transformer.RangeLoss`) is added to the objective.
    """
    import torch

    class LossModule(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, codes: Any, mask: Any) -> tuple[Any, Any, Any]:
            out = self.inner.loss(codes, mask, range_loss)
            return out.loss, out.nll_per_note, out.n_events

    return LossModule(model)


RANGE_HEADS = ("auto", "pitch", "instrument", "ensemble")
"""The heads the range term may be on (``TrainConfig.range_head``)."""


def range_head(config: TrainConfig, model_config: Any) -> str:
    """The head ``config.range_head`` means for this model (``auto``: the later of the two).

    With the cascade, the later of the pitch and instrument heads sees the other's code:
    the instrument head for the column order, the pitch head for an instrument-first order.
    Without the cascade the heads are independent, and ``auto`` means the pitch head.
    """
    if config.range_head != "auto":
        return config.range_head
    names = list(model_config.field_names)
    if not model_config.cascade:
        return "pitch"
    at = {j: k for k, j in enumerate(model_config.order)}
    later = at[names.index("instrument")] > at[names.index("pitch")]
    return "instrument" if later else "pitch"


def _range_loss(config: TrainConfig, encoding: dict[str, Any], model_config: Any) -> Any:
    """The training term of ``config.range_loss`` for this encoding, or None when it is 0."""
    if not config.range_loss:
        return None
    import torch

    from tuplet.encoding import EncodingConfig
    from tuplet.model.transformer import RangeLoss
    from tuplet.ranges import pitch_codes_in_range

    enc = EncodingConfig.from_dict(encoding)
    allowed = torch.as_tensor(pitch_codes_in_range(enc))
    head = range_head(config, model_config)
    types = enc.type_codes
    return RangeLoss(allowed, types["note"], float(config.range_loss), head, types["instrument"])


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


@dataclass
class Run:
    """A run's model, optimizer, data and folder, and the state ``last/`` carries.

    Attributes:
        out: The run folder.
        dataset_dir: The dataset trained on (recorded in every save).
        config: How to train.
        encoding: The encoding the checkpoints carry (beats of one training window).
        model: The model, on ``device``.
        optimizer: Its optimizer (with a resumed run's state loaded).
        train_set: Training examples.
        valid_set: Examples to validate on.
        device: Torch device.
        rank: This process's rank; only rank 0 writes.
        world: Processes in all.
        local_rank: This process's GPU on its machine.
        extra: What every save records besides its own fields (rights gate, base model).
        state: Where the run stands (a resumed run's, loaded from ``last/``).
    """

    out: Path
    dataset_dir: str | os.PathLike[str]
    config: TrainConfig
    encoding: dict[str, Any]
    model: Any
    optimizer: Any
    train_set: Any
    valid_set: Any
    device: str
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    state: TrainerState = field(default_factory=TrainerState)

    def __post_init__(self) -> None:
        import torch

        self.loss_model: Any = _loss_module(
            self.model, _range_loss(self.config, self.encoding, self.model.config)
        )
        if self.world > 1:
            self.loss_model = torch.nn.parallel.DistributedDataParallel(
                self.loss_model,
                device_ids=[self.local_rank] if self.device.startswith("cuda") else None,
            )
        self.bf16 = self.device.startswith("cuda") and torch.cuda.is_bf16_supported()
        self.bar: Any = None
        self.saved_at = self.segment_start = self.window_start = time.perf_counter()
        self.elapsed_before = self.state.elapsed_s
        self.tokens_window = 0

    @property
    def is_main(self) -> bool:
        """Whether this process writes (rank 0)."""
        return self.rank == 0

    @property
    def last_dir(self) -> Path:
        """The checkpoint a resumed run continues from."""
        return self.out / "last"

    def autocast(self) -> Any:
        """bf16 autocast on a GPU that has it; float32 elsewhere."""
        import torch

        if self.bf16:
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return torch.autocast("cpu", enabled=False)

    # ------------------------------------------------------------------------- data
    @property
    def global_batch(self) -> int:
        """Sequences per step over all processes."""
        return self.config.batch_size * self.world

    @property
    def steps_per_epoch(self) -> int:
        """Global batches in one pass over the train split (at least 1)."""
        return max(1, len(self.train_set) // self.global_batch)

    def batches_of_epoch(self, epoch: int) -> Any:
        """This process's share of each global batch of ``epoch``: ``(codes, mask)``."""
        from tuplet.training.dataset import make_loader

        loader = make_loader(
            self.train_set,
            batch_size=self.global_batch,
            shuffle=True,
            seed=self.config.seed,
            epoch=epoch,
            drop_last=len(self.train_set) >= self.global_batch,
            num_workers=self.config.num_workers,
        )
        for codes, mask in loader:
            yield codes[self.rank :: self.world], mask[self.rank :: self.world]

    # ---------------------------------------------------------------------- saving
    def save_last(self) -> None:
        """``last/``: weights, configs, optimizer and trainer state in one atomic save."""
        if not self.is_main:
            return
        from tuplet.model.checkpoint import optimizer_state_to_tensors, save_checkpoint

        trainer = {"trainer": {"dataset": str(self.dataset_dir), "world_size": self.world}}
        tensors, opt_meta = optimizer_state_to_tensors(self.optimizer.state_dict())
        save_checkpoint(
            self.last_dir,
            self.model,
            encoding=self.encoding,
            training=self.config.to_dict(),
            extra=trainer | self.extra,
            states={"trainer": (tensors, {"optimizer": opt_meta, "state": asdict(self.state)})},
        )
        self.saved_at = time.perf_counter()

    def save_best(self, valid_nll: float) -> None:
        """``best/``: the weights of the best validation so far."""
        from tuplet.model.checkpoint import save_checkpoint

        save_checkpoint(
            self.out / "best",
            self.model,
            encoding=self.encoding,
            training=self.config.to_dict(),
            extra={
                "valid_nll_per_note": valid_nll,
                "step": self.state.step,
                "trainer": {"dataset": str(self.dataset_dir)},
            }
            | self.extra,
        )

    def log(self, split: str, loss: float, nll: float, lr: float, tokens_per_s: str) -> None:
        """A row of ``losses.csv``."""
        append_row(
            self.out / "losses.csv",
            {
                "step": self.state.step,
                "split": split,
                "loss": f"{loss:.5f}",
                "nll_per_note": f"{nll:.5f}",
                "lr": f"{lr:.3e}",
                "tokens_per_s": tokens_per_s,
                "elapsed_s": f"{self.state.elapsed_s:.1f}",
            },
        )

    # -------------------------------------------------------------------- the loop
    def step(self, codes: Any, mask: Any) -> None:
        """One optimisation step on a batch, then the validation or save it is due for."""
        import torch

        config, state = self.config, self.state
        lr = learning_rate(state.step, config)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        torch.manual_seed(config.seed * 1_000_003 + state.step * self.world + self.rank)
        codes, mask = codes.to(self.device), mask.to(self.device)
        with self.autocast():
            result = _Step(*self.loss_model(codes, mask))
        self.optimizer.zero_grad(set_to_none=True)
        result.loss.backward()
        if config.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), config.grad_clip)
        self.optimizer.step()
        state.step += 1
        # rows read, not only taught: a fill example's given rows come before its last taught one
        read = mask.flip(1).cummax(dim=1).values.flip(1)
        self.tokens_window += int(read.sum()) * self.world
        now = time.perf_counter()
        state.elapsed_s = self.elapsed_before + now - self.segment_start
        tokens_per_s = self.tokens_window / max(1e-9, now - self.window_start)
        loss, nll = result.loss.item(), result.nll_per_note.item()
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(loss=f"{loss:.3f}", nll=f"{nll:.3f}", tok_s=f"{tokens_per_s:,.0f}")
        if self.is_main and state.step % max(1, config.valid_every // 10) == 0:
            self.log("train", loss, nll, lr, f"{tokens_per_s:.1f}")
            self.tokens_window, self.window_start = 0, time.perf_counter()
        if state.step % config.valid_every == 0 or state.step >= config.steps:
            self.validated(lr)
        else:
            self.save_if_due(now)

    def validate(self) -> float:
        """NLL per note event of the valid examples (all processes' together)."""
        import torch
        import torch.distributed as dist

        from tuplet.training.dataset import make_loader

        self.model.eval()
        total_nll, total_notes = 0.0, 0
        loader = make_loader(self.valid_set, batch_size=self.config.batch_size, shuffle=False)
        with torch.no_grad():
            for i, (codes, mask) in enumerate(loader):
                if self.config.valid_batches is not None and i >= self.config.valid_batches:
                    break
                with self.autocast():
                    out = self.model.loss(codes.to(self.device), mask.to(self.device))
                n = int(out.n_events)
                total_nll += float(out.nll_per_note) * n
                total_notes += n
        self.model.train()
        stats = torch.tensor([total_nll, float(total_notes)], dtype=torch.float64)
        if self.world > 1:
            dist.all_reduce(stats)
        return float(stats[0] / max(1.0, float(stats[1])))

    def validated(self, lr: float) -> None:
        """Validate; count towards early stopping; save ``best/`` (if better) and ``last/``."""
        state = self.state
        valid_nll = self.validate()
        improved = valid_nll < state.best_valid
        if improved:
            state.best_valid, state.best_step, state.bad_valids = valid_nll, state.step, 0
        else:
            state.bad_valids += 1
        if self.config.early_stop and state.bad_valids >= self.config.early_stop:
            state.stopped = "early stop"
        if self.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
            self.log("valid", valid_nll, valid_nll, lr, "")
            if improved:
                self.save_best(valid_nll)
            self.save_last()
            plot_losses(self.out / "losses.csv", self.out / "loss_curve.png")
        if self.bar is not None:
            best = " (best)" if improved else ""
            self.bar.write(f"step {state.step}: valid NLL/note {valid_nll:.4f}{best}")

    def save_if_due(self, now: float) -> None:
        """``last/`` when ``save_every_s`` seconds have passed since the last save."""
        every = self.config.save_every_s
        if not self.is_main or every <= 0 or now - self.saved_at < every:
            return
        self.save_last()
        if self.bar is not None:
            self.bar.write(f"step {self.state.step}: saved {self.last_dir} (every {every:g} s)")

    def train(self, progress: bool, stop_after: int | None = None) -> None:
        """Step until the configured steps or early stopping; Ctrl-C or SIGTERM saves ``last/``.

        ``stop_after`` stops as if interrupted after that global step (for tests).
        """
        state = self.state
        if progress and self.is_main:
            from tqdm.auto import tqdm

            self.bar = tqdm(
                total=self.config.steps, initial=state.step, unit="step", dynamic_ncols=True
            )
        # a scheduler's or kill's SIGTERM stops as cleanly as Ctrl-C: save last/, then exit
        previous_sigterm = None
        if threading.current_thread() is threading.main_thread():
            previous_sigterm = signal.signal(signal.SIGTERM, _raise_interrupt)
        self.saved_at = self.segment_start = self.window_start = time.perf_counter()
        self.elapsed_before, self.tokens_window = state.elapsed_s, 0
        self.model.train()
        try:
            while state.step < self.config.steps and not state.stopped:
                epoch, skip = divmod(state.step, self.steps_per_epoch)
                for i, (codes, mask) in enumerate(self.batches_of_epoch(epoch)):
                    if i < skip:
                        continue
                    if state.step >= self.config.steps:
                        break
                    self.step(codes, mask)
                    if stop_after is not None and state.step >= stop_after:
                        raise KeyboardInterrupt
                    if state.stopped:
                        break
            if not state.stopped:
                state.stopped = "finished"
        except KeyboardInterrupt:
            state.stopped = "interrupted"
            self.save_last()
            if self.bar is not None:
                saved = f"saved {self.last_dir} (resume with --resume)"
                self.bar.write(f"interrupted at step {state.step}: {saved}")
        finally:
            if self.bar is not None:
                self.bar.close()
            if previous_sigterm is not None:
                signal.signal(signal.SIGTERM, previous_sigterm)

    def record_energy(self, meter: Any, progress: bool) -> dict[str, Any]:
        """Stop ``meter``; add its energy to the run's totals in ``last/`` and ``energy.json``."""
        if meter is None:
            return {}
        from tuplet.training.energy import save_energy

        state = self.state
        report = meter.stop()
        state.energy_kwh += report.kwh
        state.energy_kg += report.kg_co2eq
        totals = {
            "total_kwh": state.energy_kwh,
            "total_kg_co2eq": state.energy_kg,
            "total_hours": state.elapsed_s / 3600,
        }
        if state.stopped == "interrupted" or state.step > 0:
            self.save_last()  # also records the energy totals
        self.out.mkdir(parents=True, exist_ok=True)
        save_energy(report, self.out / "energy.json", **totals)
        if progress:
            print(report.summary())
        return {**report.to_dict(), **totals}


__all__ = ["Run", "TrainerState", "learning_rate"]
