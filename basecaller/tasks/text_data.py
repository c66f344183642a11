"""Readers, vocabularies and splits for the text and sequence sets in ``../shared/data/text``.

Readers return plain lists of records; encoding to tensors happens in the task modules.
"""

from __future__ import annotations

import os
import random
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from basecaller.errors import InputError

__all__ = [
    "PAD",
    "UNK",
    "Vocab",
    "conll_documents",
    "read_conll",
    "read_sst2",
    "read_splice",
    "read_labelled_sentences",
    "read_sentences",
    "read_text",
    "split_fraction",
    "stratified_split",
    "word_tokens",
]

PAD, UNK = "<pad>", "<unk>"


@dataclass
class Vocab:
    """Tokens by index; ``specials`` (pad, unk) come first when a vocabulary has them."""

    tokens: list[str]

    def __post_init__(self):
        self.index = {token: i for i, token in enumerate(self.tokens)}

    @classmethod
    def build(
        cls, items: Iterable[str], min_count: int = 1, specials: Sequence[str] = (PAD, UNK)
    ) -> Vocab:
        """Specials, then tokens seen ``min_count`` times or more, most frequent first."""
        counts = Counter(items)
        kept = sorted((t for t, n in counts.items() if n >= min_count and t not in specials),
                      key=lambda t: (-counts[t], t))
        return cls(list(specials) + kept)

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def unk(self) -> int | None:
        return self.index.get(UNK)

    def encode(self, items: Iterable[str]) -> list[int]:
        """Token -> index; unknown tokens map to ``<unk>`` (a KeyError without one)."""
        unk = self.unk
        if unk is None:
            return [self.index[t] for t in items]
        return [self.index.get(t, unk) for t in items]

    def decode(self, ids: Iterable[int], sep: str = "") -> str:
        return sep.join(self.tokens[i] for i in ids)


def _existing(path: str | os.PathLike) -> Path:
    path = Path(path)
    if not path.is_file():
        raise InputError("no such data file", path=str(path))
    return path


def read_text(path: str | os.PathLike) -> str:
    """A whole text file (UTF-8)."""
    return _existing(path).read_text(encoding="utf-8")


_CONTRACTIONS = re.compile(r"(n't|'s|'re|'ve|'ll|'d|'m)\b")
_WORD = re.compile(r"[a-z0-9\u00c0-\u024f]+(?:[-'.][a-z0-9\u00c0-\u024f]+)*|n't|'[a-z]+|[^\s]")


def word_tokens(text: str) -> list[str]:
    """Lower-cased, PTB-like tokens, as in the SST-2 files: punctuation split off and
    contractions separated ("Don't stop." -> do n't stop .)."""
    return _WORD.findall(_CONTRACTIONS.sub(r" \1", text.lower()))


def _lines(path: str | os.PathLike) -> list[str]:
    """Lines split at newlines only (str.splitlines also splits at U+0085 and the like, which
    occur inside sentences of the UCI files)."""
    return read_text(path).replace("\r\n", "\n").split("\n")


def _numbered_lines(path: str | os.PathLike):
    """(line number, line) for each non-blank line, numbered from 1 as in an editor."""
    return ((number, line) for number, line in enumerate(_lines(path), start=1) if line.strip())


def read_sentences(path: str | os.PathLike) -> list[list[str]]:
    """Unlabelled text, one sentence a line, as ``word_tokens``; a trailing tab-separated
    field (a label, as in the UCI sentiment files) is dropped, blank lines skipped."""
    sentences = []
    for line in _lines(path):
        text = line.rsplit("\t", 1)[0] if "\t" in line else line
        if text.strip():
            sentences.append(word_tokens(text))
    return sentences


def read_labelled_sentences(path: str | os.PathLike) -> list[tuple[list[str], str]]:
    """``sentence<TAB>label`` a line (the UCI sentiment layout) -> [(word_tokens, label)]."""
    records = []
    for number, line in _numbered_lines(path):
        text, tab, label = line.rpartition("\t")
        if not tab or not label.strip():
            raise InputError(f"line {number}: expected sentence<TAB>label", path=str(path))
        records.append((word_tokens(text), label.strip()))
    return records


def split_fraction(items, train_fraction: float = 0.9):
    """First ``train_fraction`` of a sequence and the rest (nanoGPT's 90/10 split)."""
    cut = int(len(items) * train_fraction)
    return items[:cut], items[cut:]


def read_sst2(path: str | os.PathLike) -> list[tuple[list[str], int]]:
    """SST-2 (Kim 2014 layout): ``<label> <tokens>`` a line -> [(tokens, label)]."""
    records = []
    for number, line in _numbered_lines(path):
        label, _, sentence = line.partition(" ")
        if label not in ("0", "1"):
            raise InputError(f"line {number}: label {label!r} is not 0 or 1", path=str(path))
        records.append((sentence.split(), int(label)))
    return records


def read_conll(path: str | os.PathLike) -> list[tuple[list[str], list[str]]]:
    """CoNLL-style tagging files: a token a line, the word first and the tag last
    (space- or tab-separated), blank lines between sentences; ``-DOCSTART-`` lines dropped."""
    return [(words, tags) for words, tags, _ in _conll_sentences(path)]


def conll_documents(path: str | os.PathLike) -> list[int]:
    """The document index of each sentence ``read_conll`` returns: a new document starts at
    every ``-DOCSTART-`` line; in a file without them every sentence is its own document."""
    documents = [document for _, _, document in _conll_sentences(path)]
    return documents if any(d >= 0 for d in documents) else list(range(len(documents)))


def _conll_sentences(path):
    sentences, words, tags, document = [], [], [], -1
    for number, line in enumerate(_lines(path), start=1):
        fields = line.split()
        if not fields or fields[0] == "-DOCSTART-":
            if words:
                sentences.append((words, tags, document))
                words, tags = [], []
            document += bool(fields)
            continue
        if len(fields) < 2:
            raise InputError(f"line {number}: expected a word and a tag", path=str(path))
        words.append(fields[0])
        tags.append(fields[-1])
    if words:
        sentences.append((words, tags, document))
    return sentences


def read_splice(path: str | os.PathLike) -> list[tuple[str, str]]:
    """UCI splice.data: ``class, name, sequence`` a line -> [(sequence, class)]."""
    records = []
    for number, line in _numbered_lines(path):
        fields = [field.strip() for field in line.split(",")]
        if len(fields) != 3:
            raise InputError(f"line {number}: expected class, name, sequence", path=str(path))
        records.append((fields[2].upper(), fields[0]))
    return records


def stratified_split(
    labels: Sequence, fractions: Sequence[float], seed: int
) -> list[list[int]]:
    """Indices split into parts of the given fractions, each class split in the same
    proportions; shuffled by ``seed``. The last part takes the rounding remainder."""
    rng = random.Random(seed)
    parts: list[list[int]] = [[] for _ in fractions]
    by_class: dict = {}
    for i, label in enumerate(labels):
        by_class.setdefault(label, []).append(i)
    for label in sorted(by_class):
        members = by_class[label]
        rng.shuffle(members)
        start = 0
        for k, fraction in enumerate(fractions):
            stop = len(members) if k == len(fractions) - 1 else start + round(fraction * len(members))
            parts[k].extend(members[start:stop])
            start = stop
    for part in parts:
        rng.shuffle(part)
    return parts
