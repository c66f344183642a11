"""One task-agnostic training loop: CTC basecalling, language models, classifiers, taggers.

The task supplies ``loss_fn(model, batch) -> loss`` (or ``(loss, metrics)``) and its batches;
the loop does optimisation, clipping, AMP, checkpoints with exact resume, validation, early
stopping, a progress bar and a per-step metrics log (``metrics.jsonl`` in the checkpoint dir).

Exact resume: a checkpoint holds the model, optimiser, scheduler, grad scaler, every RNG, the
step, the data position (epoch, batches consumed) and, with ``ema_decay``, the weights'
exponential moving average. Resuming re-opens the epoch's batches and
skips those already consumed, so batches must come in the same order on every pass: a list, or a
callable ``epoch -> iterable`` whose order depends only on the epoch (e.g. seeded by it).
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from basecaller.device import select_device
from basecaller.precision import autocast, autocast_dtype
from basecaller.training import parallel
from basecaller.training.checkpoint import load_checkpoint, save_checkpoint
from basecaller.training.early_stopping import EarlyStopping
from basecaller.training.metrics_log import MetricsLog
from basecaller.training.seeding import get_rng_state, seed_everything, set_rng_state

__all__ = ["BatchStream", "Stateful", "TrainResult", "Trainer", "inference_weights", "move_to_device"]

LossFn = Callable[[nn.Module, Any], "Tensor | tuple[Tensor, dict]"]
Batches = Iterable | Callable[[int], Iterable]
LAST, BEST, LOG = "last.pt", "best.pt", "metrics.jsonl"
RAW_PREFIX = "raw_"  # validation metrics of the current (not averaged) weights, with ema_decay


def inference_weights(checkpoint: dict) -> dict:
    """The weights a checkpoint's model should call with: the moving average when the run kept
    one (``ema_decay``), else the trained weights."""
    average = checkpoint.get("ema")
    if not average:
        return checkpoint["model"]
    prefix = "module."
    return {key[len(prefix):]: value for key, value in average.items() if key.startswith(prefix)}


@runtime_checkable
class Stateful(Protocol):
    """Anything whose state a checkpoint must keep (e.g. a TruncatedBPTT loss function)."""

    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict) -> None: ...


def move_to_device(batch: Any, device: torch.device) -> Any:
    """Move the tensors in a batch (tensor, tuple, list, dict or dataclass) to ``device``."""
    if isinstance(batch, Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, (tuple, list)):
        return type(batch)(move_to_device(part, device) for part in batch)
    if isinstance(batch, dict):
        return {key: move_to_device(value, device) for key, value in batch.items()}
    if dataclasses.is_dataclass(batch) and not isinstance(batch, type):
        changes = {
            f.name: move_to_device(getattr(batch, f.name), device)
            for f in dataclasses.fields(batch)
        }
        return dataclasses.replace(batch, **changes)
    return batch


class BatchStream:
    """Endless batches over epochs, remembering its position (epoch, batches consumed)."""

    def __init__(self, batches, epoch: int = 0, consumed: int = 0):
        self._batches = batches
        self.epoch, self.consumed = epoch, 0
        self._iterator = self._open(epoch)
        for _ in range(consumed):  # eager, so RNG states can be restored after skipping
            next(self)

    def _open(self, epoch: int):
        return iter(self._batches(epoch) if callable(self._batches) else self._batches)

    def __iter__(self):
        return self

    def __next__(self):
        try:
            batch = next(self._iterator)
        except StopIteration:
            if self.consumed == 0:
                raise  # an empty epoch: the data are exhausted
            self.epoch, self.consumed = self.epoch + 1, 0
            self._iterator = self._open(self.epoch)
            batch = next(self._iterator)
        self.consumed += 1
        return batch

    @property
    def position(self) -> dict:
        return {"epoch": self.epoch, "consumed": self.consumed}


@dataclass
class TrainResult:
    """What ``fit`` returns: final step, per-step records, best validation and why it ended."""

    step: int
    history: list[dict] = field(default_factory=list)
    best: float | None = None
    best_step: int | None = None
    stopped_early: bool = False


class Trainer:
    """Fit ``model`` by ``loss_fn`` on batches for ``max_steps`` optimiser steps.

    Args:
        model: any nn.Module; moved to ``device``.
        loss_fn: ``(model, batch) -> loss`` or ``(loss, metrics dict)``; batches are on device.
        optimizer: built on ``model``'s parameters.
        max_steps: total optimiser steps (a resumed run counts the steps already done).
        scheduler: an LR scheduler stepped after every optimiser step (e.g. OneCycleLR,
            ``warmup_cosine``).
        clip_norm: clip the gradients' global L2 norm to this; None for no clipping.
        device: "auto" (cuda > mps > cpu), "cuda", "mps", "cpu".
        amp: mixed precision: float16 autocast with grad scaling on CUDA, bfloat16 autocast on
            CPUs with native bf16 units (weights, optimiser and loss stay float32).
        seed: seeds python, numpy and torch when a run starts afresh.
        checkpoint_dir: where ``last.pt``, ``best.pt`` and ``metrics.jsonl`` go; None for none.
        checkpoint_every: steps between ``last.pt`` writes (also written at the end).
        resume: continue from ``checkpoint_dir/last.pt`` if it exists.
        validate: ``model -> metrics dict``, called in eval mode without gradients.
        validate_every: steps between validations (default: at the end only).
        early_stopping: stop when its metric stops improving; ``best.pt`` keeps the best model.
        progress: show a tqdm progress bar.
        ema_decay: keep an exponential moving average of the weights (decay per step, e.g.
            0.999); validation and early stopping then score the average (the current weights'
            metrics are logged with a ``raw_`` prefix), and the model ends with the averaged
            weights. None: no average.

    Inside ``parallel.run_workers`` the loop trains data-parallel: gradients are averaged over
    the workers every step, and only worker 0 validates, logs and writes checkpoints.
    """

    def __init__(
        self,
        model: nn.Module,
        loss_fn: LossFn,
        optimizer: torch.optim.Optimizer,
        *,
        max_steps: int,
        scheduler=None,
        clip_norm: float | None = None,
        device: str | torch.device = "auto",
        amp: bool = True,
        seed: int = 0,
        checkpoint_dir: str | os.PathLike | None = None,
        checkpoint_every: int = 100,
        resume: bool = False,
        validate: Callable[[nn.Module], dict] | None = None,
        validate_every: int | None = None,
        early_stopping: EarlyStopping | None = None,
        progress: bool = True,
        ema_decay: float | None = None,
    ):
        self.device = select_device(device)
        self.model = model.to(self.device)
        self.loss_fn, self.optimizer, self.scheduler = loss_fn, optimizer, scheduler
        self.max_steps, self.clip_norm, self.seed = max_steps, clip_norm, seed
        self.amp_dtype = autocast_dtype("auto", self.device) if amp else None
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype is torch.float16)
        self.checkpoint_dir = None if checkpoint_dir is None else Path(checkpoint_dir)
        self.checkpoint_every, self.resume = checkpoint_every, resume
        self.validate, self.validate_every = validate, validate_every
        self.main = parallel.is_main()
        self.early_stopping, self.progress = early_stopping, progress and self.main
        self.ema = _moving_average(self.model, ema_decay) if ema_decay and self.main else None
        self.step = 0
        self.log = MetricsLog(None if self.checkpoint_dir is None or not self.main else self.checkpoint_dir / LOG)

    # --- the loop -------------------------------------------------------------------------

    def fit(self, batches: Batches) -> TrainResult:
        """Train until ``max_steps``, the data run out, or early stopping; returns the result."""
        stream = self._start(batches)
        stopped_early = False
        with tqdm(total=self.max_steps, initial=self.step, disable=not self.progress) as bar:
            while self.step < self.max_steps:
                try:
                    batch = next(stream)
                except StopIteration:
                    break
                record = self._train_step(batch)
                bar.update(1)
                bar.set_postfix(loss=f"{record['loss']:.4g}")
                stopped_early = self._after_step(stream)
                if stopped_early:
                    break
        if self.main and self.validate is not None and not self._validated_at(self.step):
            stopped_early = self._validate() or stopped_early
        self._save(LAST, stream)
        if self.ema is not None:
            self.model.load_state_dict(self.ema.module.state_dict())
        return self._result(stopped_early)

    def _start(self, batches: Batches) -> BatchStream:
        checkpoint = self._resume_checkpoint()
        if checkpoint is None:
            seed_everything(self.seed + parallel.rank())
            parallel.broadcast_parameters(self.model)
            if self.checkpoint_dir is not None and self.main:
                self.log.truncate_after(-1)
            return BatchStream(batches)
        self._load_state(checkpoint)
        if self.main:
            self.log.truncate_after(self.step)
        stream = BatchStream(batches, **checkpoint["position"])
        set_rng_state(checkpoint["rng"])  # after skipping, which may draw random numbers
        if not self.main:  # worker 0's random state: draw other dropout and augmentation
            seed_everything(self.seed + 1000 * parallel.rank() + self.step)
        return stream

    def _train_step(self, batch) -> dict:
        self.model.train()
        batch = move_to_device(batch, self.device)
        with autocast(self.device, self.amp_dtype):
            loss, metrics = _split_loss(self.loss_fn(self.model, batch))
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        parallel.average_gradients(self.model.parameters())
        grad_norm = self._clip_gradients()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        lr = self.optimizer.param_groups[0]["lr"]
        if self.scheduler is not None:
            self.scheduler.step()
        if self.ema is not None:
            self.ema.update_parameters(self.model)
        self.step += 1
        record = {
            "step": self.step,
            "kind": "train",
            "loss": loss.item(),
            "lr": lr,
            "grad_norm": grad_norm,
            **_floats(metrics),
        }
        self.log.write(record)
        return record

    def _clip_gradients(self) -> float:
        """Unscale, clip to ``clip_norm`` (if set) and return the norm before clipping."""
        self.scaler.unscale_(self.optimizer)
        params = [p for group in self.optimizer.param_groups for p in group["params"]]
        max_norm = math.inf if self.clip_norm is None else self.clip_norm
        return float(torch.nn.utils.clip_grad_norm_(params, max_norm))

    def _after_step(self, stream: BatchStream) -> bool:
        """Validate and checkpoint on schedule; returns True to stop early."""
        stop = False
        if (
            self.validate is not None
            and self.validate_every
            and self.step % self.validate_every == 0
        ):
            stop = parallel.agree(self._validate() if self.main else False)
        if stop or self.step % self.checkpoint_every == 0:
            self._save(LAST, stream)
        return stop

    def _validate(self) -> bool:
        metrics = self._scores(self.model)
        if self.ema is not None:
            raw = {RAW_PREFIX + name: value for name, value in metrics.items()}
            metrics = {**self._scores(self.ema.module), **raw}
        self.log.write({"step": self.step, "kind": "validation", **metrics})
        if self.early_stopping is None:
            return False
        if self.early_stopping.update(metrics, self.step):
            self._save(BEST, None)
        return self.early_stopping.should_stop

    def _scores(self, model: nn.Module) -> dict:
        model.eval()
        with torch.no_grad():
            return _floats(self.validate(model))

    def _validated_at(self, step: int) -> bool:
        records = self.log.records
        return bool(records) and records[-1]["kind"] == "validation" and records[-1]["step"] == step

    # --- checkpoints ----------------------------------------------------------------------

    def _resume_checkpoint(self) -> dict | None:
        if not self.resume or self.checkpoint_dir is None:
            return None
        path = self.checkpoint_dir / LAST
        return load_checkpoint(path, map_location=self.device) if path.exists() else None

    def _save(self, name: str, stream: BatchStream | None) -> None:
        if self.checkpoint_dir is None or not self.main:
            return
        payload = {
            "step": self.step,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": None if self.scheduler is None else self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "early_stopping": None
            if self.early_stopping is None
            else self.early_stopping.state_dict(),
            "loss_fn": self.loss_fn.state_dict() if isinstance(self.loss_fn, Stateful) else None,
            "position": None if stream is None else stream.position,
            "rng": get_rng_state(),
            "ema": None if self.ema is None else self.ema.state_dict(),
        }
        save_checkpoint(payload, self.checkpoint_dir / name)

    def _load_state(self, checkpoint: dict) -> None:
        self.step = checkpoint["step"]
        self.model.load_state_dict(checkpoint["model"])
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        if self.scheduler is not None:
            self.scheduler.load_state_dict(checkpoint["scheduler"])
        self.scaler.load_state_dict(checkpoint["scaler"])
        if self.early_stopping is not None and checkpoint["early_stopping"] is not None:
            self.early_stopping.load_state_dict(checkpoint["early_stopping"])
        if isinstance(self.loss_fn, Stateful) and checkpoint["loss_fn"] is not None:
            self.loss_fn.load_state_dict(checkpoint["loss_fn"])
        if self.ema is not None and checkpoint.get("ema"):
            self.ema.load_state_dict(checkpoint["ema"])

    def _result(self, stopped_early: bool) -> TrainResult:
        stopper = self.early_stopping
        return TrainResult(
            step=self.step,
            history=list(self.log.records),
            best=None if stopper is None else stopper.best,
            best_step=None if stopper is None else stopper.best_step,
            stopped_early=stopped_early,
        )


def _moving_average(model: nn.Module, decay: float):
    """torch's AveragedModel with an exponential moving average (it starts as a copy)."""
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    if not 0.0 < decay < 1.0:
        raise ValueError(f"ema_decay must be in (0, 1), got {decay}")
    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)


def _split_loss(output) -> tuple[Tensor, dict]:
    if isinstance(output, tuple):
        loss, metrics = output
        return loss, metrics
    return output, {}


def _floats(metrics: dict) -> dict:
    return {name: float(value) for name, value in metrics.items()}
