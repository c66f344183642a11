"""Character-level language model (many-to-many): embedding -> recurrent core -> linear(vocab).

Trained by truncated BPTT with the state carried between windows (the core's ``TruncatedBPTT``),
evaluated in nats per character with the state carried through the validation text, and
sampled from a prompt with temperature and top-k.

    model, vocab, record = train_charlm(text, "lm_dir", CharLMOptions(cell="gru"), FitOptions(steps=1100))
    print(sample(model, vocab, "ROMEO:", length=200, temperature=0.8, top_k=40))
"""

from __future__ import annotations

import math
import os
import random
import time
from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

from basecaller.nn import build_recurrent
from basecaller.tasks.model_dir import load_built_model, save_task_model
from basecaller.tasks.text_data import Vocab, split_fraction
from basecaller.training import TruncatedBPTT, bptt_windows
from basecaller.training.fit import FitOptions, fit

__all__ = [
    "CharLM",
    "CharLMOptions",
    "batchify",
    "evaluate_nats",
    "load_charlm",
    "lm_windows",
    "sample",
    "train_charlm",
]

TASK = "charlm"


@dataclass
class CharLMOptions:
    """Architecture and truncated-BPTT settings."""

    cell: str = "gru"  # the best loss per CPU minute measured (see benchmarks/tasks_lm.py)
    hidden_size: int = 256
    num_layers: int = 1
    embedding_dim: int = 64
    dropout: float = 0.0  # between core layers and before the output layer
    window: int = 100  # BPTT window, in characters
    val_streams: int = 16  # parallel streams when scoring validation text
    val_chars: int | None = None  # score only this much validation text while training


class CharLM(nn.Module):
    """tokens (N, T) int -> (logits (N, T, V), state); ``state`` is the core's state."""

    def __init__(self, vocab_size: int, options: CharLMOptions):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, options.embedding_dim)
        self.core = build_recurrent(
            {"type": options.cell, "hidden_size": options.hidden_size,
             "num_layers": options.num_layers, "dropout": options.dropout},
            input_size=options.embedding_dim,
        )
        self.dropout = nn.Dropout(options.dropout)
        self.head = nn.Linear(self.core.output_size, vocab_size)

    def forward(self, tokens: Tensor, state=None):
        x = self.embedding(tokens)  # (N, T, E)
        out, state = self.core(x, state=state)  # (N, T, H)
        return self.head(self.dropout(out)), state  # (N, T, V)


def batchify(ids: Tensor, streams: int) -> Tensor:
    """A long (T,) id sequence -> (streams, T // streams), each row a contiguous stretch."""
    length = ids.numel() // streams
    if length < 2:
        raise ValueError(f"{ids.numel()} tokens are too few for {streams} streams")
    return ids[: streams * length].view(streams, length)


def lm_windows(ids: Tensor, streams: int, window: int, seed: int = 0):
    """``epoch -> windows``: the text cut into ``streams`` rows from an offset that varies by
    epoch (so window edges move), then BPTT windows over them."""

    def epoch_windows(epoch: int):
        offset = 0 if epoch == 0 else random.Random(seed * 7919 + epoch).randrange(window)
        return list(bptt_windows(batchify(ids[offset:], streams), window))

    return epoch_windows


def _window_loss(model: CharLM, window, state):
    logits, state = model(window.inputs, state)
    loss = nn.functional.cross_entropy(logits.flatten(0, 1), window.targets.flatten())
    return loss, state


