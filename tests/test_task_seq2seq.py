"""Seq2seq: the genetic code, data splits, greedy vs beam decoding, training, CLI."""

from __future__ import annotations

import math

import torch
from torch import nn

from basecaller.cli import main
from basecaller.tasks.seq2seq import (
    BOS,
    EOS,
    Seq2SeqOptions,
    Vocabs,
    beam_decode,
    evaluate_seq2seq,
    greedy_decode,
    load_seq2seq,
    make_splits,
    train_seq2seq,
    translate_dna,
)
from basecaller.tasks.text_data import PAD, Vocab
from basecaller.training import read_metrics
from basecaller.training.fit import FitOptions


def test_genetic_code():
    assert translate_dna("ATGTGGTAATAGTGA") == "MW***"
    assert translate_dna("GCTGCCGCAGCG") == "AAAA" and translate_dna("TTTTTC") == "FF"
    assert translate_dna("ATGA") == "M"


def test_splits_are_disjoint_and_seeded():
    train, dev, test = make_splits("reverse", (300, 50, 50), 3, 6, seed=1)
    assert all(t == s[::-1] for s, t in train)
    assert not {s for s, _ in train} & {s for s, _ in test + dev}
    assert make_splits("reverse", (300, 50, 50), 3, 6, seed=1)[2] == test


class _Markov(nn.Module):
    """A stand-in decoder whose next-token probabilities depend only on the last token.

    From <s>: A 0.6, B 0.4; after A: </s> 0.4, C 0.3, D 0.3; after B, C, D: </s>.
    Greedy picks "A" (p = 0.24); beam search finds "B" (p = 0.4).
    """

    tokens = [PAD, BOS, EOS, "A", "B", "C", "D"]

    def __init__(self):
        super().__init__()
        self.options = Seq2SeqOptions(max_target_ratio=4.0)
        self.dummy = nn.Parameter(torch.zeros(1))
        table = torch.full((7, 7), 1e-9)
        table[1, 3], table[1, 4] = 0.6, 0.4
        table[3, 2], table[3, 5], table[3, 6] = 0.4, 0.3, 0.3
        table[4:, 2] = 1.0
        self.log_table = table.log()

    def encode(self, source, lengths):
        n = source.shape[0]
        return torch.zeros(n, source.shape[1], 1), torch.ones(n, source.shape[1], dtype=torch.bool), torch.zeros(1, n, 1)

    def decode(self, tokens, state, memory, mask):
        return self.log_table[tokens[:, -1]][:, None, :], state


def test_beam_beats_greedy_on_a_hand_made_model():
    model = _Markov()
    vocabs = Vocabs(Vocab(["<pad>", "x"]), Vocab(_Markov.tokens))
    assert greedy_decode(model, vocabs, ["x"]) == ["A"]
    assert beam_decode(model, vocabs, "x", beam_size=1) == "A"
    assert beam_decode(model, vocabs, "x", beam_size=2) == "B"
    assert math.isclose(0.6 * 0.4, 0.24)


def test_train_loss_falls_beam1_matches_greedy_and_round_trip(tmp_path, capsys):
    torch.set_num_threads(1)
    train, dev, test = make_splits("reverse", (400, 20, 20), 2, 5, seed=0)
    options = Seq2SeqOptions(hidden_size=16, embedding_dim=8, dropout=0.0)
    fit = FitOptions(steps=40, batch_size=32, lr=1e-2, warmup_steps=2, validate_every=20)
    model, vocabs, record = train_seq2seq(train, dev, test, tmp_path, options, fit, beam_size=2)
    losses = [r["loss"] for r in read_metrics(tmp_path / "checkpoints" / "metrics.jsonl") if r["kind"] == "train"]
    assert sum(losses[-5:]) < sum(losses[:5]) * 0.7
    sources = [s for s, _ in test]
    greedy = greedy_decode(model, vocabs, sources)
    assert [beam_decode(model, vocabs, s, beam_size=1) for s in sources] == greedy
    loaded, loaded_vocabs, _ = load_seq2seq(tmp_path)
    assert greedy_decode(loaded, loaded_vocabs, sources) == greedy
    assert 0 <= evaluate_seq2seq(loaded, loaded_vocabs, test, beam_size=2)["exact_match"] <= 1


def test_cli_train_evaluate_decode(tmp_path, capsys):
    out = str(tmp_path / "s2s")
    args = ["seq2seq", "train", "--task", "translate", "-o", out, "--train-size", "64", "--test-size", "8",
            "--min-len", "2", "--max-len", "4", "--hidden-size", "8", "--embedding-dim", "4", "--steps", "3", "--threads", "1"]
    assert main(args) == 0
    assert main(["seq2seq", "evaluate", out, "--beam-size", "2"]) == 0
    assert "exact match" in capsys.readouterr().out
    assert main(["seq2seq", "decode", out, "ATGGCC", "--beam-size", "2"]) == 0
    assert capsys.readouterr().out.startswith("ATGGCC\t")
    assert main(["seq2seq", "decode", out, "XYZ"]) == 2
    assert main(args + ["--min-len", "9"]) == 2
