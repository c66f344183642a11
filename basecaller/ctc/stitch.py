"""Join the per-window model outputs of one read into one output over the whole read.

A read of ``n`` samples is cut into windows of ``window_samples`` starting at the given sample
offsets (any layout: fixed step, last window aligned to the read end, one zero-padded window
for short reads). Model step ``j`` of a window starting at sample ``s`` is read step
``ceil(s / stride) + j``; read step ``k`` covers samples ``[k * stride, (k + 1) * stride)`` and
the read has ``ceil(n / stride)`` steps, or fewer if the last window ends earlier (a cutter that
rounds the last start down to a multiple of the stride drops the tail). Neighbouring windows are cut at the midpoint of their
overlap, so each step comes from the window where it is furthest from an edge.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from basecaller.ctc.decode import Decoded, QscoreCalibration, beam_decode, greedy_decode

__all__ = ["decode_read", "stitch_log_probs", "window_cuts"]


def window_cuts(
    window_starts_samples: Sequence[int], read_num_samples: int, window_samples: int, stride: int
) -> list[tuple[int, int, int]]:
    """For each window, ``(first_read_step, last_read_step_exclusive, window_offset_steps)``."""
    starts = [int(s) for s in window_starts_samples]
    if not starts or any(b <= a for a, b in zip(starts, starts[1:])):
        raise ValueError("window starts must be non-empty and strictly increasing")
    steps_in_window = window_samples // stride
    offsets = [-(-s // stride) for s in starts]
    # a cutter may drop a tail shorter than a stride (last start rounded down to the stride)
    num_steps = min(-(-read_num_samples // stride), offsets[-1] + steps_in_window)
    # cut between windows i and i+1 at the midpoint of their overlap, in read steps
    mids = [(b + a + window_samples) // 2 // stride for a, b in zip(starts, starts[1:])]
    edges = [0, *mids, num_steps]
    cuts = []
    for i, offset in enumerate(offsets):
        lo = min(max(edges[i], offset), offset + steps_in_window)
        hi = min(max(edges[i + 1], lo), offset + steps_in_window, num_steps)
        cuts.append((lo, hi, offset))
    if sum(hi - lo for lo, hi, _ in cuts) != num_steps:
        raise ValueError("windows do not cover the read: overlap too small for the stride")
    return cuts


def stitch_log_probs(
    window_log_probs: Sequence[np.ndarray] | np.ndarray,
    window_starts_samples: Sequence[int],
    read_num_samples: int,
    window_samples: int,
    overlap_samples: int,
    stride: int,
) -> np.ndarray:
    """Stitch ``(W, T', C)`` window outputs of one read into ``(T_read, C)``.

    The cut points follow from the starts themselves, so ``overlap_samples`` (the cutter's
    setting) is only checked to be non-negative and shorter than a window.
    """
    if len(window_log_probs) != len(window_starts_samples):
        raise ValueError("need one start offset per window")
    if not 0 <= overlap_samples < window_samples:
        raise ValueError("overlap_samples must be in [0, window_samples)")
    cuts = window_cuts(window_starts_samples, read_num_samples, window_samples, stride)
    parts = [
        np.asarray(window)[lo - offset : hi - offset]
        for window, (lo, hi, offset) in zip(window_log_probs, cuts)
    ]
    return np.concatenate(parts, axis=0)


def decode_read(
    window_log_probs: Sequence[np.ndarray] | np.ndarray,
    window_starts_samples: Sequence[int],
    read_num_samples: int,
    window_samples: int,
    overlap_samples: int,
    stride: int,
    beam_size: int = 0,
    calibration: QscoreCalibration = QscoreCalibration(),
) -> Decoded:
    """Stitch the windows of one read, then decode it once (greedy, or beam if beam_size > 0)."""
    log_probs = stitch_log_probs(
        window_log_probs,
        window_starts_samples,
        read_num_samples,
        window_samples,
        overlap_samples,
        stride,
    )
    if beam_size > 0:
        return beam_decode(log_probs, beam_size=beam_size, calibration=calibration)
    return greedy_decode(log_probs, calibration=calibration)
