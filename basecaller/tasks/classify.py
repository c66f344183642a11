"""Many-to-one sequence classification: embedding -> recurrent core -> pooled -> linear(classes).

One head serves sentiment (SST-2, word tokens) and DNA splice junctions (UCI, nucleotides).

    data = load_classification("splice", "/path/to/shared/data/text")
    model, record = train_classifier(data, "splice_dir", ClassifierOptions(), FitOptions())
    evaluate_classifier(model, data.encode(data.test), data.labels)["accuracy"]
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

from basecaller.errors import InputError
from basecaller.nn import build_recurrent, length_mask
from basecaller.tasks.model_dir import load_built_model, save_task_model
from basecaller.tasks.text_data import (
    Vocab,
    read_labelled_sentences,
    read_splice,
    read_sst2,
    stratified_split,
)
from basecaller.training.fit import FitOptions, fit, pad_sequences, shuffled_batches

__all__ = [
    "ClassificationData",
    "ClassifierOptions",
    "SequenceClassifier",
    "adversarial_loss",
    "adversarial_perturbation",
    "dna_tokens",
    "evaluate_classifier",
    "evaluate_ensemble",
    "load_classification",
    "load_classifier",
    "per_class_accuracy",
    "predict",
    "predict_ensemble",
    "train_classifier",
]

TASK = "classifier"
SPLICE_SEED = 0
SPLICE_FRACTIONS = (0.8, 0.1, 0.1)  # train / dev / test, stratified by class


@dataclass
class ClassifierOptions:
    cell: str = "lstm"
    hidden_size: int = 128
    num_layers: int = 1
    direction: str = "bidirectional"
    embedding_dim: int = 128
    dropout: float = 0.5  # on embeddings and on the pooled features
    token_dropout: float = 0.0  # training: replace tokens by <unk> with this probability
    pooling: str = "max"  # "max", "mean" or "last"
    min_count: int = 1  # tokens rarer than this in training become <unk>
    positions: int = 0  # > 0: add a learned embedding of each step's position (fixed-width inputs)
    adversarial: float = 0.0  # > 0: adversarial training, embeddings perturbed by this L2 norm per sequence


class SequenceClassifier(nn.Module):
    """(tokens (N, T), lengths (N,)) -> logits (N, K)."""

    def __init__(self, vocab_size: int, num_classes: int, options: ClassifierOptions, unk: int = 1):
        super().__init__()
        if options.pooling not in ("max", "mean", "last"):
            raise ValueError(f"unknown pooling {options.pooling!r}")
        self.options, self.unk = options, unk
        self.embedding = nn.Embedding(vocab_size, options.embedding_dim, padding_idx=0)
        self.positions = nn.Embedding(options.positions, options.embedding_dim) if options.positions else None
        self.core = build_recurrent(
            {"type": options.cell, "hidden_size": options.hidden_size,
             "num_layers": options.num_layers, "direction": options.direction,
             "dropout": options.dropout},
            input_size=options.embedding_dim,
        )
        self.dropout = nn.Dropout(options.dropout)
        self.head = nn.Linear(self.core.output_size, num_classes)

    def forward(self, tokens: Tensor, lengths: Tensor) -> Tensor:
        return self.classify(self.embed(tokens), lengths)

    def embed(self, tokens: Tensor) -> Tensor:
        """(N, T) ids -> (N, T, E) embeddings (token dropout in training)."""
        if self.training and self.options.token_dropout > 0:
            drop = torch.rand(tokens.shape, device=tokens.device) < self.options.token_dropout
            tokens = torch.where(drop & (tokens != 0), torch.full_like(tokens, self.unk), tokens)
        x = self.embedding(tokens)  # (N, T, E)
        if self.positions is not None:
            steps = torch.arange(tokens.shape[1], device=tokens.device).clamp(max=self.options.positions - 1)
            x = x + self.positions(steps)[None]
        return x

    def classify(self, embedded: Tensor, lengths: Tensor) -> Tensor:
        """(N, T, E) embeddings -> (N, K) logits."""
        out, state = self.core(self.dropout(embedded), lengths)  # (N, T, H*D)
        return self.head(self.dropout(self._pool(out, lengths, state)))

    def _pool(self, out: Tensor, lengths: Tensor, state) -> Tensor:
        """(N, T, F) outputs -> (N, F) features, padding ignored."""
        valid = length_mask(lengths.to(out.device), out.shape[1])[:, :, None]  # (N, T, 1)
        if self.options.pooling == "max":
            return out.masked_fill(~valid, -torch.inf).amax(dim=1)
        if self.options.pooling == "mean":
            return out.sum(dim=1) / lengths.to(out.device)[:, None]
        h = state[0] if isinstance(state, tuple) else state  # (L*D, N, H)
        directions = self.core.num_directions
        return torch.cat(list(h[-directions:]), dim=-1)  # last layer, every direction


@dataclass
class ClassificationData:
    """A data set as token lists with string labels, plus the vocabularies built on train."""

    name: str
    train: list[tuple[list[str], str]]
    dev: list[tuple[list[str], str]]
    test: list[tuple[list[str], str]]
    labels: list[str]
    vocab: Vocab | None = None
    provenance: dict = field(default_factory=dict)
    kmer: int = 1  # DNA: tokens are overlapping k-mers
    unlabelled: list[list[str]] = field(default_factory=list)  # extra text for the vocabulary and pretraining

    def add_training(self, path: str | os.PathLike) -> int:
        """Append labelled sentences (``sentence<TAB>label`` a line) to the training split;
        dev and test stay as they are. Returns how many were added."""
        records = read_labelled_sentences(path)
        unknown = sorted({label for _, label in records} - set(self.labels))
        if unknown:
            raise InputError(f"labels {unknown} are not among {self.labels}", path=str(path))
        self.train.extend(records)
        self.provenance.setdefault("extra_train", []).append(f"{path} ({len(records)} sentences)")
        return len(records)

    def texts(self) -> list[list[str]]:
        """The token lists of the training examples, then of the unlabelled text."""
        return [tokens for tokens, _ in self.train] + self.unlabelled

    def build_vocab(self, min_count: int = 1) -> Vocab:
        """Tokens of the training examples and of the unlabelled text."""
        self.vocab = Vocab.build((t for tokens in self.texts() for t in tokens), min_count)
        return self.vocab

    def encode(self, examples) -> list[tuple[list[int], int]]:
        label_index = {label: i for i, label in enumerate(self.labels)}
        return [(self.vocab.encode(tokens), label_index[label]) for tokens, label in examples]


def dna_tokens(sequence: str, kmer: int = 1) -> list[str]:
    """Overlapping k-mers of a DNA sequence (its bases for k = 1)."""
    return [sequence[i : i + kmer] for i in range(len(sequence) - kmer + 1)]


def load_classification(name: str, data_root: str | os.PathLike, kmer: int = 1) -> ClassificationData:
    """``name`` "sst2" (standard splits) or "splice" (seeded stratified 80/10/10 split, DNA as
    overlapping ``kmer``-mers)."""
    root = Path(data_root)
    if name == "sst2":
        parts = [read_sst2(root / "sst2" / f"stsa.binary.{split}") for split in ("train", "dev", "test")]
        train, dev, test = ([(tokens, str(label)) for tokens, label in part] for part in parts)
        return ClassificationData(name, train, dev, test, ["0", "1"],
                                  provenance={"data": str(root / "sst2"), "split": "standard"})
    if name == "splice":
        records = [(dna_tokens(seq, kmer), label) for seq, label in read_splice(root / "dna_uci" / "splice.data")]
        parts = stratified_split([label for _, label in records], SPLICE_FRACTIONS, SPLICE_SEED)
        train, dev, test = ([records[i] for i in part] for part in parts)
        provenance = {"data": str(root / "dna_uci" / "splice.data"),
                      "split": f"stratified {SPLICE_FRACTIONS} seed {SPLICE_SEED}"}
        return ClassificationData(name, train, dev, test, ["EI", "IE", "N"], provenance=provenance, kmer=kmer)
    raise ValueError(f"unknown classification task {name!r}; expected sst2 or splice")


def _collate(examples: list[tuple[list[int], int]]):
    tokens, lengths = pad_sequences([ids for ids, _ in examples])
    return tokens, lengths, torch.tensor([label for _, label in examples])


def _loss(model: SequenceClassifier, batch):
    tokens, lengths, labels = batch
    if model.options.adversarial <= 0:
        return nn.functional.cross_entropy(model(tokens, lengths), labels)
    return adversarial_loss(model, tokens, lengths, labels, model.options.adversarial)


def adversarial_loss(model: SequenceClassifier, tokens: Tensor, lengths: Tensor, labels: Tensor,
                     epsilon: float) -> tuple[Tensor, dict]:
    """Cross-entropy plus the cross-entropy at the worst nearby embeddings (Miyato et al. 2017):
    each sequence's embeddings moved by ``epsilon`` (L2 norm over the sequence) along the
    gradient of the loss, the linear estimate of the most harmful perturbation."""
    embedded = model.embed(tokens)
    clean = nn.functional.cross_entropy(model.classify(embedded, lengths), labels)
    perturbation = adversarial_perturbation(clean, embedded, epsilon)
    attacked = nn.functional.cross_entropy(model.classify(embedded + perturbation, lengths), labels)
    return clean + attacked, {"clean_loss": clean.detach(), "adversarial_loss": attacked.detach()}


def adversarial_perturbation(loss: Tensor, embedded: Tensor, epsilon: float) -> Tensor:
    """``epsilon`` x the gradient of ``loss`` with respect to ``embedded`` (N, T, E), normalised
    to unit L2 norm per sequence; detached (no gradient flows through the attack)."""
    (grad,) = torch.autograd.grad(loss, embedded, retain_graph=True)
    grad = grad.detach().float()
    norms = grad.flatten(1).norm(dim=1).clamp_min(1e-12)
    return (epsilon * grad / norms[:, None, None]).to(embedded.dtype)


@torch.no_grad()
def class_probabilities(model: SequenceClassifier, encoded: list[list[int]], batch_size: int = 256) -> Tensor:
    """(N, K) class probabilities for id lists."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    out = []
    for i in range(0, len(encoded), batch_size):
        tokens, lengths = pad_sequences(encoded[i : i + batch_size])
        out.append(model(tokens.to(device), lengths).float().softmax(-1).cpu())
    model.train(was_training)
    return torch.cat(out) if out else torch.zeros(0, model.head.out_features)


