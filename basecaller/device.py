"""Which device the models run on: "auto" picks cuda, then mps, then cpu; anything else is
checked against what this machine has."""

from __future__ import annotations

import torch

from basecaller.errors import InputError

__all__ = ["select_device"]


def select_device(device: str | torch.device = "auto") -> torch.device:
    """ "auto" picks cuda, then mps, then cpu; anything else is passed to torch.device."""
    if str(device) != "auto":
        return _available(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def _available(device: str | torch.device) -> torch.device:
    """``device`` as a torch.device, or InputError (one line) when this machine cannot serve it."""
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