@torch.no_grad()
def evaluate_nats(model: CharLM, ids: Tensor, streams: int = 16, window: int = 256) -> float:
    """Mean cross-entropy in nats per predicted character, state carried through the text."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    rows = batchify(ids, min(streams, max(1, ids.numel() // 2)))
    total, count, state = 0.0, 0, None
    for w in bptt_windows(rows.to(device), window):
        logits, state = model(w.inputs, state)
        total += nn.functional.cross_entropy(
            logits.flatten(0, 1), w.targets.flatten(), reduction="sum"
        ).item()
        count += w.targets.numel()
    model.train(was_training)
    return total / count


@torch.no_grad()
def sample(
    model: CharLM,
    vocab: Vocab,
    prompt: str = "\n",
    length: int = 200,
    temperature: float = 1.0,
    top_k: int | None = None,
    generator: torch.Generator | None = None,
) -> str:
    """Continue ``prompt`` by ``length`` characters. ``temperature`` 0 or ``top_k`` 1 is greedy."""
    model.eval()
    device = next(model.parameters()).device
    unknown = sorted(set(prompt) - set(vocab.tokens))
    if unknown:
        raise ValueError(f"prompt has characters outside the vocabulary: {unknown}")
    ids = torch.tensor([vocab.encode(prompt or "\n")], device=device)  # (1, P)
    logits, state = model(ids)
    out = []
    for _ in range(length):
        next_id = _pick(logits[0, -1], temperature, top_k, generator)
        out.append(next_id)
        logits, state = model(torch.tensor([[next_id]], device=device), state)
    return prompt + vocab.decode(out)


def _pick(logits: Tensor, temperature: float, top_k: int | None, generator) -> int:
    """One id from (V,) logits by temperature and top-k sampling."""
    if temperature <= 0 or top_k == 1:
        return int(logits.argmax())
    logits = logits.float() / temperature
    if top_k is not None and top_k < logits.numel():
        threshold = logits.topk(top_k).values[-1]
        logits = logits.masked_fill(logits < threshold, -math.inf)
    probs = torch.softmax(logits, dim=-1).cpu()
    return int(torch.multinomial(probs, 1, generator=generator))


def _config(vocab: Vocab, options: CharLMOptions, training: dict) -> dict:
    return {"task": TASK, "vocab": "".join(vocab.tokens), "model": asdict(options), "training": training}


def build_charlm(config: dict) -> tuple[CharLM, Vocab]:
    """An untrained model from a config as saved in a model directory."""
    options = CharLMOptions(**config["model"])
    vocab = Vocab(list(config["vocab"]))
    return CharLM(len(vocab), options), vocab


def load_charlm(directory: str | os.PathLike) -> tuple[CharLM, Vocab, dict]:
    """Read a model directory written by ``train_charlm`` -> (model in eval mode, vocab, config)."""
    return load_built_model(directory, TASK, build_charlm)


def train_charlm(
    text: str,
    output: str | os.PathLike,
    options: CharLMOptions | None = None,
    fit_options: FitOptions | None = None,
    train_fraction: float = 0.9,
    provenance: dict | None = None,
) -> tuple[CharLM, Vocab, dict]:
    """Train on the first ``train_fraction`` of ``text``, validate on the rest, save to ``output``.

    Returns (model, vocab, training record with the validation loss in nats/char).
    """
    options = options or CharLMOptions()
    fit_options = fit_options or FitOptions(batch_size=32)
    vocab = Vocab.build(text, specials=())
    vocab = Vocab(sorted(vocab.tokens))
    ids = torch.tensor(vocab.encode(text), dtype=torch.long)
    train_ids, val_ids = split_fraction(ids, train_fraction)
    torch.manual_seed(fit_options.seed)
    model = CharLM(len(vocab), options)
    monitor_ids = val_ids if options.val_chars is None else val_ids[: options.val_chars]

    def validate(m):
        return {"val_loss": evaluate_nats(m, monitor_ids, options.val_streams)}

    started = time.monotonic()
    result = fit(
        model,
        TruncatedBPTT(_window_loss),
        lm_windows(train_ids, fit_options.batch_size, options.window, fit_options.seed),
        fit_options,
        validate=validate,
        metric="val_loss",
        checkpoint_dir=os.path.join(output, "checkpoints"),
    )
    seconds = time.monotonic() - started
    val_loss = evaluate_nats(model, val_ids, options.val_streams)
    training = {
        **(provenance or {}),
        "train_chars": int(train_ids.numel()),
        "val_chars": int(val_ids.numel()),
        "steps": result.step,
        "train_seconds": round(seconds, 1),
        "threads": torch.get_num_threads(),
        "val_loss_nats": round(val_loss, 4),
        "val_bpc": round(val_loss / math.log(2), 4),
        "fit": asdict(fit_options),
    }
    save_task_model(output, _config(vocab, options, training), model)
    return model, vocab, training

