"""The vanishing gradient, shown on the adding problem with the three cells.

Trains an LSTM, a GRU and a vanilla RNN (same hidden size, seed, data and budget) on the adding
problem, where the two numbers to add lie 100+ steps apart, and draws:

* benchmarks/figures/adding_problem_loss.png: training MSE against steps (baseline 1/6);
* benchmarks/figures/gradient_norm_per_step.png: ||d loss / d x_t|| against the distance of
  step t from the end, for the untrained cells (log scale).

    python benchmarks/vanishing_gradient.py [--length 120 --steps 600]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

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

FIGURES = Path(__file__).parent / "figures"
CELLS = ("lstm", "gru", "rnn")
COLOURS = {"lstm": "tab:blue", "gru": "tab:green", "rnn": "tab:red"}


def mse_loss(model, batch):
    x, y = batch
    return nn.functional.mse_loss(model(x), y)


def train(cell: str, args) -> tuple[list[float], AddingModel]:
    """Per-step training losses of one cell on the adding problem, and the trained model."""
    torch.manual_seed(args.seed)
    model = AddingModel(cell, args.hidden)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    batches = list(adding_batches(args.steps, args.batch, args.length, args.seed))
    trainer = Trainer(
        model,
        mse_loss,
        optimizer,
        max_steps=args.steps,
        clip_norm=1.0,
        device="cpu",
        seed=args.seed,
        progress=False,
    )
    losses = [record["loss"] for record in trainer.fit(batches).history]
    return losses, model.eval()


def smooth(values: list[float], width: int = 20) -> list[float]:
    """Trailing mean over ``width`` steps."""
    return [
        sum(values[max(0, i - width + 1) : i + 1]) / len(values[max(0, i - width + 1) : i + 1])
        for i in range(len(values))
    ]


def gradient_norms(model: AddingModel, args, seed: int = 1000) -> torch.Tensor:
    """||d loss / d x_t|| of ``model`` on a fresh batch: (T,)."""
    x, y = adding_problem(args.batch, args.length, torch.Generator().manual_seed(seed))
    return gradient_norm_per_step(model, x, y)


def untrained(cell: str, args) -> AddingModel:
    torch.manual_seed(args.seed)
    return AddingModel(cell, args.hidden)


def plot_losses(losses: dict[str, list[float]], args, path: Path) -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.4))
    for cell, values in losses.items():
        ax.plot(smooth(values), label=cell, color=COLOURS[cell])
    ax.axhline(BASELINE_MSE, color="grey", ls="--", lw=0.8, label="predict the mean")
    ax.set_ylim(0, 2.2 * BASELINE_MSE)  # the first few steps start far above the baseline
    ax.set_xlabel("training step")
    ax.set_ylabel("MSE (20-step mean)")
    ax.set_title(
        f"Adding problem, T={args.length} (marks 100+ steps apart), seed {args.seed}", fontsize=9
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def plot_gradients(norms: dict[str, dict[str, torch.Tensor]], path: Path) -> None:
    """One panel per cell: gradient norm per step, before and after training (log scale)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(9, 3), sharey=True)
    for ax, (cell, curves) in zip(axes, norms.items()):
        for stage, values in curves.items():
            steps_back = torch.arange(len(values) - 1, -1, -1)
            style = "-" if stage == "trained" else ":"
            ax.semilogy(
                steps_back, values.clamp(min=1e-30), style, color=COLOURS[cell], label=stage
            )
        ax.set_title(cell, fontsize=9)
        ax.set_xlabel("steps before the loss")
        ax.legend(fontsize=7)
    axes[0].set_ylabel("||d loss / d x_t||")
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--length", type=int, default=120)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--lr", type=float, default=0.02)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    import matplotlib

    matplotlib.use("Agg")
    FIGURES.mkdir(exist_ok=True)
    losses, norms = {}, {}
    for cell in CELLS:
        start = time.perf_counter()
        losses[cell], model = train(cell, args)
        norms[cell] = {
            "untrained": gradient_norms(untrained(cell, args), args),
            "trained": gradient_norms(model, args),
        }
        last = sum(losses[cell][-50:]) / 50
        print(
            f"{cell}: mean MSE of the last 50 steps {last:.4f} "
            f"(baseline {BASELINE_MSE:.4f}), {time.perf_counter() - start:.0f} s"
        )
    plot_losses(losses, args, FIGURES / "adding_problem_loss.png")
    for cell, curves in norms.items():
        for stage, values in curves.items():
            print(
                f"{cell} {stage}: gradient norm 100 steps back / at the last step = "
                f"{(values[-101] / values[-1]).item():.1e}"
            )
    plot_gradients(norms, FIGURES / "gradient_norm_per_step.png")


if __name__ == "__main__":
    main()