def predict(model: SequenceClassifier, encoded: list[list[int]], batch_size: int = 256) -> list[int]:
    """Class indices for id lists."""
    return class_probabilities(model, encoded, batch_size).argmax(-1).tolist()


def predict_ensemble(members: list[tuple[SequenceClassifier, list[list[int]]]]) -> list[int]:
    """Class indices from several classifiers' averaged probabilities; each member is (model,
    the inputs encoded with that model's vocabulary)."""
    return torch.stack([class_probabilities(m, encoded) for m, encoded in members]).mean(0).argmax(-1).tolist()


def evaluate_ensemble(classifiers: list[tuple[SequenceClassifier, Vocab]], data: ClassificationData,
                      split: str = "test") -> dict:
    """per_class_accuracy of several (model, vocabulary) classifiers' averaged probabilities on
    one split of ``data``; each member encodes the tokens with its own vocabulary."""
    examples = getattr(data, split)
    label_index = {label: i for i, label in enumerate(data.labels)}
    members = [(model, [vocab.encode(tokens) for tokens, _ in examples]) for model, vocab in classifiers]
    return per_class_accuracy(predict_ensemble(members), [label_index[label] for _, label in examples], data.labels)


def per_class_accuracy(predicted: list[int], truth: list[int], labels: list[str]) -> dict:
    """Accuracy overall and per true class (that class's recall), plus the confusion matrix."""
    confusion = [[0] * len(labels) for _ in labels]
    for p, t in zip(predicted, truth, strict=True):
        confusion[t][p] += 1
    per_class = {
        label: (row[k] / sum(row) if sum(row) else float("nan"))
        for k, (label, row) in enumerate(zip(labels, confusion))
    }
    correct = sum(confusion[k][k] for k in range(len(labels)))
    return {"accuracy": correct / max(1, len(truth)), "per_class": per_class,
            "confusion": confusion, "count": len(truth)}


