"""Decode one read from its per-window model outputs.

The windows are joined by ``basecaller.signal.chunk.stitch_windows`` (cut at the midpoints of
their overlaps), then the whole read is decoded once, so no base is called twice.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from basecaller.ctc.decode import Decoded, QscoreCalibration, beam_decode, greedy_decode
from basecaller.signal.chunk import stitch_windows

__all__ = ["decode_read"]


def decode_read(
    window_log_probs: Sequence[np.ndarray] | np.ndarray,
    window_starts_samples: Sequence[int],
    read_num_samples: int,
    window_samples: int,
    stride: int,
    beam_size: int = 0,
    calibration: QscoreCalibration = QscoreCalibration(),
) -> Decoded:
    """Stitch the windows (W, window // stride, 5) of one read, then decode it once
    (greedy, or beam search when ``beam_size > 0``)."""
    log_probs = stitch_windows(np.asarray(window_log_probs), np.asarray(window_starts_samples),
                               read_num_samples, window_samples, stride)
    if beam_size > 0:
        return beam_decode(log_probs, beam_size=beam_size, calibration=calibration)
    return greedy_decode(log_probs, calibration=calibration)
