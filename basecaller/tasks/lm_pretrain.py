"""Language-model pretraining of a classifier's embedding and recurrent core (Dai & Le 2015).

Before a classifier sees a label, its embedding and core learn to predict words from their
context on unlabelled sentences: the forward direction of the core predicts the next token, the
backward direction the previous one. Each direction reads only its own side of the sentence, so
the core must be one bidirectional layer, or forward only. The prediction heads are thrown away
afterwards; the classifier then trains on the labels as usual, starting from these weights.

    pretrain_classifier(model, [vocab.encode(tokens) for tokens in sentences], FitOptions(steps=2000))
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from basecaller.errors import InputError
from basecaller.nn import length_mask
from basecaller.training.fit import FitOptions, fit, pad_sequences, shuffled_batches

__all__ = ["DirectionalLM", "pretrain_classifier"]


class DirectionalLM(nn.Module):
    """A classifier's embedding and core plus one next-token head per direction of the core.

    ``forward(tokens (N, T), lengths (N,))`` -> the mean cross-entropy per predicted token.
    The heads predict the ``vocab_size`` first ids (the most frequent words of a ``Vocab``);
    rarer words are predicted as ``unk``, which keeps the softmax small.
    """

    def __init__(self, classifier: nn.Module, vocab_size: int, unk: int = 1):
        super().__init__()
        core = classifier.core
        if core.num_directions == 2 and core.num_layers > 1:
            raise InputError("language-model pretraining needs a forward core or one bidirectional layer: "
                             "in deeper bidirectional stacks each direction sees the word it should predict")
        if core.direction == "alternating":
            raise InputError("language-model pretraining does not support an alternating core")
        self.classifier, self.unk = classifier, unk
        self.heads = nn.ModuleList(nn.Linear(core.hidden_size, vocab_size) for _ in range(core.num_directions))

    def forward(self, tokens: Tensor, lengths: Tensor) -> Tensor:
        model = self.classifier
        out, _ = model.core(model.dropout(model.embed(tokens)), lengths)  # (N, T, H*D)
        out = model.dropout(out)
        hidden = model.core.hidden_size
        valid = length_mask(lengths.to(tokens.device), tokens.shape[1])
        targets = tokens.masked_fill(tokens >= self.heads[0].out_features, self.unk)
        # forward direction at t has read tokens[:t+1] and predicts tokens[t+1] (pad = 0 is ignored)
        losses = [_cross_entropy(self.heads[0](out[:, :-1, :hidden]), targets[:, 1:])]
        if len(self.heads) == 2:
            # backward direction at t has read tokens[t:] and predicts tokens[t-1]
            previous = targets[:, :-1].masked_fill(~valid[:, 1:], 0)
            losses.append(_cross_entropy(self.heads[1](out[:, 1:, hidden:]), previous))
        return torch.stack(losses).mean()


def _cross_entropy(logits: Tensor, targets: Tensor) -> Tensor:
    """Mean cross-entropy over the targets that are not padding (id 0)."""
    return nn.functional.cross_entropy(logits.flatten(0, 1).float(), targets.flatten(), ignore_index=0)


def pretrain_classifier(classifier: nn.Module, sentences: list[list[int]], options: FitOptions,
                        predicted_words: int = 5000) -> dict:
    """Train ``classifier``'s embedding and core in place as a language model on ``sentences``
    (id lists; those shorter than 2 tokens are skipped), predicting the ``predicted_words`` first
    ids and ``unk`` for the rest. Returns the first step's loss and the mean of the last ones."""
    sentences = [s for s in sentences if len(s) >= 2]
    if not sentences:
        raise InputError("no sentence of two or more tokens to pretrain on")
    vocab_size = min(predicted_words, classifier.embedding.num_embeddings)
    device = next(classifier.parameters()).device
    model = DirectionalLM(classifier, vocab_size, unk=getattr(classifier, "unk", 1)).to(device)
    losses: list[float] = []

    def loss_fn(module: DirectionalLM, batch) -> Tensor:
        loss = module(*batch)
        losses.append(float(loss.detach()))
        return loss

    batches = shuffled_batches(sentences, options.batch_size, pad_sequences, options.seed)
    fit(model, loss_fn, batches, options)
    window = max(1, min(50, len(losses) // 4))
    return {"steps": len(losses), "first_loss": losses[0],
            "last_loss": sum(losses[-window:]) / window}
