"""Which arithmetic the models run in: float32, or bfloat16 / float16 autocast.

CPUs with native bfloat16 units (AVX512-BF16, AMX) run oneDNN's LSTM, GRU, convolution and
matrix products several times faster in bfloat16; on CUDA, float16 autocast is the standard.
"""

from __future__ import annotations

import functools
import sys
from typing import TYPE_CHECKING

from basecaller.errors import InputError

if TYPE_CHECKING:
    import torch

__all__ = ["PRECISIONS", "autocast", "autocast_dtype", "cpu_has_amx", "cpu_has_bf16", "resolve_precision"]

PRECISIONS = ("auto", "fp32", "bf16", "fp16")


@functools.cache
def cpu_has_bf16() -> bool:
    """Whether this CPU has native bfloat16 matrix units (AVX512-BF16 or AMX): read from
    /proc/cpuinfo on Linux (no torch import), else asked of torch."""
    flags = _linux_cpu_flags()
    if flags is not None:
        return bool({"avx512_bf16", "amx_bf16"} & flags)
    import torch

    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


@functools.cache
def cpu_has_amx() -> bool:
    """Whether this CPU has AMX tile units (Xeon Sapphire Rapids and later), where the fast
    models run at 2-2.6x their speed on CPUs with AVX512-BF16 alone."""
    flags = _linux_cpu_flags()
    if flags is not None:
        return bool({"amx_bf16", "amx_tile"} & flags)
    import torch

    return bool(torch.cpu._is_amx_tile_supported())


def _linux_cpu_flags() -> set[str] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        return None
    return None


def resolve_precision(precision: str, device_type: str) -> str | None:
    """The arithmetic to run in on a device type ("cpu", "cuda", "mps"): "bf16", "fp16" or None
    (float32). ``auto``: float16 on CUDA, bfloat16 on CPUs with native bf16 units, else float32."""
    if precision not in PRECISIONS:
        raise InputError(f"unknown precision {precision!r}; expected one of {', '.join(PRECISIONS)}")
    if precision == "auto":
        if device_type == "cuda":
            return "fp16"
        return "bf16" if device_type == "cpu" and cpu_has_bf16() else None
    return None if precision == "fp32" else precision


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype to run in on ``device`` (None = plain float32).
    ``auto``: float16 on CUDA, bfloat16 on CPUs with native bf16 units, else float32."""
    import torch

    name = resolve_precision(precision, torch.device(device).type)
    return None if name is None else {"bf16": torch.bfloat16, "fp16": torch.float16}[name]


def autocast(device: torch.device | str, dtype: torch.dtype | None) -> torch.autocast:
    """A context running ``device``'s ops in ``dtype`` autocast; plain float32 for None."""
    import torch

    device_type = torch.device(device).type
    return torch.autocast(device_type, dtype=dtype, enabled=dtype is not None)
