"""basecaller train: train or fine-tune a CTC basecaller on chunk datasets."""

from __future__ import annotations

NAME = "train"
HELP = "train or fine-tune a CTC or CRF basecaller on chunk datasets (real, simulated, or a mix)"


def add_arguments(parser) -> None:
    parser.add_argument("--chunks", nargs="+", required=True, help="chunk dataset folders to train on")
    parser.add_argument("--mix", help="comma-separated sampling weights, one per --chunks folder (e.g. 0.7,0.3)")
    parser.add_argument("--valid", help="validation chunk dataset folder")
    parser.add_argument("-o", "--output", required=True, help="model directory to write")
    parser.add_argument("--preset", default="fast", help="architecture preset: fast (CPU), lite (about 1.7x cheaper, for CPUs without AMX), prefix (about 2x cheaper than lite, for adaptive sampling) or hac (GPU)")
    parser.add_argument("--config", help="a config.toml to start from instead of a preset")
    parser.add_argument("--chemistry", default="r9.4.1", choices=["r9.4.1", "r10.4.1"])
    parser.add_argument("--sample-rate", type=int, default=4000)
    parser.add_argument("--init-from", help="fine-tune from this model (directory or shipped name)")
    parser.add_argument("--head", choices=["ctc", "crf"],
                        help="output head (default: the config's or the --init-from model's, else ctc); a "
                             "different head than --init-from's takes over only its stem and recurrent core")
    parser.add_argument("--state-len", type=int, help="CRF head: k-mer state length (default 3)")
    parser.add_argument("--hidden-size", type=int,
                        help="recurrent units per layer (and stem output channels); with --init-from a "
                             "larger size grows the model without changing what it computes")
    parser.add_argument("--num-layers", type=int,
                        help="recurrent layers; with --init-from a smaller number keeps its first layers")
    parser.add_argument("--dropout", type=float,
                        help="dropout on the outputs of every recurrent layer but the last, while training "
                             "(default: the config's or the --init-from model's, else 0)")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--warmup-steps", type=int, default=100)
    parser.add_argument("--clip-norm", type=float, default=2.0)
    parser.add_argument("--validate-every", type=int, default=250)
    parser.add_argument("--checkpoint-every", type=int, default=50)
    parser.add_argument("--no-augment", action="store_true", help="switch off signal augmentation")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    parser.add_argument("--fp32", action="store_true",
                        help="train in float32 (default: fp16 autocast on CUDA, bf16 on CPUs with AMX/AVX512-BF16)")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default 1, safe on a busy machine; "
                                                    "--workers N uses N cores)")
    parser.add_argument("--workers", type=int, default=1,
                        help="data-parallel CPU processes, one thread each, each drawing its own batch of "
                             "--batch-size (gradients averaged; e.g. one per core)")
    parser.add_argument("--ema-decay", type=float,
                        help="keep an exponential moving average of the weights (per-step decay, e.g. 0.999): "
                             "validation, best.pt, export and the written model use it (default: none)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resume", action="store_true", help="continue from OUTPUT/checkpoints/last.pt")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _config(args):
    from basecaller.models.config import ModelConfig, preset
    from basecaller.models.directory import find_model_dir

    if args.config:
        config = ModelConfig.load(args.config)
    elif args.init_from:
        config = ModelConfig.load(find_model_dir(args.init_from) / "config.toml")
    else:
        config = preset(args.preset, args.chemistry, args.sample_rate)
    if getattr(args, "hidden_size", None):
        config.encoder["hidden_size"] = args.hidden_size
        config.stem["channels"][-1] = args.hidden_size
    if getattr(args, "num_layers", None):
        config.encoder["num_layers"] = args.num_layers
    if getattr(args, "dropout", None) is not None:
        config.encoder["dropout"] = args.dropout
    return _with_head(config, getattr(args, "head", None), getattr(args, "state_len", None))


def _with_head(config, head: str | None, state_len: int | None):
    from basecaller.errors import InputError

    kind = head or config.head_type
    if kind == "ctc":
        if state_len is not None:
            raise InputError("--state-len is for the CRF head (--head crf)")
        config.head = {"type": "ctc"}
    else:
        state_len = state_len or int(config.head.get("state_len", 3))
        if not 1 <= state_len <= 6:
            raise InputError(f"--state-len must be 1..6, got {state_len}")
        config.head = {"type": "crf", "state_len": state_len}
    return config


def run(args) -> int:

    import torch

    from basecaller.data.chunks import ChunkDataset
    from basecaller.data.loader import Augment, check_chunk_lengths
    from basecaller.errors import InputError
    from basecaller.training.basecaller import train_basecaller
    from basecaller.training.fit import basecaller_fit

    # One thread unless asked: on a busy machine, OpenMP threads contending for the cores make
    # recurrent layers tens of times slower; use --workers N to train on N cores.
    torch.set_num_threads(args.threads or 1)
    from basecaller.io.writers import check_output_folder

    check_output_folder(args.output)  # before any work: one line if unwritable
    train_sets = [ChunkDataset.load(path) for path in args.chunks]
    check_chunk_lengths(train_sets, args.chunks)
    weights = [float(w) for w in args.mix.split(",")] if args.mix else None
    if weights is not None and len(weights) != len(train_sets):
        raise InputError("--mix needs one weight per --chunks folder")
    valid = ChunkDataset.load(args.valid) if args.valid else None
    options = basecaller_fit(steps=args.steps, batch_size=args.batch_size, lr=args.lr, warmup_steps=args.warmup_steps,
                           clip_norm=args.clip_norm, device=args.device, amp=not args.fp32, seed=args.seed,
                           validate_every=args.validate_every, checkpoint_every=args.checkpoint_every,
                           resume=args.resume, progress=not args.quiet, workers=args.workers,
                           ema_decay=args.ema_decay)
    provenance = {"data": [str(p) for p in args.chunks], "mix": args.mix or "by size",
                  "validation": args.valid or "none"}
    model = train_basecaller(_config(args), train_sets, args.output, weights=weights, valid_set=valid,
                             augment=None if args.no_augment else Augment(),
                             options=options, init_from=args.init_from, provenance=provenance)
    print(f"wrote {args.output}: {model.config.training}")
    return 0
