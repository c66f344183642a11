"""The vanishing gradient: gated cells carry a value 100+ steps; the vanilla RNN does not."""

import pytest
import torch
from torch import nn

from basecaller.nn.long_range import (
    BASELINE_MSE,
    AddingModel,
    adding_batches,
    adding_problem,
    gradient_norm_per_step,
)
from basecaller.training import Trainer

LENGTH, MARKER_WINDOW = 120, 10  # the marked steps lie at least 120 - 2 * 10 + 1 = 101 apart
STEPS, BATCH, SEED = 320, 64, 0


def mse_loss(model, batch):
    x, y = batch
    return nn.functional.mse_loss(model(x), y)


def train(cell: str) -> AddingModel:
    """One cell trained with a fixed seed and budget."""
    torch.manual_seed(SEED)
    model = AddingModel(cell, hidden_size=32)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    batches = list(adding_batches(STEPS, BATCH, LENGTH, SEED))
    trainer = Trainer(
        model,
        mse_loss,
        optimizer,
        max_steps=STEPS,
        clip_norm=1.0,
        device="cpu",
        seed=SEED,
        progress=False,
    )
    trainer.fit(batches)
    return model.eval()


@pytest.fixture(scope="module")
def trained() -> dict[str, AddingModel]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small matrices: extra threads only spin on a shared machine
    try:
        return {cell: train(cell) for cell in ("lstm", "gru", "rnn")}
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def held_out() -> tuple[torch.Tensor, torch.Tensor]:
    return adding_problem(512, LENGTH, torch.Generator().manual_seed(SEED + 1))


def held_out_mse(model, held_out) -> float:
    x, y = held_out
    with torch.no_grad():
        return nn.functional.mse_loss(model(x), y).item()


def test_markers_lie_more_than_100_steps_apart():
    x, y = adding_problem(256, LENGTH, torch.Generator().manual_seed(0), MARKER_WINDOW)
    marked = x[..., 1].nonzero()[:, 1].reshape(256, 2)  # (N, 2) step indices
    assert (marked[:, 1] - marked[:, 0]).min() >= 101
    torch.testing.assert_close(y, (x[..., 0] * x[..., 1]).sum(1))


def test_gated_cells_learn_the_adding_problem_and_the_rnn_does_not(trained, held_out):
    mse = {cell: held_out_mse(model, held_out) for cell, model in trained.items()}
    assert mse["lstm"] < 0.2 * BASELINE_MSE, mse
    assert mse["gru"] < 0.2 * BASELINE_MSE, mse
    assert mse["rnn"] > 0.7 * BASELINE_MSE, mse


def test_gradient_from_100_steps_back_survives_only_in_gated_cells(trained, held_out):
    x, y = held_out[0][:64], held_out[1][:64]
    decay = {}
    for cell, model in trained.items():
        norms = gradient_norm_per_step(model, x, y)  # (T,)
        decay[cell] = (norms[-101] / norms[-1]).item()
    assert decay["rnn"] < 1e-3, decay
    assert decay["lstm"] > 1e-2 and decay["gru"] > 1e-2, decay
