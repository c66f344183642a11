"""CTC decoding, qualities and stitching on hand-made posteriors."""

import numpy as np
import pytest

from basecaller.ctc import (
    QscoreCalibration,
    beam_decode,
    decode_read,
    fit_qscore_calibration,
    greedy_decode,
    mean_qscore,
)


def path_log_probs(labels, p_top=0.96, floor=None):
    """Log-probabilities whose best path is ``labels`` (0 = blank, 1..4 = ACGT)."""
    p_top = np.broadcast_to(np.asarray(p_top, dtype=np.float32), (len(labels),))
    probs = np.empty((len(labels), 5), dtype=np.float32)
    probs[:] = ((1 - p_top) / 4)[:, None]
    probs[np.arange(len(labels)), labels] = p_top
    return np.log(probs)


def test_greedy_collapses_repeats_and_drops_blanks():
    #         b  A  A  b  C  C  C  G  b  b  T  T  b  T  A
    labels = [0, 1, 1, 0, 2, 2, 2, 3, 0, 0, 4, 4, 0, 4, 1]
    decoded = greedy_decode(path_log_probs(labels))
    assert decoded.sequence == "ACGTTA"
    assert decoded.moves.tolist() == [0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 1]
    assert decoded.moves.dtype == np.uint8 and decoded.moves.sum() == len(decoded.sequence)
    assert len(decoded.qualities) == len(decoded.sequence)


def test_greedy_empty_and_all_blank():
    decoded = greedy_decode(path_log_probs([0, 0, 0]))
    assert decoded.sequence == "" and decoded.moves.tolist() == [0, 0, 0]
    assert len(decoded.qualities) == 0


def test_beam_beats_best_path():
    # Each step: blank 0.4, A 0.35, C 0.25. The best path is blank-blank (""; 0.16), but
    # "A" collects AA + A- + -A = 0.1225 + 0.14 + 0.14 = 0.4025.
    probs = np.tile(np.array([0.4, 0.35, 0.25, 0.0, 0.0], dtype=np.float32), (2, 1))
    log_probs = np.log(np.maximum(probs, 1e-12))
    assert greedy_decode(log_probs).sequence == ""
    decoded = beam_decode(log_probs, beam_size=5)
    assert decoded.sequence == "A"
    assert decoded.moves.sum() == 1 and len(decoded.moves) == 2


def test_beam_matches_greedy_moves_on_a_sharp_path():
    labels = [0, 1, 1, 0, 2, 2, 2, 3, 0, 0, 4, 4, 0, 4, 1, 0]
    log_probs = path_log_probs(labels)
    greedy, beam = greedy_decode(log_probs), beam_decode(log_probs)
    assert beam.sequence == greedy.sequence == "ACGTTA"
    assert beam.moves.tolist() == greedy.moves.tolist()
    assert beam.qualities.tolist() == greedy.qualities.tolist()


def test_qualities_in_range_and_higher_when_confident():
    labels = [1, 0, 2, 0, 3, 0, 4]
    p_top = [0.999, 0.99, 0.6, 0.99, 0.9, 0.99, 0.9999999]
    for decode in (greedy_decode, beam_decode):
        quals = decode(path_log_probs(labels, p_top)).qualities
        assert quals.dtype == np.uint8 and np.all((quals >= 1) & (quals <= 50))
        assert quals[0] == 30 and quals[1] == 4 and quals[2] == 10  # -10 log10(1 - p)
        assert quals[3] >= 40
    assert quals[0] > quals[2] > quals[1]


def test_calibration_and_mean_qscore():
    labels = [1, 0, 2]
    quals = greedy_decode(path_log_probs(labels, 0.99), QscoreCalibration(0.5, 2.0)).qualities
    assert quals.tolist() == [12, 12]  # 0.5 * 20 + 2
    # dorado's mean: average the error probabilities, not the phred values
    assert mean_qscore(np.array([10, 30])) == pytest.approx(-10 * np.log10((0.1 + 0.001) / 2))
    assert mean_qscore(np.array([20, 20, 20])) == pytest.approx(20.0)
    mean_q = np.array([8.0, 10.0, 12.0, 14.0])
    a, b = fit_qscore_calibration(mean_q, 10 ** (-(0.5 * mean_q + 3) / 10))
    assert a == pytest.approx(0.5) and b == pytest.approx(3.0)


