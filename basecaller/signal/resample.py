"""Change a signal's sample rate by linear interpolation (e.g. 5 kHz reads for a 4 kHz model)."""

from __future__ import annotations

import numpy as np

__all__ = ["resample"]


def resample(signal: np.ndarray, from_hz: float, to_hz: float) -> np.ndarray:
    """The signal as it would look sampled at ``to_hz`` (float32)."""
    if from_hz == to_hz or len(signal) < 2:
        return np.asarray(signal, dtype=np.float32)
    new_length = max(2, int(round(len(signal) * to_hz / from_hz)))
    positions = np.linspace(0, len(signal) - 1, new_length)
    return np.interp(positions, np.arange(len(signal)), signal).astype(np.float32)
