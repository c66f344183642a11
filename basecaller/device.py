"""Which device the models run on: "auto" picks cuda, then mps, then cpu; anything else is
checked against what this machine has."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from basecaller.errors import InputError

if TYPE_CHECKING:
    import torch

__all__ = ["cpu_only_machine", "select_device", "select_device_type"]


def cpu_only_machine() -> bool:
    """True when no GPU can be visible without asking torch: Linux without the NVIDIA or ROCm
    kernel driver (CUDA needs it) and not macOS (MPS). Lets a CPU run skip importing torch."""
    if not sys.platform.startswith("linux"):
        return False
    return not any(os.path.exists(p) for p in ("/proc/driver/nvidia/gpus", "/dev/nvidiactl", "/dev/kfd"))


def select_device_type(device: str = "auto") -> str:
    """"cpu", "cuda" or "mps" for a --device value; imports torch only when the answer needs it
    ("cpu", and "auto" on a machine without a GPU driver, do not)."""
    if str(device) == "cpu" or (str(device) == "auto" and cpu_only_machine()):
        return "cpu"
    return select_device(device).type


def select_device(device: str | torch.device = "auto") -> torch.device:
    """ "auto" picks cuda, then mps, then cpu; anything else is passed to torch.device."""
    import torch

    if str(device) != "auto":
        return _available(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def _available(device: str | torch.device) -> torch.device:
    """``device`` as a torch.device, or InputError (one line) when this machine cannot serve it."""
    import torch

    try:
        chosen = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise InputError(f"unknown device {str(device)!r} ({error}); use auto, cpu, cuda or mps") from None
    if chosen.type == "cuda" and not torch.cuda.is_available():
        why = "this torch is built without CUDA" if torch.version.cuda is None else "no CUDA GPU is visible"
        raise InputError(f"--device {device}: {why}; use --device cpu or auto")
    if chosen.type == "cuda" and chosen.index is not None and chosen.index >= torch.cuda.device_count():
        raise InputError(f"--device {device}: only {torch.cuda.device_count()} CUDA device(s) here")
    if chosen.type == "mps" and not torch.backends.mps.is_available():
        raise InputError(f"--device {device}: Apple MPS is not available here; use --device cpu or auto")
    return chosen
