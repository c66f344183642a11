"""NER tagger: seqeval scores on hand-labelled tags, casing, training, model directory, CLI."""

from __future__ import annotations

import pytest
import torch
from conftest import SHARED_DATA, needs_shared

from basecaller.cli import main
from basecaller.tasks.tagger import (
    CASINGS,
    Encoders,
    TaggerOptions,
    TaggingData,
    WordTagger,
    casing,
    collate,
    entity_scores,
    load_tagger,
    load_tagging,
    pack_sentences,
    predict_tags,
    predict_tags_ensemble,
    train_tagger,
)
from basecaller.tasks.text_data import Vocab
from basecaller.training import read_metrics
from basecaller.training.fit import FitOptions


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
def test_cli_evaluates_an_ensemble(tmp_path, capsys):
    data = str(SHARED_DATA / "text")
    for seed in ("0", "1"):
        args = ["ner", "train", "--task", "wnut17", "--data", data, "-o", str(tmp_path / seed),
                "--hidden-size", "8", "--word-dim", "8", "--char-hidden", "4", "--steps", "2",
                "--validate-every", "2", "--threads", "1", "--seed", seed]
        assert main(args) == 0
    capsys.readouterr()
    assert main(["ner", "evaluate", str(tmp_path / "0"), str(tmp_path / "1"), "--data", data, "--split", "dev"]) == 0
    assert capsys.readouterr().out.startswith("wnut17 (2-model ensemble) dev: F1")
    assert main(["ner", "tag", str(tmp_path / "0"), "I love Paris", "--ensemble", str(tmp_path / "1")]) == 0
    assert [pair.split("/")[0] for pair in capsys.readouterr().out.split()] == ["I", "love", "Paris"]


@needs_shared
def test_conll_and_wnut_load():
    conll = load_tagging("conll2003", SHARED_DATA / "text")
    assert (len(conll.train), len(conll.dev), len(conll.test)) == (14041, 3250, 3453)
    wnut = load_tagging("wnut17", SHARED_DATA / "text")
    assert (len(wnut.train), len(wnut.dev), len(wnut.test)) == (3394, 1009, 1287)


def _toy_tagger(crf: bool = True, seed: int = 0):
    torch.manual_seed(seed)
    data = _toy_data()
    encoders = Encoders.build(data.train, 20)
    options = TaggerOptions(hidden_size=8, word_dim=4, char_dim=4, char_hidden=4, crf=crf)
    model = WordTagger(len(encoders.words), len(encoders.chars), len(encoders.tags), options).eval()
    if crf:  # random transitions, so that Viterbi differs from a per-word argmax
        for name in ("start_transitions", "end_transitions", "transitions"):
            torch.nn.init.normal_(getattr(model.crf, name), std=2.0)
    return model, encoders, data


def _reordered(model: WordTagger, encoders: Encoders, order: list[int]):
    """The same tagger with its tag list permuted (tag ``order[k]`` becomes tag k)."""
    copy = WordTagger(len(encoders.words), len(encoders.chars), len(encoders.tags), model.options).eval()
    copy.load_state_dict(model.state_dict())
    index = torch.tensor(order)
    copy.head.weight.data, copy.head.bias.data = model.head.weight.data[index], model.head.bias.data[index]
    if model.crf is not None:
        copy.crf.start_transitions.data = model.crf.start_transitions.data[index]
        copy.crf.end_transitions.data = model.crf.end_transitions.data[index]
        copy.crf.transitions.data = model.crf.transitions.data[index][:, index]
    tags = Vocab([encoders.tags.tokens[k] for k in order])
    return copy, Encoders(encoders.words, encoders.chars, tags, encoders.max_word_chars)


@pytest.mark.parametrize("crf", [True, False])
def test_ensemble_of_one_is_the_model_and_tag_order_does_not_matter(crf):
    model, encoders, data = _toy_tagger(crf)
    sentences = [words for words, _ in data.train[:12]]
    *inputs, _ = collate([encoders.encode(words) for words in sentences])
    with torch.no_grad():
        own = [[encoders.tags.tokens[k] for k in row] for row in model.best_tags(model(*inputs), inputs[-1])]
    assert predict_tags_ensemble([(model, encoders)], sentences) == own
    order = list(reversed(range(len(encoders.tags))))
    twin, twin_encoders = _reordered(model, encoders, order)
    assert predict_tags(twin, twin_encoders, sentences) == own
    assert predict_tags_ensemble([(model, encoders), (twin, twin_encoders)], sentences) == own


def test_ensemble_averages_the_members_scores():
    model, encoders, data = _toy_tagger(crf=True, seed=0)
    other, _, _ = _toy_tagger(crf=True, seed=1)
    sentences = [words for words, _ in data.train[:12]]
    *inputs, _ = collate([encoders.encode(words) for words in sentences])
    with torch.no_grad():
        emissions = (model(*inputs) + other(*inputs)) / 2
    mean = WordTagger(len(encoders.words), len(encoders.chars), len(encoders.tags), model.options).eval()
    for name in ("start_transitions", "end_transitions", "transitions"):
        getattr(mean.crf, name).data = (getattr(model.crf, name).data + getattr(other.crf, name).data) / 2
    expected = [[encoders.tags.tokens[k] for k in row] for row in mean.best_tags(emissions, inputs[-1])]
    combined = predict_tags_ensemble([(model, encoders), (other, encoders)], sentences)
    assert combined == expected
    assert combined != predict_tags(model, encoders, sentences) or combined != predict_tags(other, encoders, sentences)


def test_ensemble_refuses_mixed_taggers():
    crf_model, encoders, _ = _toy_tagger(crf=True)
    softmax_model, _, _ = _toy_tagger(crf=False)
    with pytest.raises(ValueError, match="CRF and softmax"):
        predict_tags_ensemble([(crf_model, encoders), (softmax_model, encoders)], [["Mr", "Rome"]])
    fewer = Encoders(encoders.words, encoders.chars, Vocab(encoders.tags.tokens[:-1]), 20)
    with pytest.raises(ValueError, match="tag sets"):
        predict_tags_ensemble([(crf_model, encoders), (crf_model, fewer)], [["Mr", "Rome"]])
