"""Cut signals into overlapping windows and stitch per-window results back exactly.

Windows start every ``window - overlap`` samples; the last one is aligned to the end of the
read (rounded down to a multiple of ``stride`` so that downsampled outputs line up). A read
shorter than one window becomes one zero-padded window. Stitching keeps, of each window, the
part between the midpoints of its overlaps with its neighbours.
"""

from __future__ import annotations

import numpy as np

__all__ = ["window_starts", "window_signal", "stitch_windows", "covered_length"]


def _check(window: int, overlap: int, stride: int) -> None:
    if not 0 <= overlap < window:
        raise ValueError(f"overlap ({overlap}) must be in [0, window={window})")
    if window % stride or overlap % stride:
        raise ValueError(f"window ({window}) and overlap ({overlap}) must be multiples of stride ({stride})")


def window_starts(num_samples: int, window: int, overlap: int, stride: int = 1) -> np.ndarray:
    """Start sample of each window over a read of ``num_samples`` samples."""
    _check(window, overlap, stride)
    if num_samples <= window:
        return np.zeros(1, dtype=np.int64)
    last = (num_samples - window) // stride * stride
    starts = np.arange(0, last, window - overlap, dtype=np.int64)
    return np.append(starts, last)


def covered_length(num_samples: int, window: int, overlap: int, stride: int = 1) -> int:
    """Samples of the read the windows cover (the tail past the last stride is dropped)."""
    if num_samples <= window:
        return num_samples
    return int(window_starts(num_samples, window, overlap, stride)[-1]) + window


def window_signal(signal: np.ndarray, window: int, overlap: int, stride: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Cut ``signal`` (T,) into windows (W, window) float32, with their start offsets (W,)."""
    starts = window_starts(len(signal), window, overlap, stride)
    signal = np.asarray(signal, dtype=np.float32)
    if len(signal) < window:
        padded = np.zeros(window, dtype=np.float32)
        padded[: len(signal)] = signal
        return padded[None, :], starts
    index = starts[:, None] + np.arange(window)[None, :]  # (W, window)
    return signal[index], starts


def _cut_points(starts: np.ndarray, window: int, stride: int) -> np.ndarray:
    """Sample positions where one window's contribution hands over to the next."""
    ends = starts + window
    middles = (starts[1:] + ends[:-1]) // 2 // stride * stride  # overlap midpoints
    return np.concatenate([[starts[0]], middles, [ends[-1]]])


def stitch_windows(
    outputs: np.ndarray, starts: np.ndarray, num_samples: int, window: int, stride: int = 1
) -> np.ndarray:
    """Join per-window outputs (W, window // stride, ...) into one (L, ...) array for the read.

    ``L = ceil(covered / stride)``; for a padded short read only its real part is kept.
    """
    starts = np.asarray(starts, dtype=np.int64)
    cuts = _cut_points(starts, window, stride)
    pieces = [outputs[i, (cuts[i] - s) // stride : (cuts[i + 1] - s) // stride] for i, s in enumerate(starts)]
    joined = np.concatenate(pieces, axis=0)
    if num_samples < window:
        joined = joined[: -(-num_samples // stride)]
    return joined
