"""Task model directories and the text readers."""

from __future__ import annotations

import pytest
import torch
from conftest import SHARED_DATA, needs_shared

from basecaller.errors import InputError
from basecaller.tasks.model_dir import load_task_model, save_task_model
from basecaller.tasks.text_data import (
    Vocab,
    read_conll,
    read_splice,
    read_sst2,
    split_fraction,
    stratified_split,
)

TEXT = SHARED_DATA / "text"


def test_model_dir_round_trip_drops_none(tmp_path):
    model = torch.nn.Linear(3, 2)
    save_task_model(tmp_path / "m", {"task": "demo", "model": {"a": 1, "b": None}}, model)
    config, state = load_task_model(tmp_path / "m", "demo")
    assert config == {"task": "demo", "model": {"a": 1}}
    assert torch.equal(state["weight"], model.weight.detach())
    assert not list((tmp_path / "m").glob("*.tmp*"))


def test_model_dir_errors(tmp_path):
    with pytest.raises(InputError, match="not a model directory"):
        load_task_model(tmp_path)
    save_task_model(tmp_path, {"task": "demo"}, torch.nn.Linear(1, 1))
    with pytest.raises(InputError, match="not 'charlm'"):
        load_task_model(tmp_path, "charlm")
    with pytest.raises(ValueError):
        save_task_model(tmp_path, {}, torch.nn.Linear(1, 1))


def test_vocab_specials_and_unknowns():
    vocab = Vocab.build("b a a c".split())
    assert vocab.tokens == ["<pad>", "<unk>", "a", "b", "c"]
    assert vocab.encode(["a", "zz"]) == [2, 1]
    assert vocab.decode([2, 3], " ") == "a b"


def test_stratified_split_keeps_class_proportions():
    labels = ["x"] * 80 + ["y"] * 20
    train, dev, test = stratified_split(labels, (0.8, 0.1, 0.1), seed=3)
    assert sorted(train + dev + test) == list(range(100))
    assert sum(labels[i] == "y" for i in train) == 16
    assert sum(labels[i] == "y" for i in dev) == 2
    assert stratified_split(labels, (0.8, 0.1, 0.1), seed=3)[0] == train


def test_readers_on_small_files(tmp_path):
    (tmp_path / "s.txt").write_text("1 a fine film\n0 dull .\n")
    assert read_sst2(tmp_path / "s.txt") == [(["a", "fine", "film"], 1), (["dull", "."], 0)]
    (tmp_path / "c.txt").write_text("-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\n\nHi\tO\n")
    assert read_conll(tmp_path / "c.txt") == [(["EU", "rejects"], ["B-ORG", "O"]), (["Hi"], ["O"])]
    (tmp_path / "d.data").write_text("EI,    X-1,     acgt\nN,  Y-2,  TTGA\n")
    assert read_splice(tmp_path / "d.data") == [("ACGT", "EI"), ("TTGA", "N")]
    assert split_fraction("abcdefghij") == ("abcdefghi", "j")
    with pytest.raises(InputError, match="no such data file"):
        read_sst2(tmp_path / "missing")


@needs_shared
def test_shared_text_counts():
    assert len(read_sst2(TEXT / "sst2" / "stsa.binary.train")) == 6920
    assert len(read_conll(TEXT / "conll2003" / "test.txt")) == 3453
    assert len(read_conll(TEXT / "wnut17" / "wnut17train.conll")) == 3394
    splice = read_splice(TEXT / "dna_uci" / "splice.data")
    assert len(splice) == 3190 and all(len(s) == 60 for s, _ in splice)
    text = (TEXT / "tinyshakespeare" / "input.txt").read_text()
    assert [len(part) for part in split_fraction(text)] == [1_003_854, 111_540]
