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
    stitch_log_probs,
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


def cut_windows(full, num_samples, window_samples, overlap_samples, stride):
    """Cut like the window cutter: fixed step, last window aligned to the read end."""
    step = window_samples - overlap_samples
    starts = list(range(0, num_samples - window_samples, step)) + [num_samples - window_samples]
    starts = sorted(set(starts))
    offsets = [-(-s // stride) for s in starts]
    return [full[o : o + window_samples // stride] for o in offsets], starts


@pytest.mark.parametrize("num_samples", [5000, 4998, 4321, 1005])
def test_stitch_round_trip_is_exact(num_samples):
    stride, window_samples, overlap_samples = 5, 1000, 200
    rng = np.random.default_rng(num_samples)
    full = rng.standard_normal((-(-num_samples // stride), 5)).astype(np.float32)
    windows, starts = cut_windows(full, num_samples, window_samples, overlap_samples, stride)
    assert len(windows) > 1
    stitched = stitch_log_probs(
        windows, starts, num_samples, window_samples, overlap_samples, stride
    )
    np.testing.assert_array_equal(stitched, full)
    stacked = stitch_log_probs(
        np.stack(windows), starts, num_samples, window_samples, overlap_samples, stride
    )
    np.testing.assert_array_equal(stacked, full)


def test_stitch_short_padded_read_and_decode_read():
    stride, window_samples = 5, 100
    labels = [0, 1, 1, 0, 2, 0, 3, 0, 0, 4] + [0] * 10  # one padded window of 20 steps
    window = path_log_probs(labels)
    stitched = stitch_log_probs([window], [0], 48, window_samples, 20, stride)
    assert stitched.shape == (10, 5)
    decoded = decode_read([window], [0], 48, window_samples, 20, stride)
    assert decoded.sequence == "ACGT" and len(decoded.moves) == 10
    assert (
        decode_read([window], [0], 48, window_samples, 20, stride, beam_size=5).sequence == "ACGT"
    )


def test_stitch_rejects_bad_layouts():
    window = np.zeros((20, 5), dtype=np.float32)
    with pytest.raises(ValueError):
        stitch_log_probs([window, window], [0, 0], 150, 100, 50, 5)
    with pytest.raises(ValueError):  # a gap between windows
        stitch_log_probs([window, window], [0, 200], 300, 100, 50, 5)


def test_beam_moves_consistent_when_beam_differs_from_greedy():
    rng = np.random.default_rng(1)
    probs = rng.dirichlet(np.full(5, 0.3), size=400).astype(np.float32)
    log_probs = np.log(np.maximum(probs, 1e-12))
    greedy, beam = greedy_decode(log_probs), beam_decode(log_probs, beam_size=8)
    assert beam.sequence != greedy.sequence
    assert beam.moves.sum() == len(beam.sequence) == len(beam.qualities)
    assert len(beam.moves) == len(log_probs)


@pytest.mark.parametrize("num_samples", [5000, 4998, 4321, 1005, 999, 40])
def test_stitch_agrees_with_the_window_cutter(num_samples):
    from basecaller.signal.chunk import stitch_windows, window_starts

    stride, window_samples, overlap_samples = 5, 1000, 200
    starts = window_starts(num_samples, window_samples, overlap_samples, stride)
    rng = np.random.default_rng(num_samples)
    outputs = rng.standard_normal((len(starts), window_samples // stride, 5)).astype(np.float32)
    ours = stitch_log_probs(outputs, starts, num_samples, window_samples, overlap_samples, stride)
    theirs = stitch_windows(outputs, starts, num_samples, window_samples, stride)
    np.testing.assert_array_equal(ours, theirs)
