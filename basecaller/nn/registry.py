"""Recurrent layer types by name, so architectures can be written as data (TOML).

    build_recurrent({"type": "lstm", "hidden_size": 96, "num_layers": 4,
                     "direction": "alternating"}, input_size=64)

Other modules add types with ``@register("name")``; a builder takes ``input_size`` and the
config's remaining keys as keyword arguments and returns a module with Recurrent's contract.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from torch import nn

from basecaller.nn.cells import CELLS
from basecaller.nn.recurrent import Recurrent

__all__ = ["REGISTRY", "build_recurrent", "register"]

Builder = Callable[..., nn.Module]
REGISTRY: dict[str, Builder] = {}


def register(name: str) -> Callable[[Builder], Builder]:
    """Decorator: make ``builder(input_size, **options)`` available as ``type = name``."""

    def add(builder: Builder) -> Builder:
        if name in REGISTRY:
            raise ValueError(f"recurrent type {name!r} is already registered")
        REGISTRY[name] = builder
        return builder

    return add


def build_recurrent(config: Mapping[str, Any], input_size: int) -> nn.Module:
    """Build the layer that ``config["type"]`` names, passing the other keys as options."""
    options = dict(config)
    kind = options.pop("type", None)
    if kind not in REGISTRY:
        raise ValueError(f"unknown recurrent type {kind!r}; registered: {sorted(REGISTRY)}")
    try:
        return REGISTRY[kind](input_size=input_size, **options)
    except TypeError as error:
        raise ValueError(f"bad options for recurrent type {kind!r}: {error}") from error


def _register_cell(cell: str) -> None:
    def build(input_size: int, **options) -> Recurrent:
        return Recurrent(cell, input_size=input_size, **options)

    register(cell)(build)


for _cell in CELLS:
    _register_cell(_cell)
