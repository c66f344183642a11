"""Own cells against the fused torch path, forward and forward+backward, on CPU.

Both paths run the same parameters on the same batch in one process, interleaved, so the
ratio own/fused is measured under the same load. Writes a Markdown table to stdout and a bar
chart to benchmarks/figures/recurrent_speed.png.

    python benchmarks/bench_recurrent.py [--batch 16 --length 200 --hidden 64 --repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from basecaller.nn import Recurrent

FIGURE = Path(__file__).parent / "figures" / "recurrent_speed.png"


def time_call(function, repeats: int) -> float:
    """Median seconds of ``function()`` over ``repeats`` runs, after one warm-up."""
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def forward_only(model, x, lengths):
    def run():
        with torch.no_grad():
            model(x, lengths)

    return run


def forward_backward(model, x, lengths):
    def run():
        out, _ = model(x, lengths)
        out.sum().backward()

    return run


def measure(cell: str, direction: str, args) -> dict:
    """Seconds per call for both paths, both passes, of one configuration."""
    torch.manual_seed(0)
    model = Recurrent(cell, args.hidden, args.hidden, num_layers=args.layers, direction=direction)
    x = torch.randn(args.batch, args.length, args.hidden)
    lengths = torch.randint(args.length // 2, args.length + 1, (args.batch,))
    lengths[0] = args.length
    result = {}
    for pass_name, make in (("forward", forward_only), ("forward+backward", forward_backward)):
        for fused in (False, True):
            model.fused = fused
            key = (pass_name, "fused" if fused else "own")
            result[key] = time_call(make(model, x, lengths), args.repeats)
    return result


def markdown_table(rows: list[tuple[str, dict]]) -> str:
    lines = [
        "| layer | forward own (ms) | forward fused (ms) | ratio | fwd+bwd own (ms) "
        "| fwd+bwd fused (ms) | ratio |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in rows:
        cells = [name]
        for pass_name in ("forward", "forward+backward"):
            own, fused = r[(pass_name, "own")], r[(pass_name, "fused")]
            cells += [f"{own * 1e3:.1f}", f"{fused * 1e3:.1f}", f"{own / fused:.1f}x"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(rows: list[tuple[str, dict]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [name for name, _ in rows]
    ratios = {
        p: [r[(p, "own")] / r[(p, "fused")] for _, r in rows]
        for p in ("forward", "forward+backward")
    }
    fig, ax = plt.subplots(figsize=(6, 3.2))
    width = 0.38
    for offset, (pass_name, values) in zip((-width / 2, width / 2), ratios.items()):
        ax.bar([i + offset for i in range(len(names))], values, width, label=pass_name)
    ax.axhline(1.0, color="grey", lw=0.8)
    ax.set_xticks(range(len(names)), names)
    ax.set_ylabel("own time / fused time")
    ax.set_title(title, fontsize=9)
    ax.set_ylim(0, 1.25 * max(max(v) for v in ratios.values()))
    ax.legend(fontsize=8, loc="upper center", ncol=2)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--length", type=int, default=200)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--layers", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    configs = [
        ("lstm", "forward"),
        ("gru", "forward"),
        ("rnn", "forward"),
        ("lstm", "bidirectional"),
    ]
    rows = [(f"{cell} {direction}", measure(cell, direction, args)) for cell, direction in configs]
    title = (
        f"CPU, {args.threads} thread(s), N={args.batch}, T={args.length} (ragged), "
        f"C=H={args.hidden}, torch {torch.__version__}"
    )
    print(title)
    print(markdown_table(rows))
    plot(rows, FIGURE, title)
    print(f"figure: {FIGURE}")


if __name__ == "__main__":
    main()
