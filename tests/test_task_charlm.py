"""Character language model: nats/char, sampling, training, model directory, CLI."""

from __future__ import annotations

import math

import torch
from conftest import SHARED_DATA, needs_shared

from basecaller.cli import main
from basecaller.tasks.charlm import (
    CharLM,
    CharLMOptions,
    _pick,
    batchify,
    evaluate_nats,
    load_charlm,
    sample,
    train_charlm,
)
from basecaller.tasks.text_data import Vocab
from basecaller.training.fit import FitOptions

TINY = CharLMOptions(hidden_size=32, embedding_dim=16, window=16)
TEXT = "the cat sat on the mat. " * 60


def _train_losses(result_dir) -> list[float]:
    from basecaller.training import read_metrics

    return [r["loss"] for r in read_metrics(result_dir / "checkpoints" / "metrics.jsonl") if r["kind"] == "train"]


def test_uniform_model_scores_ln_vocab():
    model = CharLM(7, TINY)
    torch.nn.init.zeros_(model.head.weight)
    torch.nn.init.zeros_(model.head.bias)
    ids = torch.randint(0, 7, (500,))
    assert math.isclose(evaluate_nats(model, ids, streams=4, window=32), math.log(7), rel_tol=1e-6)


def test_batchify_rows_are_contiguous():
    rows = batchify(torch.arange(10), 3)
    assert rows.tolist() == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]


def test_pick_respects_top_k_and_temperature():
    logits = torch.tensor([0.0, 3.0, 2.0, 1.0])
    generator = torch.Generator().manual_seed(0)
    drawn = {_pick(logits, 1.0, 2, generator) for _ in range(200)}
    assert drawn == {1, 2}
    assert _pick(logits, 0.0, None, generator) == 1
    assert _pick(logits, 5.0, 1, generator) == 1


def test_train_loss_falls_and_model_dir_round_trip(tmp_path):
    torch.set_num_threads(1)
    fit = FitOptions(steps=40, batch_size=8, lr=1e-2, warmup_steps=2, validate_every=20)
    model, vocab, record = train_charlm(TEXT, tmp_path, TINY, fit)
    losses = _train_losses(tmp_path)
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5 - 0.5
    assert record["val_loss_nats"] < math.log(len(vocab))
    loaded, loaded_vocab, config = load_charlm(tmp_path)
    assert loaded_vocab.tokens == vocab.tokens and config["training"]["steps"] == 40
    ids = torch.tensor([vocab.encode("the cat")])
    model.eval()
    assert torch.allclose(model(ids)[0], loaded(ids)[0])
    # top-k = 1 is deterministic whatever the generator
    a = sample(loaded, vocab, "the ", 30, top_k=1, generator=torch.Generator().manual_seed(1))
    b = sample(loaded, vocab, "the ", 30, top_k=1, generator=torch.Generator().manual_seed(2))
    assert a == b and a.startswith("the ") and len(a) == 34


def test_sample_rejects_unknown_prompt_characters():
    model, vocab = CharLM(3, TINY), Vocab(list("abc"))
    try:
        sample(model, vocab, "abz", 5)
    except ValueError as error:
        assert "z" in str(error)
    else:
        raise AssertionError("expected ValueError")


def test_cli_train_evaluate_sample(tmp_path, capsys):
    data = tmp_path / "text.txt"
    data.write_text(TEXT)
    out = tmp_path / "lm"
    args = ["lm", "train", "--data", str(data), "-o", str(out), "--hidden-size", "16", "--window", "16",
            "--steps", "5", "--batch-size", "4", "--threads", "1", "--cell", "gru"]
    assert main(args) == 0
    assert main(["lm", "evaluate", str(out), "--data", str(data)]) == 0
    assert "nats/char" in capsys.readouterr().out
    assert main(["lm", "sample", str(out), "--prompt", "the", "--length", "10", "--top-k", "1"]) == 0
    assert capsys.readouterr().out.startswith("the")
    assert main(["lm", "train", "--data", str(tmp_path / "nope.txt"), "-o", str(out)]) == 2
    assert "no such data file" in capsys.readouterr().err


@needs_shared
def test_shakespeare_slice_loss_falls(tmp_path):
    text = (SHARED_DATA / "text" / "tinyshakespeare" / "input.txt").read_text()[:20000]
    fit = FitOptions(steps=30, batch_size=8, lr=1e-2, warmup_steps=2, validate_every=30)
    train_charlm(text, tmp_path, TINY, fit)
    losses = _train_losses(tmp_path)
    assert sum(losses[-5:]) < sum(losses[:5])
