"""Sequence tagging (synced many-to-many), e.g. named entities with BIO tags.

Each word is represented by a word embedding (lower-cased), a casing class and character-level
features (a bidirectional recurrent core over its characters, or a char CNN); a bidirectional
recurrent core over the words then feeds a per-word linear layer over the tags, scored either
per word (softmax) or as a whole tag sequence by a linear-chain CRF (``pytorch-crf``, Viterbi
decoding). Scores are entity-level precision, recall and F1 by seqeval (exact span and type).

    data = load_tagging("conll2003", "/path/to/shared/data/text")
    model, record = train_tagger(data, "ner_dir", TaggerOptions(), FitOptions())
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn
from torchcrf import CRF

from basecaller.nn import build_recurrent
from basecaller.tasks.model_dir import load_built_model, save_task_model
from basecaller.tasks.text_data import Vocab, conll_documents, read_conll
from basecaller.training.fit import FitOptions, fit, pad_sequences, shuffled_batches

__all__ = [
    "CASINGS",
    "TaggerOptions",
    "TaggingData",
    "WordTagger",
    "casing",
    "entity_scores",
    "evaluate_tagger",
    "evaluate_taggers",
    "load_tagger",
    "load_tagging",
    "pack_sentences",
    "predict_tags",
    "predict_tags_ensemble",
    "train_tagger",
]

TASK = "tagger"
IGNORE = -100  # target at padded positions
CASINGS = ("pad", "lower", "upper", "title", "numeric", "has_digit", "other")
DATASETS = {
    "conll2003": ("conll2003", "train.txt", "valid.txt", "test.txt"),
    "wnut17": ("wnut17", "wnut17train.conll", "emerging.dev.conll", "emerging.test.annotated"),
}


def casing(word: str) -> int:
    """The word's casing class, an index into CASINGS."""
    if word.isdigit():
        kind = "numeric"
    elif any(c.isdigit() for c in word):
        kind = "has_digit"
    elif word.islower():
        kind = "lower"
    elif word.isupper():
        kind = "upper"
    elif word[:1].isupper():
        kind = "title"
    else:
        kind = "other"
    return CASINGS.index(kind)


@dataclass
class TaggerOptions:
    cell: str = "lstm"
    hidden_size: int = 128  # per direction, word level
    num_layers: int = 1
    word_dim: int = 100
    char_features: str = "rnn"  # "rnn" (recurrent core over characters), "cnn" or "none"
    char_dim: int = 25
    char_hidden: int = 25  # per direction for "rnn"; filters / 2 for "cnn"
    casing_dim: int = 8
    dropout: float = 0.5
    word_dropout: float = 0.05  # training: words replaced by <unk> (characters kept)
    max_word_chars: int = 20
    crf: bool = True  # linear-chain CRF over the tag sequence instead of a per-word softmax
    context_tokens: int = 0  # > 0: tag runs of consecutive sentences of a document together, up to this many words


class CharFeatures(nn.Module):
    """Characters of every word (W, C) with lengths (W,) -> (W, F) features."""

    def __init__(self, num_chars: int, options: TaggerOptions):
        super().__init__()
        self.kind = options.char_features
        self.embedding = nn.Embedding(num_chars, options.char_dim, padding_idx=0)
        self.output_size = 2 * options.char_hidden
        if self.kind == "rnn":
            self.core = build_recurrent(
                {"type": options.cell, "hidden_size": options.char_hidden, "direction": "bidirectional"},
                input_size=options.char_dim,
            )
        elif self.kind == "cnn":
            self.conv = nn.Conv1d(options.char_dim, self.output_size, kernel_size=3, padding=1)
        else:
            raise ValueError(f"unknown char_features {self.kind!r}; expected rnn, cnn or none")

    def forward(self, chars: Tensor, lengths: Tensor) -> Tensor:
        x = self.embedding(chars)  # (W, C, E)
        if self.kind == "cnn":
            out = self.conv(x.transpose(1, 2))  # (W, F, C)
            out = out.masked_fill(chars[:, None, :] == 0, -torch.inf)
            return out.amax(dim=2)
        _, state = self.core(x, lengths)
        h = state[0] if isinstance(state, tuple) else state  # (2, W, H): ends of both directions
        return torch.cat([h[0], h[1]], dim=-1)


