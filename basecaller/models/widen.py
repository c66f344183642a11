"""Grow a trained model into a wider one that computes the same function (Net2Net-style).

A model with more stem channels or more recurrent units starts from a trained narrower one:
every old weight is copied into the leading slice of the new tensor, and every weight that
*reads* a new channel or unit is zero, so the new units (randomly initialised, which breaks
their symmetry) change nothing until training gives them a say. Training a larger encoder then
starts from the smaller model's accuracy instead of from scratch.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["widen_into"]


def widen_into(narrow: nn.Module, wide: nn.Module, *, skip_prefixes: tuple[str, ...] = ()) -> nn.Module:
    """Copy ``narrow``'s weights into ``wide`` (same layer names, every dimension at least as
    large) so that ``wide`` computes what ``narrow`` did; returns ``wide``. Parameters whose
    names start with one of ``skip_prefixes`` keep ``wide``'s own initialisation."""
    old = narrow.state_dict()
    new = wide.state_dict()
    missing = [k for k in new if k not in old and not k.startswith(skip_prefixes)]
    if missing:
        raise ValueError(f"cannot widen: the narrow model has no {missing[0]!r}")
    hidden = _hidden_size(wide)
    grown = {}
    for name, target in new.items():
        if name.startswith(skip_prefixes):
            continue
        source = old[name]
        if any(s > t for s, t in zip(source.shape, target.shape, strict=True)):
            raise ValueError(f"cannot widen {name}: {tuple(source.shape)} is larger than {tuple(target.shape)}")
        grown[name] = _grow(name, source, target.clone(), hidden)
    wide.load_state_dict(grown, strict=False)
    return wide


def _hidden_size(model: nn.Module) -> int | None:
    return getattr(getattr(model, "encoder", None), "hidden_size", None)


def _grow(name: str, source: Tensor, target: Tensor, hidden: int | None) -> Tensor:
    """``target`` with ``source`` in its leading slice; inputs that are new to an old output are zero."""
    if source.dim() == 3 and source.shape[2] != target.shape[2]:
        raise ValueError(f"cannot widen {name}: kernel {source.shape[2]} differs from {target.shape[2]}")
    gates = _gate_count(name, target, hidden)
    if gates > 1:  # recurrent weights: (gates * H, inputs), gate blocks side by side along dim 0
        old_rows = source.shape[0] // gates
        source = source.reshape(gates, old_rows, *source.shape[1:])
        target = target.reshape(gates, hidden, *target.shape[1:])
        _copy_leading(source, target, first_input_dim=2)
        return target.reshape(gates * hidden, *target.shape[2:])
    _copy_leading(source, target, first_input_dim=1)
    return target


def _gate_count(name: str, target: Tensor, hidden: int | None) -> int:
    if not name.startswith("encoder.") or not hidden or target.shape[0] % hidden:
        return 1
    return target.shape[0] // hidden


def _copy_leading(source: Tensor, target: Tensor, first_input_dim: int) -> None:
    """target[:n0, :n1, ...] = source; the old outputs' new inputs (dims >= first_input_dim) = 0."""
    outputs = tuple(slice(0, n) for n in source.shape[:first_input_dim])
    with torch.no_grad():
        if target.dim() > first_input_dim:
            target[outputs] = 0.0  # the old rows read nothing from new channels or units
        target[tuple(slice(0, n) for n in source.shape)] = source
