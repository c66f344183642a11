"""Pure numpy signal processing: normalisation, trimming, windows and batches."""

from basecaller.signal.batch import Batch, batchify, unbatchify
from basecaller.signal.chunk import covered_length, stitch_windows, window_signal, window_starts
from basecaller.signal.normalise import Normalisation, median_mad, normalise, normalise_read
from basecaller.signal.trim import adapter_stall_trim, open_pore_trim

__all__ = [
    "Batch", "Normalisation", "adapter_stall_trim", "batchify", "covered_length", "median_mad", "normalise",
    "normalise_read", "open_pore_trim", "stitch_windows", "unbatchify", "window_signal", "window_starts",
]