def evaluate_classifier(model: SequenceClassifier, encoded, labels: list[str]) -> dict:
    """``encoded``: [(ids, class index)] -> per_class_accuracy's dict."""
    predicted = predict(model, [ids for ids, _ in encoded])
    return per_class_accuracy(predicted, [label for _, label in encoded], labels)


def _pretrain(model: SequenceClassifier, data: ClassificationData, options: FitOptions) -> dict:
    """Language-model pretraining on the training sentences and the unlabelled text."""
    from basecaller.tasks.lm_pretrain import pretrain_classifier

    return pretrain_classifier(model, [data.vocab.encode(tokens) for tokens in data.texts()], options)


def build_classifier(config: dict) -> tuple[SequenceClassifier, Vocab, list[str]]:
    vocab, labels = Vocab(list(config["vocab"])), list(config["labels"])
    model = SequenceClassifier(len(vocab), len(labels), ClassifierOptions(**config["model"]),
                               unk=vocab.unk or 1)
    return model, vocab, labels


def load_classifier(directory: str | os.PathLike) -> tuple[SequenceClassifier, Vocab, list[str], dict]:
    """Read a model directory -> (model in eval mode, vocab, labels, config)."""
    return load_built_model(directory, TASK, build_classifier)


def train_classifier(
    data: ClassificationData,
    output: str | os.PathLike,
    options: ClassifierOptions | None = None,
    fit_options: FitOptions | None = None,
    pretrain: FitOptions | None = None,
) -> tuple[SequenceClassifier, dict]:
    """Train on ``data.train``, keep the best dev accuracy, score dev and test, save ``output``.

    With ``pretrain`` (steps > 0), the embedding and core first learn as a language model on the
    training sentences plus ``data.unlabelled`` (``lm_pretrain``), then the whole model on labels.
    """
    options = options or ClassifierOptions()
    fit_options = fit_options or FitOptions()
    vocab = data.build_vocab(options.min_count)
    train, dev, test = data.encode(data.train), data.encode(data.dev), data.encode(data.test)
    torch.manual_seed(fit_options.seed)
    model = SequenceClassifier(len(vocab), len(data.labels), options, unk=vocab.unk)
    started = time.monotonic()
    pretrained = _pretrain(model, data, pretrain) if pretrain is not None and pretrain.steps > 0 else None
    result = fit(
        model, _loss, shuffled_batches(train, fit_options.batch_size, _collate, fit_options.seed),
        fit_options,
        validate=lambda m: {"dev_accuracy": evaluate_classifier(m, dev, data.labels)["accuracy"]},
        metric="dev_accuracy", mode="max",
        checkpoint_dir=os.path.join(output, "checkpoints"),
    )
    seconds = time.monotonic() - started
    scores = {"dev": evaluate_classifier(model, dev, data.labels),
              "test": evaluate_classifier(model, test, data.labels)}
    record = {**data.provenance, "steps": result.step, "best_step": result.best_step,
              "train_seconds": round(seconds, 1), "threads": torch.get_num_threads(),
              "dev_accuracy": scores["dev"]["accuracy"], "test_accuracy": scores["test"]["accuracy"],
              "test_per_class": scores["test"]["per_class"],
              "fit": asdict(fit_options)}
    if pretrained is not None:
        record["pretrain"] = {**pretrained, "unlabelled_sentences": len(data.unlabelled), "fit": asdict(pretrain)}
    config = {"task": TASK, "dataset": data.name, "kmer": data.kmer, "vocab": vocab.tokens, "labels": data.labels,
              "model": asdict(options), "training": record}
    save_task_model(output, config, model)
    return model, record
