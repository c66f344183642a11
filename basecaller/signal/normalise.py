"""Signal normalisation: pure functions from pA to unitless, roughly unit-variance current."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from basecaller.io.read import Read

__all__ = ["Normalisation", "median_mad", "normalise", "shift_scale_for", "normalise_read"]

#: MAD of a normal distribution times this factor estimates its standard deviation.
MAD_TO_SD = 1.4826


@dataclass(frozen=True)
class Normalisation:
    """How a model expects its input scaled.

    ``method``: ``"median_mad"`` (shift = median, scale = MAD x ``mad_factor``) or ``"file"``
    (the shift/scale the file carries, e.g. Tombo or taiyaki, falling back to median/MAD).
    ``clip``: normalised samples are clipped to +-clip (None: no clipping).
    """

    method: str = "median_mad"
    mad_factor: float = MAD_TO_SD
    clip: float | None = 5.0


def median_mad(signal: np.ndarray, mad_factor: float = MAD_TO_SD) -> tuple[float, float]:
    """Median and scaled median absolute deviation of a signal."""
    signal = np.asarray(signal, dtype=np.float32)
    shift = float(np.median(signal))
    scale = float(np.median(np.abs(signal - shift))) * mad_factor
    return shift, scale if scale > 0 else 1.0


def normalise(signal_pa: np.ndarray, shift: float, scale: float, clip: float | None = None) -> np.ndarray:
    """``(signal - shift) / scale`` as float32, optionally clipped to +-clip."""
    out = (np.asarray(signal_pa, dtype=np.float32) - np.float32(shift)) / np.float32(scale)
    return np.clip(out, -clip, clip, out=out) if clip is not None else out


def shift_scale_for(read: Read, signal_pa: np.ndarray, norm: Normalisation) -> tuple[float, float]:
    """The (shift, scale) in pA that ``norm`` prescribes for this read."""
    if norm.method == "file" and read.file_shift_pa is not None and read.file_scale_pa:
        return read.file_shift_pa, read.file_scale_pa
    if norm.method not in ("file", "median_mad"):
        raise ValueError(f"unknown normalisation method {norm.method!r}")
    return median_mad(signal_pa, norm.mad_factor)


def normalise_read(read: Read, norm: Normalisation = Normalisation()) -> np.ndarray:
    """The read's signal in pA, normalised as ``norm`` says (float32)."""
    signal_pa = read.signal_pa
    shift, scale = shift_scale_for(read, signal_pa, norm)
    return normalise(signal_pa, shift, scale, norm.clip)
