"""Signal normalisation: pure functions from pA to unitless, roughly unit-variance current."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from basecaller.io.read import Read

__all__ = ["Normalisation", "median_mad", "median_mad_dac", "normalise", "shift_scale_for", "normalise_read"]

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


def median_mad_dac(dac: np.ndarray, offset: float, scale: float, mad_factor: float = MAD_TO_SD) -> tuple[float, float]:
    """``median_mad`` of the pA signal ``(dac + offset) * scale``, from the integer DAC values'
    histogram (exact: the median and MAD commute with that affine map), several times faster
    than sorting the float signal."""
    dac = np.asarray(dac)
    low = int(dac.min())
    counts = np.bincount(dac if low >= 0 else dac.astype(np.int64) - low)[max(low, 0):]  # counts[v]: value low + v
    twice_median = _twice_median(counts) + 2 * low
    distance = np.abs(2 * (low + np.arange(len(counts))) - twice_median)  # twice |value - median|, per value
    twice_mad = _twice_median(np.bincount(distance, weights=counts)) / 2
    shift = (twice_median / 2 + offset) * scale
    spread = twice_mad / 2 * abs(scale) * mad_factor
    return float(shift), float(spread) if spread > 0 else 1.0


def _twice_median(counts: np.ndarray) -> int:
    """Twice the median of the values 0, 1, ... occurring ``counts`` times each (numpy's median:
    the mean of the two middle values)."""
    at_most = np.cumsum(counts)  # at_most[v]: how many values are <= v
    total = int(round(at_most[-1]))
    lower = int(np.searchsorted(at_most, (total - 1) // 2, side="right"))
    upper = int(np.searchsorted(at_most, total // 2, side="right"))
    return lower + upper


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
    if np.issubdtype(np.asarray(read.signal_dac).dtype, np.integer) and len(read.signal_dac):
        return median_mad_dac(read.signal_dac, read.offset_dac, read.scale_pa_per_dac, norm.mad_factor)
    return median_mad(signal_pa, norm.mad_factor)


def normalise_read(read: Read, norm: Normalisation = Normalisation()) -> np.ndarray:
    """The read's signal in pA, normalised as ``norm`` says (float32)."""
    signal_pa = read.signal_pa
    shift, scale = shift_scale_for(read, signal_pa, norm)
    return normalise(signal_pa, shift, scale, norm.clip)
