"""basecaller classify: many-to-one sequence classification (SST-2 sentiment, DNA splice sites)."""

from __future__ import annotations

from basecaller.cli._task_args import (
    add_core_arguments,
    add_fit_arguments,
    fit_options,
    set_threads,
)
from basecaller.errors import InputError

NAME = "classify"
HELP = "many-to-one classifier on the recurrent core (sst2 sentiment, splice DNA): train, evaluate, predict"


def add_arguments(parser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    train = actions.add_parser("train", help="train, select on dev, score dev and test")
    train.add_argument("--task", required=True, choices=["sst2", "splice"])
    train.add_argument("--data", required=True, help="the text data folder (holds sst2/, dna_uci/)")
    train.add_argument("-o", "--output", required=True, help="model directory to write")
    add_core_arguments(train, hidden_size=128, dropout=0.5)
    train.add_argument("--direction", default="bidirectional", choices=["forward", "bidirectional"])
    train.add_argument("--embedding-dim", type=int, default=128)
    train.add_argument("--pooling", default="max", choices=["max", "mean", "last"])
    train.add_argument("--token-dropout", type=float, default=0.0, help="training: tokens -> <unk>")
    train.add_argument("--min-count", type=int, default=1, help="rarer training tokens become <unk>")
    train.add_argument("--positions", type=int, default=0,
                       help="learned position embeddings for this many steps (fixed-width inputs)")
    train.add_argument("--kmer", type=int, default=1, help="splice: tokens are overlapping k-mers")
    train.add_argument("--extra-train", nargs="+", default=[], metavar="FILE",
                       help="more labelled training sentences, sentence<TAB>label a line (e.g. the UCI "
                            "sentiment files); dev and test are unchanged")
    train.add_argument("--adversarial", type=float, default=0.0, metavar="EPSILON",
                       help="adversarial training: also fit embeddings perturbed by this L2 norm per sentence")
    pretraining = train.add_argument_group("language-model pretraining (before the labels)")
    pretraining.add_argument("--pretrain-steps", type=int, default=0,
                             help="first train the embedding and core as a language model for this many steps")
    pretraining.add_argument("--pretrain-text", nargs="+", default=[], metavar="FILE",
                             help="unlabelled sentences, one a line (a trailing tab + label is dropped), "
                                  "added to the training sentences for the vocabulary and pretraining")
    pretraining.add_argument("--pretrain-lr", type=float, default=2e-3)
    add_fit_arguments(train, steps=2000, batch_size=32, lr=2e-3, validate_every=100)

    evaluate = actions.add_parser("evaluate", help="accuracy overall and per class")
    evaluate.add_argument("model", nargs="+", help="model directory; several: an ensemble (probabilities averaged)")
    evaluate.add_argument("--data", required=True, help="the text data folder")
    evaluate.add_argument("--split", default="test", choices=["train", "dev", "test"])
    evaluate.add_argument("--threads", type=int, help="torch CPU threads")

    predict = actions.add_parser("predict", help="classify sentences or DNA sequences given as arguments")
    predict.add_argument("model", help="model directory")
    predict.add_argument("inputs", nargs="+", help="a sentence (tokenised, space-separated) or a sequence")
    predict.add_argument("--threads", type=int, help="torch CPU threads")


def _train(args) -> int:
    from basecaller.tasks.classify import ClassifierOptions, load_classification, train_classifier

    options = ClassifierOptions(cell=args.cell, hidden_size=args.hidden_size, num_layers=args.layers,
                                direction=args.direction, embedding_dim=args.embedding_dim,
                                dropout=args.dropout, token_dropout=args.token_dropout,
                                pooling=args.pooling, min_count=args.min_count,
                                positions=args.positions, adversarial=args.adversarial)
    data = load_classification(args.task, args.data, args.kmer)
    for path in args.extra_train:
        data.add_training(path)
    data.unlabelled = [tokens for path in args.pretrain_text for tokens in _unlabelled(path, args)]
    _, record = train_classifier(data, args.output, options, fit_options(args), _pretrain_options(args))
    per_class = ", ".join(f"{k} {100 * v:.1f}" for k, v in record["test_per_class"].items())
    print(f"wrote {args.output}: dev {100 * record['dev_accuracy']:.2f}%, "
          f"test {100 * record['test_accuracy']:.2f}% ({per_class}) in {record['train_seconds']} s")
    return 0


def _unlabelled(path: str, args) -> list[list[str]]:
    """Unlabelled lines as the task's tokens: words for sst2, k-mers of DNA for splice."""
    from basecaller.tasks.classify import dna_tokens
    from basecaller.tasks.text_data import read_sentences, read_text

    if args.task == "splice":
        return [dna_tokens(line.strip().upper(), args.kmer) for line in read_text(path).splitlines() if line.strip()]
    return read_sentences(path)


def _pretrain_options(args):
    """The fit options of language-model pretraining: the training ones with its own steps and lr."""
    from dataclasses import replace

    return replace(fit_options(args), steps=args.pretrain_steps, lr=args.pretrain_lr,
                   validate_every=max(1, args.pretrain_steps), time_limit_s=None)


def _evaluate(args) -> int:
    from basecaller.tasks.classify import evaluate_ensemble, load_classification, load_classifier

    loaded = [load_classifier(directory) for directory in args.model]
    kinds = {(config["dataset"], config.get("kmer", 1)) for *_, config in loaded}
    if len(kinds) > 1:
        raise InputError(f"the models were trained for different tasks: {sorted(kinds)}", path=args.model[-1])
    dataset, kmer = kinds.pop()
    data = load_classification(dataset, args.data, kmer)
    scores = evaluate_ensemble([(model, vocab) for model, vocab, *_ in loaded], data, args.split)
    name = dataset + (f" ({len(loaded)}-model ensemble)" if len(loaded) > 1 else "")
    print(f"{name} {args.split}: accuracy {100 * scores['accuracy']:.2f}% of {scores['count']}")
    for label, accuracy in scores["per_class"].items():
        print(f"  {label}: {100 * accuracy:.2f}%")
    return 0


def _predict(args) -> int:
    from basecaller.tasks.classify import dna_tokens, load_classifier, predict

    model, vocab, labels, config = load_classifier(args.model)
    if config["dataset"] == "splice":
        def prepare(text):
            return dna_tokens(text.upper(), config.get("kmer", 1))
    else:
        def prepare(text):
            return text.lower().split()
    for text, k in zip(args.inputs, predict(model, [vocab.encode(prepare(s)) for s in args.inputs])):
        print(f"{labels[k]}\t{text}")
    return 0


def run(args) -> int:
    set_threads(args)
    return {"train": _train, "evaluate": _evaluate, "predict": _predict}[args.action](args)
