"""A task model directory: ``config.toml`` (what to build, vocabularies, provenance) and
``weights.pt`` (a state dict), each written atomically (``basecaller.io.writers.atomic_path``).

The basecaller's own model directories are ``basecaller.models.directory``."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import tomli_w
import torch
from torch import nn

from basecaller.errors import InputError
from basecaller.io.writers import atomic_path

__all__ = ["CONFIG", "WEIGHTS", "load_built_model", "load_task_model", "save_task_model"]

CONFIG, WEIGHTS = "config.toml", "weights.pt"


def _without_none(value):
    """TOML has no null: drop None entries (readers fall back to their defaults)."""
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_without_none(v) for v in value]
    return value


def save_task_model(directory: str | os.PathLike, config: dict, model: nn.Module) -> Path:
    """Write ``config`` (must name its ``task``; None values are left out) and the weights."""
    if "task" not in config:
        raise ValueError("a task model config must name its 'task'")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    text = tomli_w.dumps(_without_none(config)).encode()
    with atomic_path(directory / CONFIG) as temporary:
        temporary.write_bytes(text)
    state = {name: value.detach().cpu() for name, value in model.state_dict().items()}
    with atomic_path(directory / WEIGHTS) as temporary:
        torch.save(state, temporary)
    return directory


def load_task_model(directory: str | os.PathLike, task: str | None = None) -> tuple[dict, dict]:
    """Read a model directory -> (config, state dict); ``task`` checks what it holds."""
    directory = Path(directory)
    if not (directory / CONFIG).is_file() or not (directory / WEIGHTS).is_file():
        raise InputError(f"not a model directory (needs {CONFIG} and {WEIGHTS})", path=str(directory))
    try:
        config = tomllib.loads((directory / CONFIG).read_text())
    except tomllib.TOMLDecodeError as error:
        raise InputError(f"bad {CONFIG}: {error}", path=str(directory)) from error
    if task is not None and config.get("task") != task:
        raise InputError(f"holds a {config.get('task')!r} model, not {task!r}", path=str(directory))
    state = torch.load(directory / WEIGHTS, map_location="cpu", weights_only=True)
    return config, state


def load_built_model(directory: str | os.PathLike, task: str, build) -> tuple:
    """Rebuild a task model from its directory: ``build(config) -> (model, *extras)``, weights
    loaded; returns (model in eval mode, *extras, config)."""
    config, state = load_task_model(directory, task)
    model, *extras = build(config)
    model.load_state_dict(state)
    return (model.eval(), *extras, config)
