"""Arguments shared by the sequence-task subcommands (lm, classify, ner, seq2seq)."""

from __future__ import annotations


def add_fit_arguments(parser, *, steps: int, batch_size: int, lr: float, validate_every: int) -> None:
    """Optimisation options; each task passes its own defaults."""
    group = parser.add_argument_group("training")
    group.add_argument("--steps", type=int, default=steps, help=f"optimiser steps (default {steps})")
    group.add_argument("--batch-size", type=int, default=batch_size, help=f"default {batch_size}")
    group.add_argument("--lr", type=float, default=lr, help=f"peak learning rate (default {lr})")
    group.add_argument("--weight-decay", type=float, default=0.0)
    group.add_argument("--warmup-steps", type=int, default=50)
    group.add_argument("--clip-norm", type=float, default=1.0)
    group.add_argument("--validate-every", type=int, default=validate_every)
    group.add_argument("--time-limit", type=float, help="stop training after this many minutes")
    group.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    group.add_argument("--fp32", action="store_true",
                       help="train in float32 (default: fp16 autocast on CUDA, bf16 on CPUs with AMX/AVX512-BF16)")
    group.add_argument("--threads", type=int, help="torch CPU threads")
    group.add_argument("--seed", type=int, default=0)
    group.add_argument("--progress", action="store_true", help="show a progress bar")


def fit_options(args):
    from basecaller.training.fit import FitOptions

    return FitOptions(
        steps=args.steps, batch_size=args.batch_size, lr=args.lr, weight_decay=args.weight_decay,
        warmup_steps=args.warmup_steps, clip_norm=args.clip_norm, validate_every=args.validate_every,
        device=args.device, amp=not args.fp32, seed=args.seed, progress=args.progress,
        time_limit_s=None if args.time_limit is None else 60 * args.time_limit,
    )


def set_threads(args) -> None:
    import torch

    if getattr(args, "threads", None):
        torch.set_num_threads(args.threads)


def add_core_arguments(parser, *, hidden_size: int, dropout: float, cell: str = "lstm") -> None:
    """Options of the recurrent core every task head sits on."""
    group = parser.add_argument_group("model")
    group.add_argument("--cell", default=cell, help=f"lstm, gru, rnn, lstm_peephole, lstm_coupled (default {cell})")
    group.add_argument("--hidden-size", type=int, default=hidden_size, help=f"default {hidden_size}")
    group.add_argument("--layers", type=int, default=1, help="recurrent layers (default 1)")
    group.add_argument("--dropout", type=float, default=dropout, help=f"default {dropout}")
