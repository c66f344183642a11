"""Batches of training chunks: seeded sampling from one or several datasets with a chosen
mix ratio, and signal augmentation (scale/shift jitter, noise, time compression)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from basecaller.data.chunks import ChunkDataset
from basecaller.errors import InputError

__all__ = ["Augment", "ChunkBatches", "augment_chunk", "check_chunk_lengths"]


@dataclass(frozen=True)
class Augment:
    """Per-chunk random transforms; zeros switch each one off.

    scale: multiply by U(1 - scale, 1 + scale); shift: add N(0, shift); noise: add white
    noise of sd U(0, noise); compress: with probability ``compress_p`` resample to
    U(1 - compress, 1) of the length (faster translocation), zero-padding the end.
    """

    scale: float = 0.1
    shift: float = 0.1
    noise: float = 0.05
    compress: float = 0.1
    compress_p: float = 0.2


def augment_chunk(signal: np.ndarray, rng: np.random.Generator, augment: Augment) -> np.ndarray:
    """One augmented copy of a normalised chunk (T,) float32; the labels stay valid."""
    out = signal.astype(np.float32, copy=True)
    if augment.compress and rng.random() < augment.compress_p:
        factor = rng.uniform(1 - augment.compress, 1)
        length = len(out)
        new_length = max(2, int(length * factor))
        squeezed = np.interp(np.linspace(0, length - 1, new_length), np.arange(length), out)
        out = np.zeros(length, dtype=np.float32)
        out[:new_length] = squeezed
    if augment.scale:
        out *= rng.uniform(1 - augment.scale, 1 + augment.scale)
    if augment.shift:
        out += rng.normal(0, augment.shift)
    if augment.noise:
        out += rng.normal(0, rng.uniform(0, augment.noise), size=len(out)).astype(np.float32)
    return out


def check_chunk_lengths(datasets: Sequence[ChunkDataset], names: Sequence[str] | None = None) -> None:
    """An InputError, naming each dataset's chunk length, unless all datasets share one."""
    lengths = [d.chunks.shape[1] for d in datasets]
    if len(set(lengths)) > 1:
        names = names or [f"dataset {i}" for i in range(len(datasets))]
        shown = ", ".join(f"{name}: {length}" for name, length in zip(names, lengths))
        raise InputError(f"the training datasets have different chunk lengths ({shown}); "
                         "cut them with the same `basecaller chunks --chunk-len`")


class ChunkBatches:
    """``batches(epoch)`` -> iterator of dicts {signal (B, T) float32, targets (B, M) int64,
    target_lengths (B,) int64}, drawn with replacement from the datasets in the ratio of
    ``weights``; the same (seed, epoch) always gives the same batches (resume replays them)."""

    def __init__(self, datasets: Sequence[ChunkDataset], weights: Sequence[float] | None = None, *,
                 batch_size: int = 32, batches_per_epoch: int | None = None, seed: int = 0,
                 augment: Augment | None = Augment()):
        if not datasets or any(len(d) == 0 for d in datasets):
            raise InputError("every training dataset needs at least one chunk")
        check_chunk_lengths(datasets)
        self.datasets = list(datasets)
        weights = np.asarray(weights if weights is not None else [len(d) for d in datasets], dtype=float)
        self.weights = weights / weights.sum()
        self.batch_size, self.seed, self.augment = batch_size, seed, augment
        total = sum(len(d) for d in datasets)
        self.batches_per_epoch = batches_per_epoch or max(1, total // batch_size)
        self.label_width = max(d.references.shape[1] for d in datasets)

    def __call__(self, epoch: int) -> Iterator[dict]:
        rng = np.random.default_rng([self.seed, epoch])
        for _ in range(self.batches_per_epoch):
            yield self._batch(rng)

    def _batch(self, rng: np.random.Generator) -> dict:
        sources = rng.choice(len(self.datasets), size=self.batch_size, p=self.weights)
        signals, targets, lengths = [], np.zeros((self.batch_size, self.label_width), np.int64), []
        for row, source in enumerate(sources):
            dataset = self.datasets[source]
            index = int(rng.integers(len(dataset)))
            chunk = np.asarray(dataset.chunks[index], dtype=np.float32)
            signals.append(augment_chunk(chunk, rng, self.augment) if self.augment else chunk)
            labels = dataset.labels(index)
            targets[row, : len(labels)] = labels
            lengths.append(len(labels))
        return {"signal": torch.from_numpy(np.stack(signals)), "targets": torch.from_numpy(targets),
                "target_lengths": torch.tensor(lengths, dtype=torch.int64)}
