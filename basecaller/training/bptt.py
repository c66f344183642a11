"""Truncated backpropagation through time: windows of a long sequence, state carried across.

    windows = list(bptt_windows(tokens, window=64))           # tokens: (N, T)
    loss_fn = TruncatedBPTT(lambda model, w, state: ...)      # -> (loss, state[, metrics])
    Trainer(model, loss_fn, ...).fit(windows)

The state returned by one window starts the next, detached, so gradients stop at window edges;
it is reset at each sequence's first window.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from torch import Tensor, nn

__all__ = ["TruncatedBPTT", "Window", "bptt_windows", "detach_state"]


@dataclass
class Window:
    """One window: inputs and targets (N, W), its start step, and whether it opens the sequence."""

    inputs: Tensor
    targets: Tensor
    start: int
    first: bool


def bptt_windows(sequence: Tensor, window: int, targets: Tensor | None = None) -> Iterator[Window]:
    """Consecutive windows of ``sequence`` (N, T, ...) along time.

    With ``targets`` None the targets are the next steps (language modelling): windows then cover
    steps 0..T-2 as inputs and 1..T-1 as targets.
    """
    if targets is None:
        sequence, targets = sequence[:, :-1], sequence[:, 1:]
    if targets.shape[:2] != sequence.shape[:2]:
        raise ValueError(f"targets {tuple(targets.shape)} do not match {tuple(sequence.shape)}")
    for start in range(0, sequence.shape[1], window):
        stop = start + window
        yield Window(sequence[:, start:stop], targets[:, start:stop], start, start == 0)


def detach_state(state: Any) -> Any:
    """Detach every tensor in a (nested tuple/list of) recurrent state."""
    if isinstance(state, Tensor):
        return state.detach()
    if isinstance(state, (tuple, list)):
        return type(state)(detach_state(part) for part in state)
    return state


StepFn = Callable[[nn.Module, Window, Any], tuple]


class TruncatedBPTT:
    """A Trainer loss function that carries ``step_fn``'s recurrent state between windows.

    ``step_fn(model, window, state) -> (loss, new_state)`` or ``(loss, new_state, metrics)``;
    ``state`` is None at a sequence's first window. The carried state is checkpointed.
    """

    def __init__(self, step_fn: StepFn):
        self.step_fn = step_fn
        self.state: Any = None

    def __call__(self, model: nn.Module, window: Window):
        if window.first:
            self.state = None
        loss, new_state, *metrics = self.step_fn(model, window, self.state)
        self.state = detach_state(new_state)
        return (loss, metrics[0]) if metrics else loss

    def state_dict(self) -> dict:
        return {"state": self.state}

    def load_state_dict(self, state: dict) -> None:
        self.state = state["state"]
