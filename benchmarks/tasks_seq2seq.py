"""Benchmark: encoder-decoder on generated tasks with exact answers (codon translation, reversal).

    python benchmarks/tasks_seq2seq.py --task translate --minutes 6 --threads 1

Prints test exact match for greedy and beam decoding, steps, wall time and threads.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time

import torch

from basecaller.tasks.seq2seq import (
    Seq2SeqOptions,
    beam_decode,
    greedy_decode,
    make_splits,
    train_seq2seq,
)
from basecaller.training.fit import FitOptions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="translate", choices=["translate", "reverse"])
    parser.add_argument("--cell", default="lstm")
    parser.add_argument("--hidden-size", type=int, default=96)
    parser.add_argument("--no-attention", action="store_true")
    parser.add_argument("--max-len", type=int, default=30)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--minutes", type=float, default=6.0, help="wall-clock limit on training")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--output", help="model directory (default: temporary)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    train, dev, test = make_splits(args.task, (20000, 300, 1000), 5, args.max_len, seed=0)
    options = Seq2SeqOptions(cell=args.cell, hidden_size=args.hidden_size, attention=not args.no_attention)
    fit = FitOptions(steps=args.steps, batch_size=64, lr=3e-3, warmup_steps=50,
                     validate_every=max(10, args.steps // 6), time_limit_s=60 * args.minutes)
    output = args.output or tempfile.mkdtemp(prefix=f"s2s_{args.task}_")
    started = time.monotonic()
    model, vocabs, record = train_seq2seq(train, dev, test, output, options, fit,
                                          {"data_task": args.task, "data_max_len": args.max_len})
    record.update(wall_seconds=round(time.monotonic() - started, 1), output=output,
                  hardware=f"{platform.machine()} CPU, {args.threads} thread(s)")
    source = "ATGGCTAGCAAAGGAGAAGAACTTTTCACTGGAGTTGTCCCAATTCTTGTTGAATTAGATGGTGATGTTAATGGGCACAAATTTTCTGTC"
    if args.task == "translate":
        record["example"] = {"source": source, "greedy": greedy_decode(model, vocabs, [source])[0],
                             "beam4": beam_decode(model, vocabs, source, 4)}
    print(json.dumps(record))


if __name__ == "__main__":
    main()
