"""Language-model pretraining of a classifier's embedding and core."""

from __future__ import annotations

import math
import random

import pytest
import torch

from basecaller.errors import InputError
from basecaller.tasks.classify import ClassifierOptions, SequenceClassifier
from basecaller.tasks.lm_pretrain import DirectionalLM, pretrain_classifier
from basecaller.training.fit import FitOptions

VOCAB = 12  # ids 0 (pad) and 1 (unk) are never drawn below


def _random_sentences(count: int, seed: int) -> list[list[int]]:
    rng = random.Random(seed)
    return [[rng.randrange(2, VOCAB) for _ in range(rng.randrange(3, 12))] for _ in range(count)]


def _counting_sentences(count: int, seed: int) -> list[list[int]]:
    """Each token is the previous one plus one (mod the 10 drawable ids): fully predictable
    from either neighbour."""
    rng = random.Random(seed)
    sentences = []
    for _ in range(count):
        start, length = rng.randrange(10), rng.randrange(3, 12)
        sentences.append([2 + (start + i) % 10 for i in range(length)])
    return sentences


def _classifier(direction: str = "bidirectional", layers: int = 1) -> SequenceClassifier:
    torch.manual_seed(0)
    options = ClassifierOptions(hidden_size=24, embedding_dim=16, dropout=0.0, num_layers=layers,
                                direction=direction)
    return SequenceClassifier(VOCAB, 2, options)


def _fit(steps: int) -> FitOptions:
    return FitOptions(steps=steps, batch_size=32, lr=1e-2, warmup_steps=5, amp=False, validate_every=10**9)


@pytest.mark.parametrize("direction", ["bidirectional", "forward"])
def test_pretraining_learns_a_predictable_language(direction):
    model = _classifier(direction)
    result = pretrain_classifier(model, _counting_sentences(400, 0), _fit(150))
    assert result["first_loss"] > 0.8 * math.log(VOCAB - 2)
    assert result["last_loss"] < 0.3


def test_no_direction_sees_the_token_it_predicts():
    """On i.i.d. random tokens nothing can beat log(10) nats, unless a head sees its target."""
    model = _classifier()
    result = pretrain_classifier(model, _random_sentences(3000, 1), _fit(150))
    assert result["last_loss"] > 0.9 * math.log(VOCAB - 2)


def test_backward_head_ignores_padding():
    lm = DirectionalLM(_classifier(), VOCAB).eval()
    alone = lm(torch.tensor([[2, 3, 4]]), torch.tensor([3]))
    padded_batch = lm(torch.tensor([[2, 3, 4, 0, 0], [2, 3, 4, 0, 0]]), torch.tensor([3, 3]))
    assert torch.allclose(alone, padded_batch, atol=1e-5)


def test_pretraining_changes_the_classifier_weights():
    model = _classifier()
    before = model.embedding.weight.detach().clone()
    pretrain_classifier(model, _counting_sentences(100, 2), _fit(5))
    assert not torch.allclose(before, model.embedding.weight)


@pytest.mark.parametrize("direction,layers", [("bidirectional", 2)])
def test_deep_bidirectional_core_is_refused(direction, layers):
    with pytest.raises(InputError, match="one bidirectional layer"):
        DirectionalLM(_classifier(direction, layers), VOCAB)


def test_nothing_to_pretrain_on_is_an_input_error():
    with pytest.raises(InputError, match="no sentence"):
        pretrain_classifier(_classifier(), [[3], []], _fit(5))


def test_rare_words_are_predicted_as_unk(monkeypatch):
    lm = DirectionalLM(_classifier(), 5).eval()
    targets_seen = []
    original = torch.nn.functional.cross_entropy

    def spy(logits, targets, **kwargs):
        assert logits.shape[-1] == 5
        targets_seen.append(targets.tolist())
        return original(logits, targets, **kwargs)

    monkeypatch.setattr(torch.nn.functional, "cross_entropy", spy)
    assert torch.isfinite(lm(torch.tensor([[2, 9, 4, 11]]), torch.tensor([4])))
    assert targets_seen == [[1, 4, 1], [2, 1, 4]]  # next tokens, previous tokens; 9 and 11 -> unk
