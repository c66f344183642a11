"""Decoding speed, in seconds per million model steps (single thread): CTC greedy and beam
search, and CRF decoding (Viterbi + forward-backward posteriors for qualities, as a read is
decoded) with the numba kernels against the numpy code, for state_len 3 and 4.

CTC posteriors are synthetic but shaped like a trained model's: a random best path (about 45 %
blank steps, runs of 1-3 steps per base) made sharp with noise in the logits. CRF scores are
random normal (the decoders' work does not depend on the values). One model step is 5 samples
for the ``fast`` stem, so samples/s = 5e6 / (s / M steps).

    OMP_NUM_THREADS=1 python benchmarks/decode_speed.py [--steps 200000] [--beam-sizes 5 16]
        [--crf-steps 50000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from basecaller.ctc import beam_decode, greedy_decode  # noqa: E402


def synthetic_log_probs(num_steps: int, seed: int = 0) -> np.ndarray:
    """``(num_steps, 5)`` float32 log-probabilities around a random CTC path."""
    rng = np.random.default_rng(seed)
    labels = np.where(rng.random(num_steps) < 0.45, 0, rng.integers(1, 5, num_steps))
    logits = rng.normal(0.0, 1.5, (num_steps, 5)).astype(np.float32)
    logits[np.arange(num_steps), labels] += 6.0
    logits -= logits.max(axis=1, keepdims=True)
    return (logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))).astype(np.float32)


def seconds_per_million(decode, log_probs: np.ndarray, repeats: int = 3) -> float:
    best = min(_timed(decode, log_probs) for _ in range(repeats))
    return best * 1e6 / len(log_probs)


def _timed(decode, log_probs) -> float:
    start = time.perf_counter()
    decode(log_probs)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200_000)
    parser.add_argument("--beam-sizes", type=int, nargs="+", default=[5, 16])
    parser.add_argument("--crf-steps", type=int, default=50_000, help="steps of the CRF read (0: skip)")
    args = parser.parse_args()
    log_probs = synthetic_log_probs(args.steps)
    greedy = greedy_decode(log_probs)
    print(f"{args.steps} steps, {len(greedy.sequence)} bases (greedy)")
    print(f"greedy          {seconds_per_million(greedy_decode, log_probs):8.3f} s / M steps")
    for size in args.beam_sizes:
        beam = beam_decode(log_probs, beam_size=size)
        rate = seconds_per_million(lambda lp, s=size: beam_decode(lp, beam_size=s), log_probs)
        print(f"beam {size:<3d}        {rate:8.3f} s / M steps  ({len(beam.sequence)} bases)")
    if args.crf_steps:
        crf_rates(args.crf_steps)
    return 0


def crf_rates(steps: int) -> None:
    from basecaller.crf import crf_decode
    from basecaller.crf.decode import HAVE_NUMBA

    rng = np.random.default_rng(1)
    for state_len in (3, 4):
        scores = rng.normal(0.0, 2.0, (steps, 4 ** state_len * 5)).astype(np.float32)
        backends = [("numpy", False)] + ([("numba", True)] if HAVE_NUMBA else [])
        for name, compiled in backends:
            crf_decode(scores[:1000], state_len, compiled=compiled)  # compiles (or loads) the kernels
            rate = seconds_per_million(lambda s, c=compiled, k=state_len: crf_decode(s, k, compiled=c), scores, repeats=2)
            print(f"CRF k={state_len} {name:<6s} {rate:8.3f} s / M steps  ({5e6 / rate:,.0f} samples/s at stride 5)")


if __name__ == "__main__":
    sys.exit(main())
