"""Decoding in its own worker threads (the pipeline now) against decoding in the consuming thread
(before), same models, same input, in one process, alternating A/B/A/B; then a per-stage
profile: forward passes alone and decoding alone, one thread each (samples/s per thread), so
the share of decoding in a read's CPU time shows.

    python benchmarks/decode_threads.py [--models r941_4khz_crf r941_4khz_fast] [--repeats 16]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from basecall_throughput import cpu_model, make_input

from basecaller.inference.pipeline import Basecaller
from basecaller.inference.stream import background, ordered_map
from basecaller.io.open import open_reads
from basecaller.models.directory import find_model_dir, load_model
from basecaller.signal.batch import batchify, unbatchify


class DecodeInCaller(Basecaller):
    """The pipeline as it was: every read decoded in the thread that consumes the calls."""

    def call(self, reads):
        pending: dict = {}
        batches = background(batchify(self._windows(reads, pending), self.batch_size), maxsize=4)
        results = ordered_map(lambda batch: (batch, self._run_model(batch.windows)), batches, self.model_workers)
        for key, outputs in unbatchify(results):
            yield self._decode(pending.pop(key), outputs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", nargs="+", default=["r941_4khz_crf", "r941_4khz_fast"])
    parser.add_argument("--repeats", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        reads = list(open_reads(make_input(Path(tmp), args.repeats)))
    samples = sum(read.num_samples for read in reads)
    print(f"# {cpu_model()}, {samples:,} samples, {args.workers} workers\n")
    print("| model | backend | decoding in | samples/s |\n|---|---|---|---:|")
    for name in args.models:
        for cls in (DecodeInCaller, Basecaller, DecodeInCaller, Basecaller):
            caller = cls(load_model(find_model_dir(name)), model_workers=args.workers)
            start = time.perf_counter()
            count = sum(1 for _ in caller.call(reads))
            rate = samples / (time.perf_counter() - start)
            where = "the consuming thread" if cls is DecodeInCaller else "worker threads"
            print(f"| {name} | {caller.backend} | {where} | {rate:,.0f} |  ({count} reads)", flush=True)
    print("\n| model | backend | forward, samples/s per thread | decoding, samples/s per thread | "
          "decoding share of CPU time |\n|---|---|---:|---:|---:|")
    for name in args.models:
        caller = Basecaller(load_model(find_model_dir(name)))
        forward, decode = stage_rates(caller, reads[: max(1, len(reads) // 4)])
        share = (1 / decode) / (1 / forward + 1 / decode)
        print(f"| {name} | {caller.backend} | {forward:,.0f} | {decode:,.0f} | {share:.0%} |", flush=True)


def stage_rates(caller: Basecaller, reads: list) -> tuple[float, float]:
    """Samples/s of the forward passes alone and of decoding alone, in this thread (after one
    warm-up of each, so that the numba kernels are loaded)."""
    samples = sum(read.num_samples for read in reads)
    pending: dict = {}
    batches = list(batchify(caller._windows(reads, pending), caller.batch_size))
    caller._run_model(batches[0].windows)
    start = time.perf_counter()
    outputs = [(batch, caller._run_model(batch.windows)) for batch in batches]
    forward = samples / (time.perf_counter() - start)
    done = list(unbatchify(iter(outputs)))
    caller._decode(pending[done[0][0]], done[0][1])
    start = time.perf_counter()
    for key, scores in done:
        caller._decode(pending[key], scores)
    return forward, samples / (time.perf_counter() - start)


if __name__ == "__main__":
    main()
