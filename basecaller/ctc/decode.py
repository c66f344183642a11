"""CTC decoding of per-step log-probabilities into bases, qualities and move tables.

Inputs are ``(T', 5)`` float32 log-probabilities with columns blank, A, C, G, T (index 0 is
the blank). A move table has one entry per model step, 1 where a new base starts, so
``moves.sum() == len(sequence)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from basecaller.alphabet import CTC_ALPHABET

__all__ = [
    "ALPHABET",
    "Decoded",
    "QscoreCalibration",
    "beam_decode",
    "fit_qscore_calibration",
    "greedy_decode",
    "mean_qscore",
    "phred_from_posterior",
]

#: Labels in model-output order; "N" stands for the blank.
ALPHABET = CTC_ALPHABET
_BASES = np.frombuffer(ALPHABET.encode(), dtype=np.uint8)
_COLUMN = np.zeros(256, dtype=np.int64)
_COLUMN[_BASES] = np.arange(len(ALPHABET))  # ASCII code -> model-output column
Q_MIN, Q_MAX = 1, 50


@dataclass(frozen=True)
class QscoreCalibration:
    """Linear map ``q' = scale * q + shift`` from raw posterior phred to calibrated phred."""

    scale: float = 1.0
    shift: float = 0.0

    def apply(self, q_raw: np.ndarray) -> np.ndarray:
        """Calibrated, rounded and clipped qualities as uint8."""
        q = np.rint(self.scale * np.asarray(q_raw, dtype=np.float64) + self.shift)
        return np.clip(q, Q_MIN, Q_MAX).astype(np.uint8)


@dataclass
class Decoded:
    """One decoded call: bases, phred qualities (uint8) and moves (uint8, one per step)."""

    sequence: str
    qualities: np.ndarray
    moves: np.ndarray

    @property
    def qstring(self) -> str:
        """Qualities as a FASTQ string (phred + 33)."""
        return (self.qualities.astype(np.uint8) + 33).tobytes().decode()


def phred_from_posterior(p: np.ndarray) -> np.ndarray:
    """Raw phred ``-10 log10(1 - p)`` as float, clipped to [1, 50]."""
    err = np.clip(1.0 - np.asarray(p, dtype=np.float64), 10 ** (-Q_MAX / 10), 1.0)
    return np.clip(-10.0 * np.log10(err), Q_MIN, Q_MAX)


def mean_qscore(quals: np.ndarray, start: int = 0) -> float:
    """Read mean qscore as dorado computes it: mean error probability, back to phred.

    ``start`` skips leading bases (dorado skips the first 60 when the read is long enough).
    """
    q = np.asarray(quals, dtype=np.float64)
    if len(q) > start:
        q = q[start:]
    if len(q) == 0:
        return 0.0
    mean_err = float(np.mean(10.0 ** (-q / 10.0)))
    return float(np.clip(-10.0 * np.log10(mean_err), Q_MIN, Q_MAX))


def fit_qscore_calibration(
    mean_q_raw: np.ndarray, measured_error_rate: np.ndarray
) -> tuple[float, float]:
    """Least-squares ``(a, b)`` so that ``a * mean_q_raw + b`` fits ``-10 log10(error rate)``."""
    x = np.asarray(mean_q_raw, dtype=np.float64)
    err = np.clip(np.asarray(measured_error_rate, dtype=np.float64), 10 ** (-Q_MAX / 10), 1.0)
    if len(x) < 2 or np.ptp(x) == 0:
        raise ValueError("need at least two reads with different mean qscores")
    a, b = np.polyfit(x, -10.0 * np.log10(err), 1)
    return float(a), float(b)


def _as_probs(log_probs: np.ndarray) -> np.ndarray:
    lp = np.asarray(log_probs, dtype=np.float32)
    if lp.ndim != 2 or lp.shape[1] != len(ALPHABET):
        raise ValueError(
            f"expected log-probabilities of shape (T, {len(ALPHABET)}), got {lp.shape}"
        )
    return np.ascontiguousarray(np.exp(lp))


def _sequence(labels: np.ndarray) -> str:
    return _BASES[labels].tobytes().decode()


def greedy_decode(
    log_probs: np.ndarray, calibration: QscoreCalibration = QscoreCalibration()
) -> Decoded:
    """Best-path decode: argmax per step, collapse repeats, drop blanks.

    A base's quality is the maximum posterior of that base over its run of steps.
    """
    probs = _as_probs(log_probs)  # (T, 5)
    best = probs.argmax(axis=1)
    prev = np.concatenate(([-1], best[:-1]))
    emit = (best != 0) & (best != prev)
    labels = best[emit]
    nonblank = best != 0
    run = np.cumsum(emit)[nonblank] - 1  # run index of each non-blank step
    p_best = probs[np.arange(len(best)), best][nonblank]
    p_base = np.zeros(len(labels))
    np.maximum.at(p_base, run, p_best)
    quals = calibration.apply(phred_from_posterior(p_base))
    return Decoded(_sequence(labels), quals, emit.astype(np.uint8))


def _strictly_increasing(path: np.ndarray, num_steps: int) -> np.ndarray:
    """Force a base-start path to be strictly increasing and inside [0, num_steps)."""
    idx = np.arange(len(path))
    path = np.maximum.accumulate(np.maximum(path, 0) - idx) + idx
    tail = num_steps - len(path) + idx  # latest legal start for each base
    return np.minimum(path, tail)


def beam_decode(
    log_probs: np.ndarray,
    beam_size: int = 5,
    beam_cut_threshold: float = 0.01,
    calibration: QscoreCalibration = QscoreCalibration(),
) -> Decoded:
    """Prefix beam search with ``fast_ctc_decode``.

    When the beam agrees with the best path, moves and qualities are the greedy ones (exact).
    Otherwise moves come from the step fast-ctc-decode reports per base: the step at which the
    base's prefix entered the beam. That is the base's first step only while
    ``beam_cut_threshold`` is above the posterior floor (below it, low-probability extensions
    make it too early), so treat beam moves as approximate. A base's quality is its maximum
    posterior from its start to the next base's start.
    """
    from fast_ctc_decode import beam_search

    probs = _as_probs(log_probs)  # (T, 5)
    seq, path = beam_search(probs, ALPHABET, beam_size, beam_cut_threshold)
    greedy = greedy_decode(log_probs, calibration)
    if seq == greedy.sequence:
        return greedy
    moves = np.zeros(len(probs), dtype=np.uint8)
    if not seq:
        return Decoded("", np.zeros(0, dtype=np.uint8), moves)
    starts = _strictly_increasing(np.asarray(path, dtype=np.int64), len(probs))
    moves[starts] = 1
    labels = np.frombuffer(seq.encode(), dtype=np.uint8)
    columns = _COLUMN[labels]
    seg_max = np.maximum.reduceat(probs, starts, axis=0)  # (L, 5) max over each base's segment
    p_base = seg_max[np.arange(len(seq)), columns]
    quals = calibration.apply(phred_from_posterior(p_base))
    return Decoded(seq, quals, moves)