class WordTagger(nn.Module):
    """(words (N, T), casings (N, T), chars (W, C), char_lengths (W,), lengths (N,)) -> (N, T, K).

    ``chars`` holds the characters of the valid words of every sentence in order (W = sum of
    lengths)."""

    def __init__(self, num_words: int, num_chars: int, num_tags: int, options: TaggerOptions):
        super().__init__()
        self.options = options
        self.words = nn.Embedding(num_words, options.word_dim, padding_idx=0)
        self.casings = nn.Embedding(len(CASINGS), options.casing_dim, padding_idx=0)
        self.chars = None if options.char_features == "none" else CharFeatures(num_chars, options)
        features = options.word_dim + options.casing_dim + (self.chars.output_size if self.chars else 0)
        self.core = build_recurrent(
            {"type": options.cell, "hidden_size": options.hidden_size, "num_layers": options.num_layers,
             "direction": "bidirectional", "dropout": options.dropout},
            input_size=features,
        )
        self.dropout = nn.Dropout(options.dropout)
        self.head = nn.Linear(self.core.output_size, num_tags)
        self.crf = CRF(num_tags, batch_first=True) if options.crf else None

    def forward(self, words, casings, chars, char_lengths, lengths) -> Tensor:
        if self.training and self.options.word_dropout > 0:
            drop = torch.rand(words.shape, device=words.device) < self.options.word_dropout
            words = torch.where(drop & (words > 1), torch.ones_like(words), words)  # 1 = <unk>
        parts = [self.words(words), self.casings(casings)]  # (N, T, *)
        if self.chars is not None:
            valid = casings != 0  # (N, T)
            per_word = self.chars(chars, char_lengths)  # (W, F)
            grid = per_word.new_zeros(*words.shape, per_word.shape[-1])
            grid[valid] = per_word
            parts.append(grid)
        x = self.dropout(torch.cat(parts, dim=-1))  # (N, T, F)
        out, _ = self.core(x, lengths)  # (N, T, 2H)
        return self.head(self.dropout(out))  # (N, T, K)

    def loss(self, emissions: Tensor, tags: Tensor) -> Tensor:
        """Mean negative log-likelihood per sentence (CRF) or cross-entropy per word."""
        if self.crf is None:
            return nn.functional.cross_entropy(emissions.flatten(0, 1), tags.flatten(), ignore_index=IGNORE)
        mask = tags != IGNORE
        return -self.crf(emissions, tags.masked_fill(~mask, 0), mask=mask, reduction="mean")

    def best_tags(self, emissions: Tensor, lengths: Tensor) -> list[list[int]]:
        """The best tag ids of every sentence (Viterbi with a CRF, per-word argmax without)."""
        if self.crf is None:
            return [row[:n] for row, n in zip(emissions.argmax(-1).tolist(), lengths.tolist())]
        mask = torch.arange(emissions.shape[1], device=emissions.device)[None, :] < lengths[:, None].to(emissions.device)
        return self.crf.decode(emissions, mask=mask)


@dataclass
class TaggingData:
    """Sentences as (words, tags) with vocabularies built on train."""

    name: str
    train: list[tuple[list[str], list[str]]]
    dev: list[tuple[list[str], list[str]]]
    test: list[tuple[list[str], list[str]]]
    provenance: dict = field(default_factory=dict)
    documents: dict[str, list[int]] = field(default_factory=dict)  # split -> document of each sentence


