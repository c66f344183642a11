"""NER tagger: seqeval scores on hand-labelled tags, casing, training, model directory, CLI."""

from __future__ import annotations

import pytest
import torch
from conftest import SHARED_DATA, needs_shared

from basecaller.cli import main
from basecaller.tasks.fit import FitOptions
from basecaller.tasks.tagger import (
    CASINGS,
    TaggerOptions,
    TaggingData,
    WordTagger,
    casing,
    entity_scores,
    load_tagger,
    load_tagging,
    pack_sentences,
    predict_tags,
    train_tagger,
)
from basecaller.training import read_metrics


def test_entity_scores_hand_labelled():
    truth = [["B-PER", "I-PER", "O", "B-LOC"], ["O", "B-ORG", "I-ORG"]]
    # PER right; LOC missed; ORG span wrong (too short); an extra MISC.
    predicted = [["B-PER", "I-PER", "O", "O"], ["B-MISC", "B-ORG", "O"]]
    scores = entity_scores(truth, predicted)
    assert scores["precision"] == pytest.approx(100 / 3)  # 1 of 3 predicted entities
    assert scores["recall"] == pytest.approx(100 / 3)  # 1 of 3 true entities
    assert scores["f1"] == pytest.approx(100 / 3)
    assert scores["per_type_f1"]["PER"] == 100.0 and scores["per_type_f1"]["ORG"] == 0.0
    assert entity_scores(truth, truth)["f1"] == 100.0


def test_casing_classes():
    kinds = [CASINGS[casing(w)] for w in ["paris", "EU", "Paris", "1996", "A4", "-"]]
    assert kinds == ["lower", "upper", "title", "numeric", "has_digit", "other"]


def _toy_data() -> TaggingData:
    """Capitalised words after "in" are places; "Mr" starts a person."""
    sentences = []
    for name in ["Paris", "Rome", "Oslo", "Lima", "Bern", "Kyiv"] * 6:
        sentences.append((["we", "met", "in", name, "."], ["O", "O", "O", "B-LOC", "O"]))
        sentences.append((["Mr", name, "came"], ["B-PER", "I-PER", "O"]))
    return TaggingData("toy", sentences[:60], sentences[60:66], sentences[66:])


@pytest.mark.parametrize(("char_features", "crf"), [("rnn", True), ("cnn", False)])
def test_train_loss_falls_and_round_trip(tmp_path, char_features, crf):
    torch.set_num_threads(1)
    options = TaggerOptions(hidden_size=16, word_dim=8, char_dim=8, char_hidden=8, dropout=0.0,
                            char_features=char_features, cell="gru", crf=crf)
    fit = FitOptions(steps=40, batch_size=8, lr=1e-2, warmup_steps=2, validate_every=20)
    model, encoders, record = train_tagger(_toy_data(), tmp_path, options, fit)
    losses = [r["loss"] for r in read_metrics(tmp_path / "checkpoints" / "metrics.jsonl") if r["kind"] == "train"]
    assert sum(losses[-5:]) < sum(losses[:5]) * 0.5
    loaded, loaded_encoders, config = load_tagger(tmp_path)
    sentences = [["we", "met", "in", "Rome", "."], ["Mr", "Oslo"]]
    assert predict_tags(loaded, loaded_encoders, sentences) == predict_tags(model, encoders, sentences)
    assert [len(t) for t in predict_tags(loaded, loaded_encoders, sentences)] == [5, 2]


def test_train_on_dev_learns_dev_words_and_keeps_the_last_weights(tmp_path):
    data = _toy_data()
    data.dev = [(["we", "met", "in", "Zurich", "."], ["O", "O", "O", "B-LOC", "O"])]
    options = TaggerOptions(hidden_size=8, word_dim=4, char_dim=4, char_hidden=4)
    _, encoders, record = train_tagger(data, tmp_path, options, FitOptions(steps=4, validate_every=2),
                                       train_on_dev=True)
    assert "zurich" in encoders.words.index and record["trained_on"] == "train+dev"
    assert record["best_step"] is None and record["steps"] == 4


def test_pack_sentences_keeps_documents_apart_and_under_the_budget():
    lengths, documents = [3, 4, 2, 9, 1, 1], [0, 0, 0, 0, 1, 1]
    assert pack_sentences(lengths, documents, 8) == [[0, 1], [2], [3], [4, 5]]
    assert pack_sentences(lengths, documents, 0) == [[i] for i in range(6)]
    assert pack_sentences(lengths, None, 8) == [[i] for i in range(6)]


def test_context_model_tags_every_sentence_back(tmp_path):
    data = _toy_data()
    data.documents = {split: [i // 4 for i in range(len(getattr(data, split)))] for split in ("train", "dev", "test")}
    options = TaggerOptions(hidden_size=16, word_dim=8, char_dim=8, char_hidden=8, dropout=0.0, cell="gru",
                            context_tokens=12)
    model, encoders, record = train_tagger(data, tmp_path, options, FitOptions(steps=60, batch_size=8, lr=1e-2))
    sentences = [words for words, _ in data.test]
    tags = predict_tags(model, encoders, sentences, data.documents["test"])
    assert [len(t) for t in tags] == [len(s) for s in sentences]
    assert record["test_f1"] > 50
    loaded, loaded_encoders, _ = load_tagger(tmp_path)
    assert predict_tags(loaded, loaded_encoders, sentences, data.documents["test"]) == tags


def test_crf_decoding_follows_transitions():
    """Viterbi with a forbidden O -> I-PER transition picks B-PER where the per-word argmax
    would give the invalid "O I-PER"; without the CRF the argmax is returned."""
    tags = ["O", "B-PER", "I-PER"]
    model = WordTagger(4, 4, 3, TaggerOptions(crf=True))
    with torch.no_grad():
        model.crf.start_transitions.zero_()
        model.crf.end_transitions.zero_()
        model.crf.transitions.zero_()
        model.crf.transitions[0, 2] = -100.0  # O -> I-PER
    emissions = torch.tensor([[[2.0, 1.5, 0.0], [0.0, 0.0, 3.0], [0.0, 0.0, 0.0]]])
    best = model.best_tags(emissions, torch.tensor([2]))
    assert [[tags[k] for k in row] for row in best] == [["B-PER", "I-PER"]]
    model.crf = None
    assert model.best_tags(emissions, torch.tensor([2])) == [[0, 2]]


def test_cli_tag(tmp_path, capsys):
    options = TaggerOptions(hidden_size=8, word_dim=4, char_dim=4, char_hidden=4)
    train_tagger(_toy_data(), tmp_path, options, FitOptions(steps=2, validate_every=2))
    assert main(["ner", "tag", str(tmp_path), "we met in Paris ."]) == 0
    assert capsys.readouterr().out.startswith("we/")
    assert main(["ner", "evaluate", str(tmp_path / "nope"), "--data", str(tmp_path)]) == 2


@needs_shared
def test_conll_and_wnut_load():
    conll = load_tagging("conll2003", SHARED_DATA / "text")
    assert (len(conll.train), len(conll.dev), len(conll.test)) == (14041, 3250, 3453)
    wnut = load_tagging("wnut17", SHARED_DATA / "text")
    assert (len(wnut.train), len(wnut.dev), len(wnut.test)) == (3394, 1009, 1287)
