"""Atomic checkpoint files (``basecaller.io.writers.atomic_path``): readers see the old file or
the new, never half."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from basecaller.io.writers import atomic_path

__all__ = ["load_checkpoint", "save_checkpoint"]


def save_checkpoint(payload: dict, path: str | os.PathLike) -> Path:
    """torch.save ``payload`` to ``path`` so that readers see the old file or the new, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as temporary, open(temporary, "wb") as stream:
        torch.save(payload, stream)
        stream.flush()
        os.fsync(stream.fileno())
    return path


def load_checkpoint(path: str | os.PathLike, map_location=None) -> dict:
    """Read a checkpoint written by ``save_checkpoint`` (it holds RNG states, so not weights_only)."""
    return torch.load(path, map_location=map_location, weights_only=False)
