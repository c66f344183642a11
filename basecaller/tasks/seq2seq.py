"""Sequence to sequence (the translation shape): a recurrent encoder, a recurrent decoder with
optional dot-product attention, and greedy or beam-search decoding.

The demonstration tasks have exact answers and are generated from a seed:
``translate`` (DNA codons -> one-letter protein, the standard genetic code) and ``reverse``
(a DNA string -> its reversal).

    train, dev, test = make_splits("translate", sizes=(20000, 500, 1000), seed=0)
    model, vocabs, record = train_seq2seq(train, dev, test, "s2s_dir", Seq2SeqOptions(), FitOptions())
    greedy_decode(model, vocabs, ["ATGGCC"]), beam_decode(model, vocabs, "ATGGCC", beam_size=4)
"""

from __future__ import annotations

import os
import random
import time
from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

from basecaller.nn import build_recurrent, length_mask
from basecaller.tasks.model_dir import load_built_model, save_task_model
from basecaller.tasks.text_data import PAD, Vocab
from basecaller.training.fit import FitOptions, fit, pad_sequences, shuffled_batches

__all__ = [
    "GENETIC_CODE",
    "Seq2Seq",
    "Seq2SeqOptions",
    "beam_decode",
    "evaluate_seq2seq",
    "greedy_decode",
    "load_seq2seq",
    "make_examples",
    "make_splits",
    "train_seq2seq",
    "translate_dna",
]

TASK = "seq2seq"
BOS, EOS = "<s>", "</s>"
_BASES = "TCAG"
_AMINO = "FFLLSSSSYY**CC*WLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG"  # NCBI table 1
GENETIC_CODE = {
    a + b + c: _AMINO[16 * i + 4 * j + k]
    for i, a in enumerate(_BASES) for j, b in enumerate(_BASES) for k, c in enumerate(_BASES)
}


def translate_dna(dna: str) -> str:
    """Codons -> one-letter amino acids (``*`` for stop), reading frame 0, no stop handling."""
    return "".join(GENETIC_CODE[dna[i : i + 3]] for i in range(0, len(dna) - len(dna) % 3, 3))


def make_examples(task: str, count: int, min_len: int, max_len: int, seed: int) -> list[tuple[str, str]]:
    """``count`` random (source, target) pairs; lengths in codons for translate, bases for reverse."""
    rng = random.Random(seed)
    examples = []
    for _ in range(count):
        n = rng.randint(min_len, max_len)
        if task == "translate":
            dna = "".join(rng.choice("ACGT") for _ in range(3 * n))
            examples.append((dna, translate_dna(dna)))
        elif task == "reverse":
            dna = "".join(rng.choice("ACGT") for _ in range(n))
            examples.append((dna, dna[::-1]))
        else:
            raise ValueError(f"unknown seq2seq task {task!r}; expected translate or reverse")
    return examples


def make_splits(task: str, sizes=(20000, 500, 1000), min_len: int = 5, max_len: int = 30, seed: int = 0):
    """Train / dev / test sets drawn from different seeds; dev and test pairs seen in train dropped."""
    train = make_examples(task, sizes[0], min_len, max_len, seed)
    seen = {source for source, _ in train}
    held = [[e for e in make_examples(task, n, min_len, max_len, seed + 1 + k) if e[0] not in seen]
            for k, n in enumerate(sizes[1:])]
    return train, held[0], held[1]


@dataclass
class Seq2SeqOptions:
    cell: str = "lstm"
    hidden_size: int = 128  # encoder, per direction; the decoder has twice this
    num_layers: int = 1
    embedding_dim: int = 64
    attention: bool = True
    dropout: float = 0.1
    max_target_ratio: float = 1.5  # decoding stops after this many target steps per source token


class Seq2Seq(nn.Module):
    """Bidirectional encoder -> decoder initialised from its final state (+ attention)."""

    def __init__(self, source_size: int, target_size: int, options: Seq2SeqOptions):
        super().__init__()
        self.options = options
        core = {"type": options.cell, "num_layers": options.num_layers, "dropout": options.dropout}
        self.source_embedding = nn.Embedding(source_size, options.embedding_dim, padding_idx=0)
        self.target_embedding = nn.Embedding(target_size, options.embedding_dim, padding_idx=0)
        self.encoder = build_recurrent({**core, "hidden_size": options.hidden_size,
                                        "direction": "bidirectional"}, options.embedding_dim)
        size = 2 * options.hidden_size
        self.decoder = build_recurrent({**core, "hidden_size": size}, options.embedding_dim)
        self.combine = nn.Linear(2 * size, size) if options.attention else None
        self.dropout = nn.Dropout(options.dropout)
        self.head = nn.Linear(size, target_size)

    def encode(self, source: Tensor, lengths: Tensor):
        """source (N, S) -> (memory (N, S, 2H), valid mask (N, S), decoder initial state)."""
        memory, state = self.encoder(self.dropout(self.source_embedding(source)), lengths)
        mask = length_mask(lengths.to(source.device), source.shape[1])
        return memory, mask, _join_directions(state)

    def decode(self, tokens: Tensor, state, memory: Tensor, mask: Tensor):
        """tokens (N, T) -> (logits (N, T, V), state); attention over ``memory`` where ``mask``."""
        out, state = self.decoder(self.dropout(self.target_embedding(tokens)), state=state)  # (N, T, 2H)
        if self.combine is not None:
            scores = out @ memory.transpose(1, 2)  # (N, T, S)
            scores = scores.masked_fill(~mask[:, None, :], -torch.inf)
            context = torch.softmax(scores, dim=-1) @ memory  # (N, T, 2H)
            out = torch.tanh(self.combine(torch.cat([out, context], dim=-1)))
        return self.head(self.dropout(out)), state

    def forward(self, source: Tensor, lengths: Tensor, target_in: Tensor) -> Tensor:
        """Teacher forcing: (N, S), (N,), (N, T) -> logits (N, T, V)."""
        memory, mask, state = self.encode(source, lengths)
        return self.decode(target_in, state, memory, mask)[0]


