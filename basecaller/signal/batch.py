"""Pack windows from many reads into fixed-size batches, and unpack the results per read."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np

__all__ = ["Batch", "batchify", "unbatchify"]


@dataclass
class Batch:
    """``windows`` (batch_size, ...) float32; ``owners[i]`` = (read key, window index, windows
    in that read) for each real row; rows past ``len(owners)`` are zero padding."""

    windows: np.ndarray
    owners: list[tuple[Hashable, int, int]]

    @property
    def num_real(self) -> int:
        return len(self.owners)


def batchify(reads: Iterable[tuple[Hashable, np.ndarray]], batch_size: int) -> Iterator[Batch]:
    """Yield full batches of windows drawn from consecutive reads; the last one zero-padded.

    ``reads`` yields (key, windows (W, ...)). A read's windows may span several batches.
    """
    rows: list[np.ndarray] = []
    owners: list[tuple[Hashable, int, int]] = []
    for key, windows in reads:
        for index, row in enumerate(windows):
            rows.append(row)
            owners.append((key, index, len(windows)))
            if len(rows) == batch_size:
                yield Batch(np.stack(rows), owners)
                rows, owners = [], []
    if rows:
        padding = [np.zeros_like(rows[0])] * (batch_size - len(rows))
        yield Batch(np.stack(rows + padding), owners)


def unbatchify(results: Iterable[tuple[Batch, np.ndarray]]) -> Iterator[tuple[Hashable, np.ndarray]]:
    """From (batch, outputs (batch_size, ...)) pairs, yield (key, outputs (W, ...)) per read,
    in input order, as soon as all of a read's windows have arrived."""
    pending: dict[Hashable, list[np.ndarray]] = {}
    for batch, outputs in results:
        for row, (key, _index, total) in enumerate(batch.owners):
            parts = pending.setdefault(key, [])
            parts.append(outputs[row])
            if len(parts) == total:
                yield key, np.stack(pending.pop(key))
