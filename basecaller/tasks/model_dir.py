"""A task model directory: ``config.toml`` (what to build, vocabularies, provenance) and
``weights.pt`` (a state dict), each written atomically (temporary file, then ``os.replace``)."""

from __future__ import annotations

import os
import tempfile
import tomllib
from pathlib import Path

import tomli_w
import torch
from torch import nn

from basecaller.errors import InputError

__all__ = ["CONFIG", "WEIGHTS", "load_built_model", "load_model_dir", "save_model_dir"]

CONFIG, WEIGHTS = "config.toml", "weights.pt"


def _atomic_write(path: Path, write) -> None:
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            write(stream)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _without_none(value):
    """TOML has no null: drop None entries (readers fall back to their defaults)."""
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_without_none(v) for v in value]
    return value


def save_model_dir(directory: str | os.PathLike, config: dict, model: nn.Module) -> Path:
    """Write ``config`` (must name its ``task``; None values are left out) and the weights."""
    if "task" not in config:
        raise ValueError("a task model config must name its 'task'")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    text = tomli_w.dumps(_without_none(config)).encode()
    _atomic_write(directory / CONFIG, lambda stream: stream.write(text))
    state = {name: value.detach().cpu() for name, value in model.state_dict().items()}
    _atomic_write(directory / WEIGHTS, lambda stream: torch.save(state, stream))
    return directory


def load_model_dir(directory: str | os.PathLike, task: str | None = None) -> tuple[dict, dict]:
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
    config, state = load_model_dir(directory, task)
    model, *extras = build(config)
    model.load_state_dict(state)
    return (model.eval(), *extras, config)
