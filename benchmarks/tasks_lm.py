"""Benchmark: character LM on Tiny Shakespeare (nanoGPT's 90/10 split), a fixed wall-clock budget.

    python benchmarks/tasks_lm.py --cell gru --hidden-size 256 --steps 1100 --threads 1
    python benchmarks/tasks_lm.py --cell lstm --minutes 10 --threads 1   # a wall-clock budget
    python benchmarks/tasks_lm.py --compare --steps 300      # RNN vs GRU vs LSTM, equal budgets

The step count comes from timing a few steps first, so the cosine schedule fits the budget;
a wall-clock limit stops training in any case. Prints the validation loss in nats/char.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import torch

from basecaller.precision import autocast, autocast_dtype
from basecaller.tasks.charlm import CharLM, CharLMOptions, lm_windows, train_charlm
from basecaller.training.fit import FitOptions

SHARED = Path(os.environ.get("BASECALLER_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def seconds_per_step(options: CharLMOptions, vocab_size: int, batch_size: int, steps: int = 8) -> float:
    """Time forward + backward + Adam on random windows (after one warm-up step), in the
    arithmetic training uses (bfloat16 autocast on CPUs with native bf16 units)."""
    amp = autocast_dtype("auto", torch.device("cpu"))
    model = CharLM(vocab_size, options)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    ids = torch.randint(0, vocab_size, (batch_size * (options.window + 1) * (steps + 2),))
    windows = lm_windows(ids, batch_size, options.window)(0)
    started = None
    for i, window in enumerate(windows[: steps + 1]):
        if i == 1:
            started = time.monotonic()
        with autocast("cpu", amp):
            logits, _ = model(window.inputs)
            loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), window.targets.flatten())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return (time.monotonic() - started) / steps


def run(text: str, options: CharLMOptions, minutes: float, batch_size: int, lr: float, output: str,
        steps: int | None = None) -> dict:
    step_s = seconds_per_step(options, len(set(text)), batch_size)
    budget_s = None if steps else 60 * minutes
    # about 8% of the budget goes to validation on 20k characters every ~10% of the steps
    steps = steps or max(20, int(0.92 * budget_s / step_s))
    fit = FitOptions(steps=steps, batch_size=batch_size, lr=lr, warmup_steps=min(100, steps // 10),
                     clip_norm=1.0, validate_every=max(10, steps // 10), time_limit_s=budget_s)
    started = time.monotonic()
    _, _, record = train_charlm(text, output, options, fit, provenance={"data": "tinyshakespeare"})
    record["wall_seconds"] = round(time.monotonic() - started, 1)
    record["seconds_per_step_measured"] = round(step_s, 3)
    record["cell"], record["hidden_size"] = options.cell, options.hidden_size
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cell", default="gru")
    parser.add_argument("--hidden-size", type=int, default=256)
    parser.add_argument("--layers", type=int, default=1)
    parser.add_argument("--dropout", type=float, default=0.0)
    parser.add_argument("--window", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=4e-3)
    parser.add_argument("--minutes", type=float, default=10.0, help="training budget per model")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, help="a fixed step budget instead of --minutes")
    parser.add_argument("--compare", action="store_true", help="rnn, gru and lstm with the same budget")
    parser.add_argument("--output", help="model directory (default: temporary)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    text = (SHARED / "text" / "tinyshakespeare" / "input.txt").read_text()
    cells = ["rnn", "gru", "lstm"] if args.compare else [args.cell]
    for cell in cells:
        options = CharLMOptions(cell=cell, hidden_size=args.hidden_size, num_layers=args.layers,
                                dropout=args.dropout, window=args.window, val_chars=20_000)
        output = args.output if args.output and not args.compare else tempfile.mkdtemp(prefix=f"lm_{cell}_")
        record = run(text, options, args.minutes, args.batch_size, args.lr, output, args.steps)
        record["hardware"] = f"{platform.machine()} CPU, {args.threads} thread(s)"
        record["output"] = output
        print(json.dumps(record), flush=True)


if __name__ == "__main__":
    main()
