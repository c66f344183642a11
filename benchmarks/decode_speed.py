"""Greedy vs beam CTC decoding speed, in seconds per million model steps (single thread).

Posteriors are synthetic but shaped like a trained model's: a random best path (about 45 %
blank steps, runs of 1-3 steps per base) made sharp with noise in the logits.

    python benchmarks/decode_speed.py [--steps 200000] [--beam-sizes 5 16]
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
    args = parser.parse_args()
    log_probs = synthetic_log_probs(args.steps)
    greedy = greedy_decode(log_probs)
    print(f"{args.steps} steps, {len(greedy.sequence)} bases (greedy)")
    print(f"greedy          {seconds_per_million(greedy_decode, log_probs):8.3f} s / M steps")
    for size in args.beam_sizes:
        beam = beam_decode(log_probs, beam_size=size)
        rate = seconds_per_million(lambda lp, s=size: beam_decode(lp, beam_size=s), log_probs)
        print(f"beam {size:<3d}        {rate:8.3f} s / M steps  ({len(beam.sequence)} bases)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
