"""Synthetic long-range tasks that show the vanishing gradient (the adding problem).

Adding problem (Hochreiter & Schmidhuber 1997): each step carries a value in [0, 1) and a marker;
two steps are marked, one among the first ``marker_window`` steps and one among the last, and the
target is the sum of their values. Predicting the mean (1.0) scores MSE 1/6; solving it means
carrying a value across ``length - 2 * marker_window`` steps or more.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor, nn

from basecaller.nn.recurrent import Recurrent

__all__ = [
    "BASELINE_MSE",
    "AddingModel",
    "adding_batches",
    "adding_problem",
    "gradient_norm_per_step",
]

BASELINE_MSE = 1 / 6  # variance of the sum of two U(0, 1) values


def adding_problem(
    batch_size: int, length: int, generator: torch.Generator, marker_window: int = 10
) -> tuple[Tensor, Tensor]:
    """One batch: x (N, T, 2) = (value, marker), y (N,) = sum of the two marked values."""
    values = torch.rand(batch_size, length, generator=generator)
    first = torch.randint(0, marker_window, (batch_size,), generator=generator)
    second = torch.randint(length - marker_window, length, (batch_size,), generator=generator)
    markers = torch.zeros(batch_size, length)
    rows = torch.arange(batch_size)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    x = torch.stack([values, markers], dim=-1)  # (N, T, 2)
    return x, (values * markers).sum(dim=1)


def adding_batches(
    num_batches: int, batch_size: int, length: int, seed: int
) -> Iterator[tuple[Tensor, Tensor]]:
    """``num_batches`` adding-problem batches drawn from their own seeded generator."""
    generator = torch.Generator().manual_seed(seed)
    for _ in range(num_batches):
        yield adding_problem(batch_size, length, generator)


class AddingModel(nn.Module):
    """Recurrent core + linear read-out of the last step: x (N, T, 2) -> (N,)."""

    def __init__(self, cell: str, hidden_size: int = 32, **options):
        super().__init__()
        self.core = Recurrent(cell, 2, hidden_size, **options)
        self.head = nn.Linear(self.core.output_size, 1)

    def forward(self, x: Tensor) -> Tensor:
        out, _ = self.core(x)  # (N, T, H)
        return self.head(out[:, -1]).squeeze(-1)


def gradient_norm_per_step(model: AddingModel, x: Tensor, y: Tensor) -> Tensor:
    """||d loss / d x_t|| for each step t, averaged over the batch: (T,).

    How much the loss at the last step can still learn from input t steps back.
    """
    x = x.clone().requires_grad_()
    loss = nn.functional.mse_loss(model(x), y)
    (grad,) = torch.autograd.grad(loss, x)
    return grad.norm(dim=-1).mean(dim=0)  # (N, T, 2) -> (T,)