def load_tagging(name: str, data_root: str | os.PathLike) -> TaggingData:
    """``name`` "conll2003" or "wnut17": their standard train / dev / test files."""
    if name not in DATASETS:
        raise ValueError(f"unknown tagging set {name!r}; expected one of {sorted(DATASETS)}")
    folder, *files = DATASETS[name]
    root = Path(data_root) / folder
    train, dev, test = (read_conll(root / f) for f in files)
    documents = {split: conll_documents(root / f) for split, f in zip(("train", "dev", "test"), files)}
    return TaggingData(name, train, dev, test, {"data": str(root), "split": "standard"}, documents)


def pack_sentences(lengths: list[int], documents: list[int] | None, max_tokens: int) -> list[list[int]]:
    """Sentence indices grouped into runs of consecutive sentences of one document holding at
    most ``max_tokens`` words (a longer sentence stays alone); one per group without documents."""
    if not max_tokens or documents is None:
        return [[i] for i in range(len(lengths))]
    groups, size = [], 0
    for i, length in enumerate(lengths):
        if groups and documents[i] == documents[groups[-1][-1]] and size + length <= max_tokens:
            groups[-1].append(i)
            size += length
        else:
            groups.append([i])
            size = length
    return groups


def _joined(sentences, groups):
    """Each group's sentences as one (words, tags) sequence."""
    return [([w for i in group for w in sentences[i][0]], [t for i in group for t in sentences[i][1]])
            for group in groups]


@dataclass
class Encoders:
    words: Vocab
    chars: Vocab
    tags: Vocab
    max_word_chars: int = 20

    @classmethod
    def build(cls, train, max_word_chars: int) -> Encoders:
        words = Vocab.build(w.lower() for ws, _ in train for w in ws)
        chars = Vocab.build(c for ws, _ in train for w in ws for c in w)
        tags = Vocab.build((t for _, ts in train for t in ts), specials=())
        tags = Vocab(["O"] + [t for t in tags.tokens if t != "O"])
        return cls(words, chars, tags, max_word_chars)

    def encode(self, words: list[str], tags: list[str] | None = None) -> tuple:
        chars = [self.chars.encode(w[: self.max_word_chars]) for w in words]
        tag_ids = None if tags is None else [self.tags.index.get(t, 0) for t in tags]
        return (self.words.encode(w.lower() for w in words), [casing(w) for w in words], chars, tag_ids)


def collate(examples: list[tuple]) -> tuple[Tensor, ...]:
    """Encoded sentences -> (words, casings, chars, char_lengths, lengths, tags) tensors."""
    words, lengths = pad_sequences([e[0] for e in examples])
    casings, _ = pad_sequences([e[1] for e in examples])
    chars, char_lengths = pad_sequences([c for e in examples for c in e[2]])
    tags, _ = pad_sequences([e[3] or [0] * len(e[0]) for e in examples], pad=IGNORE)
    return words, casings, chars, char_lengths, lengths, tags


def _loss(model: WordTagger, batch):
    *inputs, tags = batch
    return model.loss(model(*inputs), tags)


def predict_tags(model: WordTagger, encoders: Encoders, sentences: list[list[str]],
                 documents: list[int] | None = None, batch_size: int = 64) -> list[list[str]]:
    """Tag sentences of words (with ``documents``, the document of each sentence, a model
    trained with context tags runs of neighbouring sentences together)."""
    return predict_tags_ensemble([(model, encoders)], sentences, documents, batch_size)


def _tag_orders(taggers: list[tuple[WordTagger, Encoders]]) -> list[Tensor]:
    """For each tagger, its index of every tag of the first tagger's tag list; the taggers must
    share their tag set, their kind of output (CRF or softmax) and their sentence packing."""
    reference_model, reference = taggers[0]
    orders = []
    for model, encoders in taggers:
        if set(encoders.tags.tokens) != set(reference.tags.tokens):
            raise ValueError(f"taggers of different tag sets: {encoders.tags.tokens} vs {reference.tags.tokens}")
        if (model.crf is None) != (reference_model.crf is None):
            raise ValueError("cannot combine CRF and softmax taggers")
        if model.options.context_tokens != reference_model.options.context_tokens:
            raise ValueError("cannot combine taggers trained with different --context")
        orders.append(torch.tensor([encoders.tags.index[t] for t in reference.tags.tokens]))
    return orders


