"""Find where the open-pore/adapter stretch at the start of a read ends."""

from __future__ import annotations

import numpy as np

__all__ = ["open_pore_trim"]


def open_pore_trim(
    signal_norm: np.ndarray,
    *,
    window: int = 40,
    threshold: float = 2.4,
    min_high_samples: int = 3,
    min_trim: int = 10,
    max_samples: int = 8000,
    max_fraction: float = 0.3,
) -> int:
    """Number of samples to drop from the start of a normalised read.

    The open pore passes much more current than DNA, so the read's start shows a stretch of
    windows with several samples above ``threshold``. Trim up to the end of the first such
    stretch, but never more than ``max_fraction`` of the read; ``min_trim`` otherwise.
    """
    n = min(max_samples, len(signal_norm)) - min_trim
    num_windows = n // window
    if num_windows < 1:
        return min_trim
    windows = np.asarray(signal_norm[min_trim : min_trim + num_windows * window]).reshape(num_windows, window)
    high = (windows > threshold).sum(axis=1) > min_high_samples
    if not high.any():
        return min_trim
    first = int(np.argmax(high))
    low_after = np.flatnonzero(~high[first:])
    if len(low_after) == 0:
        return min_trim
    trim = min_trim + (first + int(low_after[0])) * window
    return trim if trim <= max_fraction * len(signal_norm) else min_trim