def _join_directions(state):
    """(L*2, N, H) per tensor -> (L, N, 2H): forward and backward ends side by side."""
    def join(t: Tensor) -> Tensor:
        layers = t.view(t.shape[0] // 2, 2, *t.shape[1:])  # (L, 2, N, H)
        return torch.cat([layers[:, 0], layers[:, 1]], dim=-1).contiguous()

    return tuple(join(t) for t in state) if isinstance(state, tuple) else join(state)


def _select_state(state, index: Tensor):
    """Rows ``index`` of the batch dimension of a state (tensor or tuple of (L, N, H))."""
    if isinstance(state, tuple):
        return tuple(t[:, index] for t in state)
    return state[:, index]


@dataclass
class Vocabs:
    source: Vocab
    target: Vocab

    @classmethod
    def build(cls, examples) -> Vocabs:
        source = Vocab.build((c for s, _ in examples for c in s), specials=(PAD,))
        target = Vocab.build((c for _, t in examples for c in t), specials=(PAD, BOS, EOS))
        return cls(source, target)

    def encode(self, source: str, target: str | None = None):
        ids = self.source.encode(source)
        if target is None:
            return ids, None
        return ids, [self.target.index[BOS], *self.target.encode(target), self.target.index[EOS]]


def collate(examples) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Encoded (source ids, <s> target </s> ids) -> (source, lengths, target_in, target_out)."""
    source, lengths = pad_sequences([s for s, _ in examples])
    target, _ = pad_sequences([t for _, t in examples])
    return source, lengths, target[:, :-1], target[:, 1:]


def _loss(model: Seq2Seq, batch):
    source, lengths, target_in, target_out = batch
    logits = model(source, lengths, target_in)
    return nn.functional.cross_entropy(logits.flatten(0, 1), target_out.flatten(), ignore_index=0)


def _max_steps(model: Seq2Seq, source_len: int) -> int:
    return int(model.options.max_target_ratio * source_len) + 2


@torch.no_grad()
def greedy_decode(model: Seq2Seq, vocabs: Vocabs, sources: list[str], batch_size: int = 256) -> list[str]:
    """The most probable token at every step, a batch at a time."""
    model.eval()
    device = next(model.parameters()).device
    bos, eos = vocabs.target.index[BOS], vocabs.target.index[EOS]
    results = []
    for i in range(0, len(sources), batch_size):
        chunk = sources[i : i + batch_size]
        source, lengths = pad_sequences([vocabs.source.encode(s) for s in chunk])
        memory, mask, state = model.encode(source.to(device), lengths)
        tokens = torch.full((len(chunk), 1), bos, device=device)
        steps, done = [], torch.zeros(len(chunk), dtype=torch.bool, device=device)
        for _ in range(_max_steps(model, source.shape[1])):
            logits, state = model.decode(tokens, state, memory, mask)
            tokens = logits[:, -1].argmax(-1, keepdim=True)  # (N, 1)
            steps.append(tokens[:, 0])
            done |= tokens[:, 0] == eos
            if done.all():
                break
        rows = torch.stack(steps, dim=1).tolist()
        results.extend(_strip(row, vocabs.target, eos) for row in rows)
    return results


def _strip(ids: list[int], vocab: Vocab, eos: int) -> str:
    return vocab.decode(ids[: ids.index(eos)] if eos in ids else ids)


@torch.no_grad()
def beam_decode(model: Seq2Seq, vocabs: Vocabs, source: str, beam_size: int = 4,
                length_penalty: float = 1.0) -> str:
    """Beam search for one source; finished hypotheses are ranked by log-prob / length**penalty."""
    model.eval()
    device = next(model.parameters()).device
    bos, eos = vocabs.target.index[BOS], vocabs.target.index[EOS]
    ids, lengths = pad_sequences([vocabs.source.encode(source)])
    memory, mask, state = model.encode(ids.to(device), lengths)
    beams, scores = [[]], torch.zeros(1, device=device)
    tokens = torch.full((1, 1), bos, device=device)
    finished: list[tuple[float, list[int]]] = []
    for _ in range(_max_steps(model, ids.shape[1])):
        width = len(beams)
        logits, state = model.decode(tokens, state, memory.expand(width, -1, -1), mask.expand(width, -1))
        total = scores[:, None] + torch.log_softmax(logits[:, -1].float(), dim=-1)  # (B, V)
        top, flat = total.flatten().topk(min(beam_size, total.numel()))
        keep_rows, keep_tokens, keep_scores = [], [], []
        for score, index in zip(top.tolist(), flat.tolist()):
            row, token = divmod(index, total.shape[1])
            if token == eos:
                finished.append((score / max(1, len(beams[row]) + 1) ** length_penalty, beams[row]))
            else:
                keep_rows.append(row)
                keep_tokens.append(token)
                keep_scores.append(score)
        if not keep_rows or len(finished) >= beam_size:
            break
        beams = [beams[r] + [t] for r, t in zip(keep_rows, keep_tokens)]
        scores = torch.tensor(keep_scores, device=device)
        state = _select_state(state, torch.tensor(keep_rows, device=device))
        tokens = torch.tensor(keep_tokens, device=device)[:, None]
    if not finished:  # ran out of steps: rank the open beams alike
        finished = [(s / max(1, len(b)) ** length_penalty, b) for s, b in zip(scores.tolist(), beams)]
    return vocabs.target.decode(max(finished, key=lambda f: f[0])[1])


def evaluate_seq2seq(model: Seq2Seq, vocabs: Vocabs, examples, beam_size: int = 0) -> dict:
    """Exact-match and per-position token accuracy of greedy (``beam_size`` 0) or beam decoding."""
    sources = [s for s, _ in examples]
    if beam_size:
        outputs = [beam_decode(model, vocabs, s, beam_size) for s in sources]
    else:
        outputs = greedy_decode(model, vocabs, sources)
    exact = sum(o == t for o, (_, t) in zip(outputs, examples))
    tokens = sum(sum(a == b for a, b in zip(o, t)) for o, (_, t) in zip(outputs, examples))
    total = sum(max(len(o), len(t)) for o, (_, t) in zip(outputs, examples))
    return {"exact_match": exact / max(1, len(examples)), "token_accuracy": tokens / max(1, total),
            "count": len(examples)}


def build_seq2seq(config: dict) -> tuple[Seq2Seq, Vocabs]:
    vocabs = Vocabs(Vocab(list(config["source_vocab"])), Vocab(list(config["target_vocab"])))
    model = Seq2Seq(len(vocabs.source), len(vocabs.target), Seq2SeqOptions(**config["model"]))
    return model, vocabs


def load_seq2seq(directory: str | os.PathLike) -> tuple[Seq2Seq, Vocabs, dict]:
    """Read a model directory -> (model in eval mode, vocabs, config)."""
    return load_built_model(directory, TASK, build_seq2seq)


def train_seq2seq(train, dev, test, output: str | os.PathLike, options: Seq2SeqOptions | None = None,
                  fit_options: FitOptions | None = None, provenance: dict | None = None,
                  beam_size: int = 4):
    """Teacher-forced training, model chosen by dev exact match (greedy); test scored greedy and
    by beam search. Returns (model, vocabs, record)."""
    options = options or Seq2SeqOptions()
    fit_options = fit_options or FitOptions()
    vocabs = Vocabs.build(train)
    encoded = [vocabs.encode(s, t) for s, t in train]
    torch.manual_seed(fit_options.seed)
    model = Seq2Seq(len(vocabs.source), len(vocabs.target), options)
    started = time.monotonic()
    result = fit(
        model, _loss, shuffled_batches(encoded, fit_options.batch_size, collate, fit_options.seed),
        fit_options,
        validate=lambda m: {"dev_exact": evaluate_seq2seq(m, vocabs, dev)["exact_match"]},
        metric="dev_exact", mode="max", checkpoint_dir=os.path.join(output, "checkpoints"),
    )
    seconds = time.monotonic() - started
    greedy = evaluate_seq2seq(model, vocabs, test)
    beam = evaluate_seq2seq(model, vocabs, test, beam_size=beam_size)
    record = {**(provenance or {}), "steps": result.step, "best_step": result.best_step,
              "train_seconds": round(seconds, 1), "threads": torch.get_num_threads(),
              "test_exact_greedy": greedy["exact_match"], "test_token_accuracy_greedy": greedy["token_accuracy"],
              f"test_exact_beam{beam_size}": beam["exact_match"],
              "fit": asdict(fit_options)}
    config = {"task": TASK, "source_vocab": vocabs.source.tokens, "target_vocab": vocabs.target.tokens,
              "model": asdict(options), "training": record}
    save_task_model(output, config, model)
    return model, vocabs, record