def _mean_crf(taggers, orders) -> CRF | None:
    """One CRF whose transition scores are the taggers' averages (in the reference tag order)."""
    if taggers[0][0].crf is None:
        return None
    crf = CRF(len(orders[0]), batch_first=True)
    for name in ("start_transitions", "end_transitions", "transitions"):
        values = []
        for (model, _), order in zip(taggers, orders):
            value = getattr(model.crf, name).detach().cpu()[order]
            values.append(value[:, order] if value.dim() == 2 else value)
        getattr(crf, name).data.copy_(torch.stack(values).mean(0))
    return crf


def _tag_scores(model: WordTagger, encoders: Encoders, word_lists: list[list[str]]) -> tuple[Tensor, Tensor]:
    """(N, T, K) per-word tag scores on the CPU (CRF emissions, or log-probabilities) and lengths."""
    *inputs, _ = collate([encoders.encode(words) for words in word_lists])
    device = next(model.parameters()).device
    emissions = model(*(t.to(device) for t in inputs)).float().cpu()
    scores = emissions if model.crf is not None else emissions.log_softmax(-1)
    return scores, inputs[-1]


@torch.no_grad()
def predict_tags_ensemble(taggers: list[tuple[WordTagger, Encoders]], sentences: list[list[str]],
                          documents: list[int] | None = None, batch_size: int = 64) -> list[list[str]]:
    """Tag with several (model, encoders) taggers as one: their per-word scores (and CRF
    transition scores) are averaged, a product of experts, then decoded by Viterbi (CRF) or
    per-word argmax. One tagger gives exactly its own tags."""
    orders = _tag_orders(taggers)
    crf = _mean_crf(taggers, orders)
    modes = [model.training for model, _ in taggers]
    for model, _ in taggers:
        model.eval()
    groups = pack_sentences([len(words) for words in sentences], documents, taggers[0][0].options.context_tokens)
    joined = [[w for i in group for w in sentences[i]] for group in groups]
    tag_names = taggers[0][1].tags.tokens
    tagged = []
    for i in range(0, len(joined), batch_size):
        chunk = joined[i : i + batch_size]
        parts = [_tag_scores(model, encoders, chunk) for model, encoders in taggers]
        scores = torch.stack([s[..., order] for (s, _), order in zip(parts, orders)]).mean(0)
        lengths = parts[0][1]
        if crf is None:
            best = [row[:n] for row, n in zip(scores.argmax(-1).tolist(), lengths.tolist())]
        else:
            best = crf.decode(scores, mask=torch.arange(scores.shape[1])[None, :] < lengths[:, None])
        tagged.extend([tag_names[k] for k in row] for row in best)
    for (model, _), mode in zip(taggers, modes):
        model.train(mode)
    out: list[list[str]] = [[] for _ in sentences]
    for group, tags in zip(groups, tagged):
        for index in group:
            out[index], tags = tags[: len(sentences[index])], tags[len(sentences[index]) :]
    return out


def entity_scores(truth: list[list[str]], predicted: list[list[str]]) -> dict:
    """Entity-level micro precision, recall and F1 in % (seqeval, IOB2), and F1 per type."""
    from seqeval.metrics import classification_report, f1_score, precision_score, recall_score

    report = classification_report(truth, predicted, output_dict=True, zero_division=0)
    per_type = {k: round(100 * v["f1-score"], 2) for k, v in report.items() if "avg" not in k}
    return {"precision": 100 * precision_score(truth, predicted, zero_division=0),
            "recall": 100 * recall_score(truth, predicted, zero_division=0),
            "f1": 100 * f1_score(truth, predicted, zero_division=0), "per_type_f1": per_type}


def evaluate_tagger(model: WordTagger, encoders: Encoders, sentences, documents: list[int] | None = None) -> dict:
    """``sentences``: [(words, tags)] (and the document of each) -> entity_scores."""
    return evaluate_taggers([(model, encoders)], sentences, documents)