def test_decode_read_of_a_short_padded_read():
    stride, window_samples = 5, 100
    labels = [0, 1, 1, 0, 2, 0, 3, 0, 0, 4] + [0] * 10  # one padded window of 20 steps
    window = path_log_probs(labels)
    decoded = decode_read([window], [0], 48, window_samples, stride)
    assert decoded.sequence == "ACGT" and len(decoded.moves) == 10
    assert decode_read([window], [0], 48, window_samples, stride, beam_size=5).sequence == "ACGT"


def test_decode_read_across_windows_equals_decoding_the_whole_read():
    from basecaller.signal.chunk import window_starts

    stride, window_samples, overlap = 5, 100, 40
    rng = np.random.default_rng(3)
    labels = rng.choice([0, 0, 1, 2, 3, 4], size=300)
    full = path_log_probs(list(labels))  # (300, 5) over a 1500-sample read
    starts = window_starts(1500, window_samples, overlap, stride)
    windows = np.stack([full[s // stride : s // stride + window_samples // stride] for s in starts])
    assert len(windows) > 10
    assert decode_read(windows, starts, 1500, window_samples, stride).sequence == greedy_decode(full).sequence


def test_beam_moves_consistent_when_beam_differs_from_greedy():
    rng = np.random.default_rng(1)
    probs = rng.dirichlet(np.full(5, 0.3), size=400).astype(np.float32)
    log_probs = np.log(np.maximum(probs, 1e-12))
    greedy, beam = greedy_decode(log_probs), beam_decode(log_probs, beam_size=8)
    assert beam.sequence != greedy.sequence
    assert beam.moves.sum() == len(beam.sequence) == len(beam.qualities)
    assert len(beam.moves) == len(log_probs)


def test_move_bias_shifts_only_base_emitting_scores():
    from basecaller.models.contract import with_move_bias

    ctc = np.log(np.full((3, 5), 0.2, dtype=np.float32))
    shifted = with_move_bias(ctc, "ctc", 0.5)
    np.testing.assert_allclose(shifted[:, 0], ctc[:, 0] - 0.5)
    np.testing.assert_array_equal(shifted[:, 1:], ctc[:, 1:])
    crf = np.random.default_rng(0).normal(size=(4, 4**2 * 5)).astype(np.float32)
    moved = with_move_bias(crf, "crf", 0.25).reshape(4, -1, 5)
    np.testing.assert_array_equal(moved[:, :, 0], crf.reshape(4, -1, 5)[:, :, 0])
    np.testing.assert_allclose(moved[:, :, 1:], crf.reshape(4, -1, 5)[:, :, 1:] + 0.25)


def test_move_bias_calls_more_bases_and_round_trips_in_the_config():
    """Blank-dominated CTC steps: a large enough bias turns them into bases; the config keeps
    the bias through config.toml and leaves the key out when it is 0."""
    from dataclasses import replace

    from basecaller.models.config import ModelConfig, preset
    from basecaller.models.contract import decode_scores

    config = preset("fast")
    labels = [1, 0, 2, 0, 3, 0, 4]
    log_probs = path_log_probs(labels, p_top=0.5)
    log_probs[1, 4] = log_probs[3, 1] = np.log(0.45)  # a runner-up base (T, A) under two of the blanks
    assert decode_scores(log_probs, config).sequence == "ACGT"
    assert decode_scores(log_probs, replace(config, move_bias=0.05)).sequence == "ACGT"  # log 0.5 - 0.05 > log 0.45
    assert decode_scores(log_probs, replace(config, move_bias=1.0)).sequence == "ATCAGT"
    assert "move_bias" not in config.dumps()
    biased = replace(config, move_bias=0.35)
    assert ModelConfig.from_dict(biased.to_dict()).move_bias == 0.35
