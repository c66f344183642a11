"""Find where the open-pore/adapter stretch at the start of a read ends."""

from __future__ import annotations

import numpy as np

#: within-window spread (pA) under which a window counts as stalled even when the whole prefix is:
#: adapter stalls measure 1-2.5 pA in the R9.4(.1) reads in ../shared, moving strands 5-25 pA
STALL_SPREAD_PA = 2.5

__all__ = ["adapter_stall_trim", "open_pore_trim"]


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


def adapter_stall_trim(
    signal: np.ndarray,
    *,
    window: int = 40,
    flat_ratio: float = 0.3,
    max_start_windows: int = 3,
    min_flat_windows: int = 3,
    max_samples: int = 8000,
    flat_spread: float | None = None,
) -> int:
    """Samples to drop from a read's start up to the end of its adapter stall, or 0 if none.

    Before the strand enters the pore, the motor protein holds the adapter still: the current
    sits flat (within-window spread about 1–2 pA, against 10–20 pA where bases move through). A
    run of flat windows that begins within the first ``max_start_windows`` windows (after the
    open-pore spike) and lasts at least ``min_flat_windows`` windows is that stall; the trim ends
    where the run ends. "Flat" is relative to the read: a window spread under ``flat_ratio`` times
    the 90th percentile of the prefix's window spreads, so any scale (pA, DAC counts, normalised)
    works. Long dwells inside the strand do not count: only a run from the start is trimmed.
    Only the first ``max_samples`` are looked at (as ``open_pore_trim`` does), so a long prefix
    costs no more than a 2 s one; a stall longer than that is cut at ``max_samples``.
    ``flat_spread`` (in the signal's units, e.g. 2.5 pA) also counts any window under that spread
    as flat, so that a prefix stalled from end to end is recognised (it has no strand to compare).
    """
    n = min(len(signal), max_samples) // window
    if n < min_flat_windows + 1:
        return 0
    windows = np.asarray(signal[: n * window], dtype=np.float32).reshape(n, window)
    variance = windows.var(axis=1)
    high = int(0.9 * (n - 1))  # the 90th percentile, without np.percentile's cost (a tenth of the time)
    threshold = flat_ratio**2 * np.partition(variance, high)[high]
    flat = variance < max(threshold, flat_spread**2 if flat_spread else 0.0)
    start = next((k for k in range(min(max_start_windows, n)) if flat[k]), None)
    if start is None:
        return 0
    rest = np.flatnonzero(~flat[start:])
    end = start + (int(rest[0]) if len(rest) else n - start)
    return end * window if end - start >= min_flat_windows else 0
