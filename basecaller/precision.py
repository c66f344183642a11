"""Which arithmetic the models run in: float32, or bfloat16 / float16 autocast.

CPUs with native bfloat16 units (AVX512-BF16, AMX) run oneDNN's LSTM, GRU, convolution and
matrix products several times faster in bfloat16; on CUDA, float16 autocast is the standard.
"""

from __future__ import annotations

import torch

from basecaller.errors import InputError

__all__ = ["PRECISIONS", "autocast", "autocast_dtype", "cpu_has_bf16"]

PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def cpu_has_bf16() -> bool:
    """Whether this CPU has native bfloat16 matrix units (AVX512-BF16 or AMX)."""
    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype to run in on ``device`` (None = plain float32).

    ``auto``: float16 on CUDA, bfloat16 on CPUs with native bf16 units, else float32."""
    if precision not in PRECISIONS:
        raise InputError(f"unknown precision {precision!r}; expected one of {', '.join(PRECISIONS)}")
    if precision == "auto":
        if device.type == "cuda":
            return torch.float16
        return torch.bfloat16 if device.type == "cpu" and cpu_has_bf16() else None
    return {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


def autocast(device: torch.device | str, dtype: torch.dtype | None) -> torch.autocast:
    """A context running ``device``'s ops in ``dtype`` autocast; plain float32 for None."""
    device_type = torch.device(device).type
    return torch.autocast(device_type, dtype=dtype, enabled=dtype is not None)
