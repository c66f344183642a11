"""The CRF head: loss and decoders against brute force, gradients, training, model
directories and basecalling real reads with a CRF model."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from basecaller.crf import CRFLayout, crf_decode, crf_loss, log_partition, step_posteriors, viterbi
from basecaller.crf.decode import beam_search
from basecaller.crf.loss import label_scores


def _all_paths(state_len: int, steps: int):
    """Every (start state, choice per step) path: choice 0 stays, b + 1 moves emitting b.
    Yields the score indices (t, dest state, transition) and the emitted bases (start k-mer
    included), worked out from the k-mer definition, independently of CRFLayout's tables."""
    states = 4 ** state_len
    for start in range(states):
        for choices in itertools.product(range(5), repeat=steps):
            state, index = start, []
            bases = [(start // 4 ** (state_len - 1 - i)) % 4 for i in range(state_len)]
            for t, choice in enumerate(choices):
                if choice == 0:
                    index.append((t, state, 0))
                else:
                    dropped = state // 4 ** (state_len - 1)
                    state = (state * 4 + choice - 1) % states
                    index.append((t, state, dropped + 1))
                    bases.append(choice - 1)
            yield start, choices, index, tuple(bases)


def _brute(scores: np.ndarray, state_len: int):
    """(log Z, {emitted bases: log sum of their paths}, best score, best path) of (T, S*5) scores."""
    w = scores.reshape(scores.shape[0], -1, 5)
    totals, by_bases, best = [], {}, (-np.inf, None)
    for start, choices, index, bases in _all_paths(state_len, w.shape[0]):
        total = sum(w[t, s, j] for t, s, j in index)
        totals.append(total)
        by_bases[bases] = np.logaddexp(by_bases.get(bases, -np.inf), total)
        if total > best[0]:
            best = (total, (start, choices, bases))
    return np.logaddexp.reduce(totals), by_bases, best


@pytest.mark.parametrize("state_len", [1, 2])
def test_loss_equals_brute_force_enumeration(state_len):
    rng = np.random.default_rng(state_len)
    steps, batch = 4, 3
    scores = rng.normal(0, 1.5, (steps, batch, 4 ** state_len * 5))
    labels = [[1, 3], [2, 2, 4], [4, 1, 1, 3, 2]][:batch]
    if state_len == 2:
        labels = [[1, 3, 2], [2, 2, 4, 4], [4, 1, 1, 3, 2, 2]]
    width = max(map(len, labels))
    targets = torch.tensor([lab + [0] * (width - len(lab)) for lab in labels])
    lengths = torch.tensor([len(lab) for lab in labels])
    logz = log_partition(torch.tensor(scores), state_len).numpy()
    label = label_scores(torch.tensor(scores), targets, lengths, state_len).numpy()
    losses = []
    for n, lab in enumerate(labels):
        brute_z, by_bases, _ = _brute(scores[:, n], state_len)
        truth = tuple(b - 1 for b in lab)
        assert logz[n] == pytest.approx(brute_z, abs=1e-9)
        assert label[n] == pytest.approx(by_bases[truth], abs=1e-9)
        losses.append((brute_z - by_bases[truth]) / len(lab))
    loss = crf_loss(torch.tensor(scores), targets, lengths, state_len)
    assert float(loss) == pytest.approx(np.mean(losses), abs=1e-9)
    # float32 and bf16 autocast give the same loss (the recursion runs in float32)
    loss32 = crf_loss(torch.tensor(scores, dtype=torch.float32), targets, lengths, state_len)
    assert float(loss32) == pytest.approx(np.mean(losses), abs=1e-4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss_bf16 = crf_loss(torch.tensor(scores, dtype=torch.float32).bfloat16(), targets, lengths, state_len)
    assert loss_bf16.dtype == torch.float32
    assert float(loss_bf16) == pytest.approx(np.mean(losses), rel=0.05)


def test_unalignable_labels_count_zero():
    scores = torch.randn(3, 2, 4 * 5)
    targets = torch.tensor([[1, 2, 3, 4, 1, 2], [1, 2, 0, 0, 0, 0]])
    loss = crf_loss(scores, targets, torch.tensor([6, 2]), 1)  # 5 moves in 3 steps: impossible
    alone = crf_loss(scores[:, 1:], targets[1:, :2], torch.tensor([2]), 1)
    assert torch.isfinite(loss) and float(loss) == pytest.approx(float(alone), abs=1e-6)


def test_gradcheck_float64():
    torch.manual_seed(0)
    scores = torch.randn(5, 2, 16 * 5, dtype=torch.float64, requires_grad=True)
    targets = torch.tensor([[1, 4, 2, 2], [3, 1, 0, 0]])
    lengths = torch.tensor([4, 2])
    assert torch.autograd.gradcheck(lambda s: crf_loss(s, targets, lengths, 2), (scores,), eps=1e-6, atol=1e-6)
    assert torch.autograd.gradcheck(lambda s: log_partition(s, 1), (scores[:, :, :20].detach().requires_grad_(),))


@pytest.mark.parametrize("state_len", [1, 2])
def test_viterbi_equals_brute_force(state_len):
    rng = np.random.default_rng(10 + state_len)
    for _ in range(3):
        scores = rng.normal(0, 2.0, (4, 4 ** state_len * 5)).astype(np.float32)
        _, _, (best, (start, choices, bases)) = _brute(scores.astype(np.float64), state_len)
        states, moves, score = viterbi(scores, state_len)
        assert score == pytest.approx(best, abs=1e-4)
        assert states[0] == start
        assert moves.tolist() == [int(c != 0) for c in choices]
        decoded = crf_decode(scores, state_len, include_start=True)
        assert decoded.sequence == "".join("ACGT"[b] for b in bases)
        assert crf_decode(scores, state_len).sequence == decoded.sequence[state_len:]


def test_posteriors_equal_brute_force():
    rng = np.random.default_rng(3)
    scores = rng.normal(0, 1.0, (4, 4 * 4 * 5))
    w = scores.reshape(4, -1, 5)
    table = np.zeros((4, 5))
    logz = -np.inf
    for _, choices, index, _ in _all_paths(2, 4):
        total = sum(w[t, s, j] for t, s, j in index)
        logz = np.logaddexp(logz, total)
        for t, choice in enumerate(choices):
            table[t, choice] += np.exp(total)
    np.testing.assert_allclose(step_posteriors(scores.astype(np.float32), 2), table / np.exp(logz), atol=1e-5)


def _peaked_scores(rng, bases: np.ndarray, state_len: int, steps_per_base: int = 4, noise: float = 1.0):
    """Scores that favour one path through ``bases``: a move into each k-mer, then stays."""
    layout = CRFLayout(state_len)
    kmers = layout.states_of(bases)
    steps = len(kmers) * steps_per_base
    w = rng.normal(0, noise, (steps, layout.num_states, 5)).astype(np.float32)
    for i, kmer in enumerate(kmers):
        t = i * steps_per_base
        if i:
            w[t, kmer, bases[i - 1] + 1] += 6.0
        w[t + 1:t + steps_per_base, kmer, 0] += 6.0
        if not i:
            w[t, kmer, 0] += 6.0
    return w.reshape(steps, -1), "".join("ACGT"[b] for b in bases)


def test_segmented_and_beam_decoding_agree_with_exact_viterbi():
    rng = np.random.default_rng(5)
    bases = rng.integers(0, 4, 900)
    scores, truth = _peaked_scores(rng, bases, 3)
    exact = crf_decode(scores, 3, core=None)
    assert exact.sequence == truth[3:]
    segmented = crf_decode(scores, 3)  # 3600 steps: 9 segments
    assert segmented.sequence == exact.sequence
    np.testing.assert_array_equal(segmented.moves, exact.moves)
    assert np.abs(segmented.qualities.astype(int) - exact.qualities).max() <= 1
    assert crf_decode(scores, 3, beam_size=5).sequence == exact.sequence
    assert segmented.moves.sum() == len(segmented.sequence) == len(segmented.qualities)
    assert len(segmented.moves) == len(scores)


def test_beam_search_sums_paths_that_viterbi_splits():
    """Two stays of one prefix beat one slightly better single path: the beam finds it."""
    rng = np.random.default_rng(8)
    layout = CRFLayout(1)
    for _ in range(20):
        scores = rng.normal(0, 1.5, (4, layout.num_scores)).astype(np.float32)
        _, by_bases, _ = _brute(scores.astype(np.float64), 1)
        best_bases = max(by_bases, key=by_bases.get)
        states, moves = beam_search(scores[None], 1, beam_size=64)
        bases = [int(states[0, 0])] + [int(states[0, t + 1]) for t in range(4) if moves[0, t]]
        assert tuple(bases) == best_bases
