"""The one way models train: AdamW, warm-up + cosine, the core ``Trainer``, best model kept.

The basecaller (``training.basecaller``) and the sequence tasks pass their loss function,
batches and a validation function; this module only wires the core's pieces together and adds a
wall-clock limit for benchmarks. ``FitOptions`` is the one options class for all of them.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch import nn

from basecaller.training.checkpoint import load_checkpoint
from basecaller.training.early_stopping import EarlyStopping
from basecaller.training.schedule import warmup_cosine
from basecaller.training.trainer import Trainer, TrainResult, inference_weights

__all__ = ["BASECALLER_FIT", "FitOptions", "basecaller_fit", "fit", "pad_sequences", "shuffled_batches", "time_limited"]


@dataclass
class FitOptions:
    """Optimisation settings shared by every model (each task chooses its own defaults; the
    basecaller's are ``BASECALLER_FIT``)."""

    steps: int = 1000
    batch_size: int = 32
    lr: float = 2e-3
    weight_decay: float = 0.0
    warmup_steps: int = 50
    clip_norm: float | None = 1.0
    validate_every: int = 100
    patience: int = 1_000_000  # validations without improvement before stopping
    device: str = "auto"
    amp: bool = True  # fp16 autocast on CUDA, bf16 on CPUs with native bf16 units
    seed: int = 0
    checkpoint_every: int | None = None  # steps between last.pt writes; None: only at the end
    resume: bool = False  # continue from checkpoint_dir/last.pt
    time_limit_s: float | None = None  # stop taking batches after this long
    progress: bool = False
    workers: int = 1  # > 1: data-parallel CPU processes, one thread and one batch of batch_size each (basecaller)
    ema_decay: float | None = None  # keep, validate and end with a moving average of the weights


BASECALLER_FIT = FitOptions(steps=2000, weight_decay=0.01, warmup_steps=100, clip_norm=2.0, validate_every=250,
                            checkpoint_every=50, progress=True)


def basecaller_fit(**changes) -> FitOptions:
    """The basecaller's default options (``BASECALLER_FIT``) with ``changes``."""
    return replace(BASECALLER_FIT, **changes)


def pad_sequences(sequences: Sequence[Sequence[int]], pad: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Id lists -> (ids (N, T_max) long, padded with ``pad``; lengths (N,) long)."""
    lengths = torch.tensor([len(s) for s in sequences], dtype=torch.long)
    ids = torch.full((len(sequences), int(lengths.max())), pad, dtype=torch.long)
    for row, sequence in enumerate(sequences):
        ids[row, : len(sequence)] = torch.as_tensor(sequence, dtype=torch.long)
    return ids, lengths


def shuffled_batches(
    items: Sequence, batch_size: int, collate: Callable[[list], object], seed: int
) -> Callable[[int], list]:
    """``epoch -> batches``: items shuffled by (seed, epoch), cut into batches, collated."""

    def epoch_batches(epoch: int) -> list:
        order = list(range(len(items)))
        random.Random(seed * 100_003 + epoch).shuffle(order)
        chunks = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
        return [collate([items[i] for i in chunk]) for chunk in chunks]

    return epoch_batches


def time_limited(batches, limit_s: float | None):
    """Wrap ``epoch -> batches`` (or a list) so that no batch is handed out after ``limit_s``."""
    if limit_s is None:
        return batches
    deadline = time.monotonic() + limit_s

    def epoch_batches(epoch: int):
        source = batches(epoch) if callable(batches) else batches
        for batch in source:
            if time.monotonic() > deadline:
                return
            yield batch

    return epoch_batches


def fit(
    model: nn.Module,
    loss_fn,
    batches,
    options: FitOptions,
    *,
    validate: Callable[[nn.Module], dict] | None = None,
    metric: str | None = None,
    mode: str = "min",
    checkpoint_dir: str | os.PathLike | None = None,
    restore_best: bool = True,
) -> TrainResult:
    """Train ``model`` (in place) with the core Trainer; with ``metric`` set (and
    ``restore_best``), the best weights are reloaded at the end."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=options.lr, weight_decay=options.weight_decay)
    scheduler = warmup_cosine(optimizer, options.steps, options.warmup_steps, final_ratio=0.05)
    stopper = None if metric is None else EarlyStopping(metric, mode, patience=options.patience)
    trainer = Trainer(
        model,
        loss_fn,
        optimizer,
        max_steps=options.steps,
        scheduler=scheduler,
        clip_norm=options.clip_norm,
        device=options.device,
        amp=options.amp,
        seed=options.seed,
        checkpoint_dir=checkpoint_dir,
        checkpoint_every=options.checkpoint_every or max(options.steps, 1),
        resume=options.resume,
        validate=validate,
        validate_every=options.validate_every,
        early_stopping=stopper,
        progress=options.progress,
        ema_decay=options.ema_decay,
    )
    result = trainer.fit(time_limited(batches, options.time_limit_s))
    best = None if checkpoint_dir is None else Path(checkpoint_dir) / "best.pt"
    if restore_best and stopper is not None and best is not None and best.exists():
        model.load_state_dict(inference_weights(load_checkpoint(best, map_location=trainer.device)))
    return result
