"""Many-to-one classifier: per-class accuracy, pooling, training, model directory, CLI."""

from __future__ import annotations

import random

import pytest
import torch
from conftest import SHARED_DATA, needs_shared

from basecaller.cli import main
from basecaller.errors import InputError
from basecaller.tasks.classify import (
    ClassificationData,
    ClassifierOptions,
    SequenceClassifier,
    adversarial_perturbation,
    evaluate_classifier,
    evaluate_ensemble,
    load_classification,
    load_classifier,
    per_class_accuracy,
    predict,
    predict_ensemble,
    train_classifier,
)
from basecaller.tasks.text_data import read_labelled_sentences
from basecaller.training import read_metrics
from basecaller.training.fit import FitOptions

TINY = ClassifierOptions(hidden_size=16, embedding_dim=8, dropout=0.0)


def _motif_data(count: int = 240, seed: int = 0) -> ClassificationData:
    """DNA strings; class "GT" when they hold the motif GGTA, else "none"."""
    rng = random.Random(seed)
    examples = []
    for i in range(count):
        bases = [rng.choice("ACT") for _ in range(12)]
        label = "GT" if i % 2 else "none"
        if label == "GT":
            at = rng.randrange(9)
            bases[at : at + 4] = "GGTA"
        examples.append((bases, label))
    return ClassificationData("motif", examples[:160], examples[160:200], examples[200:], ["GT", "none"])


def test_per_class_accuracy_hand_made():
    scores = per_class_accuracy([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 2, 0], ["a", "b", "c"])
    assert scores["accuracy"] == pytest.approx(4 / 6)
    assert scores["per_class"] == pytest.approx({"a": 0.5, "b": 0.5, "c": 1.0})
    assert scores["confusion"] == [[1, 0, 1], [1, 1, 0], [0, 0, 2]]


@pytest.mark.parametrize("pooling", ["max", "mean", "last"])
def test_pooling_ignores_padding(pooling):
    torch.manual_seed(0)
    options = ClassifierOptions(hidden_size=8, embedding_dim=4, pooling=pooling, positions=4)
    model = SequenceClassifier(6, 3, options).eval()
    alone = model(torch.tensor([[2, 3, 4]]), torch.tensor([3]))
    padded = model(torch.tensor([[2, 3, 4, 0, 0], [5, 5, 5, 5, 5]]), torch.tensor([3, 5]))
    assert torch.allclose(alone[0], padded[0], atol=1e-6)


def test_train_loss_falls_and_round_trip(tmp_path):
    torch.set_num_threads(1)
    data = _motif_data()
    fit = FitOptions(steps=60, batch_size=16, lr=1e-2, warmup_steps=2, validate_every=30)
    model, record = train_classifier(data, tmp_path, TINY, fit)
    losses = [r["loss"] for r in read_metrics(tmp_path / "checkpoints" / "metrics.jsonl") if r["kind"] == "train"]
    assert sum(losses[-10:]) < sum(losses[:10]) * 0.8
    assert set(record["test_per_class"]) == {"GT", "none"}
    loaded, vocab, labels, config = load_classifier(tmp_path)
    assert labels == ["GT", "none"] and config["dataset"] == "motif"
    encoded = [ids for ids, _ in data.encode(data.test)]
    assert predict(loaded, encoded) == predict(model, encoded)
    alone = evaluate_classifier(model, data.encode(data.test), data.labels)
    assert evaluate_ensemble([(loaded, vocab)], data) == alone
    assert evaluate_ensemble([(loaded, vocab), (model, vocab)], data, "test") == alone  # twins


@needs_shared
def test_splice_split_is_stratified_and_seeded():
    data = load_classification("splice", SHARED_DATA / "text")
    assert (len(data.train), len(data.dev), len(data.test)) == (2552, 320, 318)
    counts = {label: sum(lab == label for _, lab in data.test) for label in data.labels}
    assert counts == {"EI": 76, "IE": 77, "N": 165}
    assert load_classification("splice", SHARED_DATA / "text").test == data.test