def evaluate_taggers(taggers: list[tuple[WordTagger, Encoders]], sentences, documents: list[int] | None = None) -> dict:
    """entity_scores of several taggers combined by predict_tags_ensemble."""
    predicted = predict_tags_ensemble(taggers, [words for words, _ in sentences], documents)
    return entity_scores([tags for _, tags in sentences], predicted)


def _config(name: str, encoders: Encoders, options: TaggerOptions, training: dict) -> dict:
    return {"task": TASK, "dataset": name, "words": encoders.words.tokens,
            "chars": encoders.chars.tokens, "tags": encoders.tags.tokens,
            "model": asdict(options), "training": training}


def build_tagger(config: dict) -> tuple[WordTagger, Encoders]:
    options = TaggerOptions(**{"crf": False, **config["model"]})  # older directories: softmax
    encoders = Encoders(Vocab(list(config["words"])), Vocab(list(config["chars"])),
                        Vocab(list(config["tags"])), options.max_word_chars)
    model = WordTagger(len(encoders.words), len(encoders.chars), len(encoders.tags), options)
    return model, encoders


def load_tagger(directory: str | os.PathLike) -> tuple[WordTagger, Encoders, dict]:
    """Read a model directory -> (model in eval mode, encoders, config)."""
    return load_built_model(directory, TASK, build_tagger)


def _training_documents(data: TaggingData, train_on_dev: bool) -> list[int] | None:
    train = data.documents.get("train")
    if train is None or not train_on_dev:
        return train
    dev = data.documents.get("dev")
    return None if dev is None else train + [max(train, default=-1) + 1 + d for d in dev]


def train_tagger(
    data: TaggingData,
    output: str | os.PathLike,
    options: TaggerOptions | None = None,
    fit_options: FitOptions | None = None,
    train_on_dev: bool = False,
) -> tuple[WordTagger, Encoders, dict]:
    """Train on ``data.train``, keep the best dev F1, score dev and test, save ``output``.

    With ``train_on_dev`` the model trains on train + dev for the full step budget and keeps
    its last weights (the usual final CoNLL setting; its dev score is then not held out)."""
    options = options or TaggerOptions()
    fit_options = fit_options or FitOptions()
    sentences = data.train + (data.dev if train_on_dev else [])
    documents = _training_documents(data, train_on_dev)
    encoders = Encoders.build(sentences, options.max_word_chars)
    groups = pack_sentences([len(words) for words, _ in sentences], documents, options.context_tokens)
    train = [encoders.encode(words, tags) for words, tags in _joined(sentences, groups)]
    dev_docs, test_docs = data.documents.get("dev"), data.documents.get("test")
    torch.manual_seed(fit_options.seed)
    model = WordTagger(len(encoders.words), len(encoders.chars), len(encoders.tags), options)
    started = time.monotonic()
    result = fit(
        model, _loss, shuffled_batches(train, fit_options.batch_size, collate, fit_options.seed),
        fit_options,
        validate=lambda m: {"dev_f1": evaluate_tagger(m, encoders, data.dev, dev_docs)["f1"]},
        metric=None if train_on_dev else "dev_f1", mode="max",
        checkpoint_dir=os.path.join(output, "checkpoints"),
    )
    seconds = time.monotonic() - started
    dev = evaluate_tagger(model, encoders, data.dev, dev_docs)
    test = evaluate_tagger(model, encoders, data.test, test_docs)
    record = {**data.provenance, "steps": result.step, "best_step": result.best_step,
              "train_seconds": round(seconds, 1), "threads": torch.get_num_threads(),
              "trained_on": "train+dev" if train_on_dev else "train", "dev_f1": round(dev["f1"], 2), "test_f1": round(test["f1"], 2),
              "test_precision": round(test["precision"], 2), "test_recall": round(test["recall"], 2),
              "test_per_type_f1": test["per_type_f1"],
              "fit": asdict(fit_options)}
    save_task_model(output, _config(data.name, encoders, options, record), model)
    return model, encoders, record
