"""basecaller: read nanopore raw signal, train and run CTC basecallers, and model sequences
with one recurrent core.

The public API is imported lazily, so ``import basecaller`` stays light::

    import basecaller
    for read in basecaller.open_reads("data_samples/lambda_r941/reads.pod5"):
        ...
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_LAZY = {
    "Read": "basecaller.io.read",
    "open_reads": "basecaller.io.open",
    "normalise": "basecaller.signal.normalise",
    "median_mad": "basecaller.signal.normalise",
    "window_signal": "basecaller.signal.chunk",
    "stitch_windows": "basecaller.signal.chunk",
    "ChunkDataset": "basecaller.data.chunks",
    "InputError": "basecaller.errors",
    "SkipLog": "basecaller.errors",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'basecaller' has no attribute {name!r}")