@needs_shared
def test_cli_sst2_few_steps(tmp_path, capsys):
    out = tmp_path / "sst2"
    args = ["classify", "train", "--task", "sst2", "--data", str(SHARED_DATA / "text"), "-o", str(out),
            "--hidden-size", "8", "--embedding-dim", "8", "--steps", "3", "--threads", "1"]
    assert main(args) == 0
    assert main(["classify", "predict", str(out), "a great film"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].endswith("\ta great film")
    assert main([*args[:7], str(tmp_path / "other"), *args[8:], "--seed", "1"]) == 0
    capsys.readouterr()
    data = str(SHARED_DATA / "text")
    assert main(["classify", "evaluate", str(out), str(tmp_path / "other"), "--data", data, "--split", "dev"]) == 0
    assert capsys.readouterr().out.startswith("sst2 (2-model ensemble) dev: accuracy")


def test_cli_missing_data(tmp_path, capsys):
    args = ["classify", "train", "--task", "splice", "--data", str(tmp_path), "-o", str(tmp_path / "m")]
    assert main(args) == 2
    assert "no such data file" in capsys.readouterr().err


def test_ensemble_averages_probabilities():
    torch.manual_seed(0)
    model = SequenceClassifier(6, 2, TINY).eval()
    inputs = [[2, 3, 4], [5, 5], [4, 2, 2, 3], [3], [2, 5, 4]]
    own = predict(model, inputs)
    assert predict_ensemble([(model, inputs)]) == own
    undecided = SequenceClassifier(6, 2, TINY).eval()  # uniform probabilities: changes nothing
    torch.nn.init.zeros_(undecided.head.weight)
    torch.nn.init.zeros_(undecided.head.bias)
    assert predict_ensemble([(model, inputs), (undecided, inputs)]) == own
    sure = SequenceClassifier(6, 2, TINY).eval()  # always class 1 with probability ~1: outvotes
    torch.nn.init.zeros_(sure.head.weight)
    sure.head.bias.data = torch.tensor([-20.0, 20.0])
    assert predict_ensemble([(model, inputs), (sure, inputs)]) == [1] * len(inputs)


def test_adversarial_perturbation_has_norm_epsilon_and_raises_the_loss():
    torch.manual_seed(0)
    model = SequenceClassifier(8, 2, TINY).eval()
    tokens, lengths = torch.tensor([[2, 3, 4, 5], [6, 7, 0, 0]]), torch.tensor([4, 2])
    labels = torch.tensor([0, 1])
    embedded = model.embed(tokens)
    loss_of = lambda x: torch.nn.functional.cross_entropy(model.classify(x, lengths), labels)  # noqa: E731
    perturbation = adversarial_perturbation(loss_of(embedded), embedded, epsilon=0.5)
    assert not perturbation.requires_grad
    torch.testing.assert_close(perturbation.flatten(1).norm(dim=1), torch.tensor([0.5, 0.5]))
    assert perturbation[1, 2:].abs().max() == 0  # padding is left alone
    attacked = loss_of(embedded + perturbation).item()
    random = torch.randn_like(perturbation)
    random = 0.5 * random / random.flatten(1).norm(dim=1)[:, None, None]
    assert attacked > loss_of(embedded).item() and attacked > loss_of(embedded + random).item()


def test_adversarial_training_learns(tmp_path):
    torch.set_num_threads(1)
    data = _motif_data()
    options = ClassifierOptions(hidden_size=16, embedding_dim=8, dropout=0.0, adversarial=0.5)
    fit = FitOptions(steps=60, batch_size=16, lr=1e-2, warmup_steps=2, validate_every=30)
    _, record = train_classifier(data, tmp_path, options, fit)
    rows = [r for r in read_metrics(tmp_path / "checkpoints" / "metrics.jsonl") if r["kind"] == "train"]
    assert all(r["adversarial_loss"] >= r["clean_loss"] - 0.05 for r in rows)
    assert sum(r["clean_loss"] for r in rows[-10:]) < sum(r["clean_loss"] for r in rows[:10]) * 0.8
    assert load_classifier(tmp_path)[3]["model"]["adversarial"] == 0.5


@needs_shared
def test_cli_sst2_pretraining_adds_the_unlabelled_words(tmp_path, capsys):
    extra = tmp_path / "extra.txt"
    extra.write_text("A zyzzyvas-laden plot.\t0\nThe zyzzyvas were wonderful!\n\n", encoding="utf-8")
    out = tmp_path / "sst2"
    args = ["classify", "train", "--task", "sst2", "--data", str(SHARED_DATA / "text"), "-o", str(out),
            "--hidden-size", "8", "--embedding-dim", "8", "--steps", "2", "--threads", "1",
            "--pretrain-steps", "3", "--pretrain-text", str(extra)]
    assert main(args) == 0
    _, vocab, _, config = load_classifier(out)
    assert "zyzzyvas-laden" in vocab.index and "zyzzyvas" in vocab.index and "!" in vocab.index
    pretrain = config["training"]["pretrain"]
    assert pretrain["steps"] == 3 and pretrain["unlabelled_sentences"] == 2
    assert pretrain["first_loss"] > 0


def test_pretraining_before_labels_learns_the_motif(tmp_path):
    torch.set_num_threads(1)
    data = _motif_data()
    data.unlabelled = [list("ACNNTGCA")]
    fit = FitOptions(steps=60, batch_size=16, lr=1e-2, warmup_steps=2, validate_every=30)
    pretrain = FitOptions(steps=30, batch_size=16, lr=1e-2, warmup_steps=2, amp=False)
    model, record = train_classifier(data, tmp_path, TINY, fit, pretrain)
    assert "N" in data.vocab.index and record["pretrain"]["steps"] == 30
    assert record["pretrain"]["last_loss"] < record["pretrain"]["first_loss"]
    assert record["test_accuracy"] > 0.8


def test_labelled_sentences_split_at_newlines_only(tmp_path):
    path = tmp_path / "extra.txt"
    path.write_text("Great\u0085 food, awful service.\t0\nLoved it!\t1\n\n", encoding="utf-8")
    assert read_labelled_sentences(path) == [(["great", "food", ",", "awful", "service", "."], "0"),
                                             (["loved", "it", "!"], "1")]
    path.write_text("no label here\n", encoding="utf-8")
    with pytest.raises(InputError, match="line 1: expected sentence<TAB>label"):
        read_labelled_sentences(path)


def test_extra_training_sentences_need_known_labels(tmp_path):
    data = _motif_data()
    path = tmp_path / "extra.txt"
    path.write_text("A C G T\tyes\n", encoding="utf-8")
    with pytest.raises(InputError, match="labels \\['yes'\\] are not among"):
        data.add_training(path)


@needs_shared
def test_cli_sst2_extra_training_sentences(tmp_path):
    uci = SHARED_DATA / "text" / "uci_sentiment_labelled_sentences"
    out = tmp_path / "sst2"
    args = ["classify", "train", "--task", "sst2", "--data", str(SHARED_DATA / "text"), "-o", str(out),
            "--hidden-size", "8", "--embedding-dim", "8", "--steps", "2", "--threads", "1",
            "--extra-train", str(uci / "amazon_cells_labelled.txt"), str(uci / "yelp_labelled.txt")]
    assert main(args) == 0
    _, vocab, _, config = load_classifier(out)
    extra = config["training"]["extra_train"]
    assert [entry.rsplit(" (", 1)[1] for entry in extra] == ["1000 sentences)", "1000 sentences)"]
    assert "headset" in vocab.index  # a word of the Amazon reviews, absent from SST-2's training sentences
