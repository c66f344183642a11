"""basecaller lm: character-level language model (train, evaluate, sample)."""

from __future__ import annotations

from basecaller.cli._task_args import (
    add_core_arguments,
    add_fit_arguments,
    fit_options,
    set_threads,
)

NAME = "lm"
HELP = "character-level language model on the recurrent core: train, evaluate, sample"


def add_arguments(parser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    train = actions.add_parser("train", help="train on a text file (first 90%%), validate on the rest")
    train.add_argument("--data", required=True, help="text file, e.g. tinyshakespeare/input.txt")
    train.add_argument("-o", "--output", required=True, help="model directory to write")
    # defaults: the best loss per CPU minute we measured (GRU 256: 1.549 nats/char, 1100 steps)
    add_core_arguments(train, hidden_size=256, dropout=0.0, cell="gru")
    train.add_argument("--embedding-dim", type=int, default=64)
    train.add_argument("--window", type=int, default=100, help="truncated-BPTT window (chars)")
    train.add_argument("--val-chars", type=int, default=20_000,
                       help="validation text scored during training (default 20000; the final score uses all)")
    add_fit_arguments(train, steps=1100, batch_size=32, lr=4e-3, validate_every=110)

    evaluate = actions.add_parser("evaluate", help="validation loss in nats/char")
    evaluate.add_argument("model", help="model directory")
    evaluate.add_argument("--data", required=True, help="the text file the model was trained on")
    evaluate.add_argument("--threads", type=int, help="torch CPU threads")

    sample = actions.add_parser("sample", help="generate text from a prompt")
    sample.add_argument("model", help="model directory")
    sample.add_argument("--prompt", default="\n")
    sample.add_argument("--length", type=int, default=500, help="characters to generate")
    sample.add_argument("--temperature", type=float, default=1.0, help="0 is greedy")
    sample.add_argument("--top-k", type=int, help="sample among the k most likely characters")
    sample.add_argument("--seed", type=int, default=0)
    sample.add_argument("--threads", type=int, help="torch CPU threads")


def _train(args) -> int:
    from basecaller.tasks.charlm import CharLMOptions, train_charlm
    from basecaller.tasks.text_data import read_text

    options = CharLMOptions(cell=args.cell, hidden_size=args.hidden_size, num_layers=args.layers,
                            embedding_dim=args.embedding_dim, dropout=args.dropout, window=args.window,
                            val_chars=args.val_chars)
    _, _, record = train_charlm(read_text(args.data), args.output, options, fit_options(args),
                                provenance={"data": args.data, "split": "first 90% / last 10%"})
    print(f"wrote {args.output}: val loss {record['val_loss_nats']:.4f} nats/char "
          f"({record['val_bpc']:.3f} bpc) after {record['steps']} steps, {record['train_seconds']} s")
    return 0


def _evaluate(args) -> int:
    import torch

    from basecaller.errors import InputError
    from basecaller.tasks.charlm import evaluate_nats, load_charlm
    from basecaller.tasks.text_data import read_text, split_fraction

    model, vocab, config = load_charlm(args.model)
    text = read_text(args.data)
    if set(text) - set(vocab.tokens):
        raise InputError("the text has characters the model's vocabulary lacks", path=args.data)
    _, val = split_fraction(torch.tensor(vocab.encode(text)))
    nats = evaluate_nats(model, val, config["model"].get("val_streams", 16))
    print(f"val loss {nats:.4f} nats/char over {val.numel()} chars")
    return 0


def _sample(args) -> int:
    import torch

    from basecaller.errors import InputError
    from basecaller.tasks.charlm import load_charlm, sample

    model, vocab, _ = load_charlm(args.model)
    prompt = args.prompt.encode().decode("unicode_escape") if "\\" in args.prompt else args.prompt
    generator = torch.Generator().manual_seed(args.seed)
    try:
        text = sample(model, vocab, prompt, args.length, args.temperature, args.top_k, generator)
    except ValueError as error:
        raise InputError(str(error)) from error
    print(text)
    return 0


def run(args) -> int:
    set_threads(args)
    return {"train": _train, "evaluate": _evaluate, "sample": _sample}[args.action](args)
