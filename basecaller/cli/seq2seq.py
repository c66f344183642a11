"""basecaller seq2seq: encoder-decoder demonstration (DNA codons -> protein, or reversal)."""

from __future__ import annotations

from basecaller.cli._task_args import (
    add_core_arguments,
    add_fit_arguments,
    fit_options,
    set_threads,
)

NAME = "seq2seq"
HELP = "encoder-decoder on the recurrent core (translate codons, reverse): train, evaluate, decode"


def add_arguments(parser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    train = actions.add_parser("train", help="train on generated pairs; score greedy and beam decoding")
    train.add_argument("--task", default="translate", choices=["translate", "reverse"])
    train.add_argument("-o", "--output", required=True, help="model directory to write")
    train.add_argument("--train-size", type=int, default=20000)
    train.add_argument("--test-size", type=int, default=1000)
    train.add_argument("--min-len", type=int, default=5, help="codons (translate) or bases (reverse)")
    train.add_argument("--max-len", type=int, default=30)
    add_core_arguments(train, hidden_size=128, dropout=0.1)
    train.add_argument("--embedding-dim", type=int, default=64)
    train.add_argument("--no-attention", action="store_true")
    train.add_argument("--beam-size", type=int, default=4)
    add_fit_arguments(train, steps=3000, batch_size=64, lr=3e-3, validate_every=250)

    evaluate = actions.add_parser("evaluate", help="exact match on the model's generated test set")
    evaluate.add_argument("model", help="model directory")
    evaluate.add_argument("--beam-size", type=int, default=0, help="0 for greedy")
    evaluate.add_argument("--threads", type=int, help="torch CPU threads")

    decode = actions.add_parser("decode", help="decode sources given as arguments")
    decode.add_argument("model", help="model directory")
    decode.add_argument("sources", nargs="+")
    decode.add_argument("--beam-size", type=int, default=0, help="0 for greedy")
    decode.add_argument("--threads", type=int, help="torch CPU threads")


def _train(args) -> int:
    from basecaller.errors import InputError
    from basecaller.tasks.seq2seq import Seq2SeqOptions, make_splits, train_seq2seq

    if not 1 <= args.min_len <= args.max_len:
        raise InputError(f"need 1 <= --min-len <= --max-len, got {args.min_len} and {args.max_len}")
    sizes = (args.train_size, 500, args.test_size)
    train, dev, test = make_splits(args.task, sizes, args.min_len, args.max_len, args.seed)
    options = Seq2SeqOptions(cell=args.cell, hidden_size=args.hidden_size, num_layers=args.layers,
                             embedding_dim=args.embedding_dim, attention=not args.no_attention,
                             dropout=args.dropout)
    provenance = {"data_task": args.task, "data_sizes": list(sizes), "data_min_len": args.min_len,
                  "data_max_len": args.max_len, "data_seed": args.seed}
    _, _, record = train_seq2seq(train, dev, test, args.output, options, fit_options(args),
                                 provenance, beam_size=args.beam_size)
    print(f"wrote {args.output}: test exact match greedy {100 * record['test_exact_greedy']:.2f}%, "
          f"beam {args.beam_size} {100 * record[f'test_exact_beam{args.beam_size}']:.2f}% "
          f"in {record['train_seconds']} s")
    return 0


def _evaluate(args) -> int:
    from basecaller.tasks.seq2seq import evaluate_seq2seq, load_seq2seq, make_splits

    model, vocabs, config = load_seq2seq(args.model)
    t = config["training"]
    _, _, test = make_splits(t["data_task"], t["data_sizes"], t["data_min_len"], t["data_max_len"],
                             t["data_seed"])
    scores = evaluate_seq2seq(model, vocabs, test, args.beam_size)
    how = f"beam {args.beam_size}" if args.beam_size else "greedy"
    print(f"{t['data_task']} test ({how}): exact match {100 * scores['exact_match']:.2f}%, "
          f"token accuracy {100 * scores['token_accuracy']:.2f}% of {scores['count']}")
    return 0


def _decode(args) -> int:
    from basecaller.errors import InputError
    from basecaller.tasks.seq2seq import beam_decode, greedy_decode, load_seq2seq

    model, vocabs, _ = load_seq2seq(args.model)
    sources = [s.upper() for s in args.sources]
    for source in sources:
        if set(source) - set(vocabs.source.tokens):
            raise InputError(f"{source!r} has symbols outside {''.join(vocabs.source.tokens[1:])}")
    if args.beam_size:
        outputs = [beam_decode(model, vocabs, s, args.beam_size) for s in sources]
    else:
        outputs = greedy_decode(model, vocabs, sources)
    for source, output in zip(sources, outputs):
        print(f"{source}\t{output}")
    return 0


def run(args) -> int:
    set_threads(args)
    return {"train": _train, "evaluate": _evaluate, "decode": _decode}[args.action](args)
