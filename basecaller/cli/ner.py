"""basecaller ner: named-entity tagging with BIO tags (CoNLL-2003, WNUT-17)."""

from __future__ import annotations

from basecaller.cli._task_args import (
    add_core_arguments,
    add_fit_arguments,
    fit_options,
    set_threads,
)
from basecaller.errors import InputError

NAME = "ner"
HELP = "named-entity tagger on the recurrent core (conll2003, wnut17): train, evaluate, tag"


def add_arguments(parser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    train = actions.add_parser("train", help="train, select on dev F1, score dev and test")
    train.add_argument("--task", required=True, choices=["conll2003", "wnut17"])
    train.add_argument("--data", required=True, help="the text data folder (holds conll2003/, wnut17/)")
    train.add_argument("-o", "--output", required=True, help="model directory to write")
    add_core_arguments(train, hidden_size=128, dropout=0.5)
    train.add_argument("--word-dim", type=int, default=100)
    train.add_argument("--char-features", default="rnn", choices=["rnn", "cnn", "none"])
    train.add_argument("--char-hidden", type=int, default=25)
    train.add_argument("--word-dropout", type=float, default=0.05, help="training: words -> <unk>")
    train.add_argument("--context", type=int, default=0, metavar="TOKENS",
                       help="tag runs of consecutive sentences of a document together, up to TOKENS words")
    train.add_argument("--train-on-dev", action="store_true",
                       help="train on train + dev for all steps and keep the last weights (dev no longer held out)")
    train.add_argument("--no-crf", dest="crf", action="store_false",
                       help="per-word softmax instead of the linear-chain CRF")
    add_fit_arguments(train, steps=3000, batch_size=32, lr=2e-3, validate_every=500)

    evaluate = actions.add_parser("evaluate", help="entity-level precision, recall, F1 (seqeval)")
    evaluate.add_argument("model", nargs="+",
                          help="model directory; several: an ensemble (tag scores and CRF transitions averaged)")
    evaluate.add_argument("--data", required=True, help="the text data folder")
    evaluate.add_argument("--split", default="test", choices=["train", "dev", "test"])
    evaluate.add_argument("--threads", type=int, help="torch CPU threads")

    tag = actions.add_parser("tag", help="tag sentences given as arguments (space-separated tokens)")
    tag.add_argument("model", help="model directory")
    tag.add_argument("sentences", nargs="+")
    tag.add_argument("--ensemble", nargs="+", default=[], metavar="MODEL",
                     help="more model directories to tag together with MODEL")
    tag.add_argument("--threads", type=int, help="torch CPU threads")


def _train(args) -> int:
    from basecaller.tasks.tagger import TaggerOptions, load_tagging, train_tagger

    options = TaggerOptions(cell=args.cell, hidden_size=args.hidden_size, num_layers=args.layers,
                            word_dim=args.word_dim, char_features=args.char_features,
                            char_hidden=args.char_hidden, dropout=args.dropout,
                            word_dropout=args.word_dropout, crf=args.crf,
                            context_tokens=args.context)
    data = load_tagging(args.task, args.data)
    _, _, record = train_tagger(data, args.output, options, fit_options(args), train_on_dev=args.train_on_dev)
    print(f"wrote {args.output}: dev F1 {record['dev_f1']:.2f}, test F1 {record['test_f1']:.2f} "
          f"(P {record['test_precision']:.2f}, R {record['test_recall']:.2f}) in {record['train_seconds']} s")
    return 0


def _evaluate(args) -> int:
    from basecaller.tasks.tagger import evaluate_taggers, load_tagger, load_tagging

    loaded = [load_tagger(directory) for directory in args.model]
    datasets = {config["dataset"] for *_, config in loaded}
    if len(datasets) > 1:
        raise InputError(f"the models were trained on different sets: {sorted(datasets)}", path=args.model[-1])
    dataset = datasets.pop()
    data = load_tagging(dataset, args.data)
    try:
        scores = evaluate_taggers([(model, encoders) for model, encoders, _ in loaded],
                                  getattr(data, args.split), data.documents.get(args.split))
    except ValueError as error:
        raise InputError(str(error), path=args.model[-1]) from error
    name = dataset + (f" ({len(loaded)}-model ensemble)" if len(loaded) > 1 else "")
    print(f"{name} {args.split}: F1 {scores['f1']:.2f} (P {scores['precision']:.2f}, R {scores['recall']:.2f})")
    for kind, f1 in scores["per_type_f1"].items():
        print(f"  {kind}: {f1:.2f}")
    return 0


def _tag(args) -> int:
    from basecaller.tasks.tagger import load_tagger, predict_tags_ensemble

    taggers = [load_tagger(directory)[:2] for directory in [args.model, *args.ensemble]]
    sentences = [s.split() for s in args.sentences]
    try:
        tagged = predict_tags_ensemble(taggers, sentences, [0] * len(sentences))
    except ValueError as error:
        raise InputError(str(error), path=args.model) from error
    for words, tags in zip(sentences, tagged):
        print(" ".join(f"{w}/{t}" for w, t in zip(words, tags)))
    return 0


def run(args) -> int:
    set_threads(args)
    return {"train": _train, "evaluate": _evaluate, "tag": _tag}[args.action](args)
