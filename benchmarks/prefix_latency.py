"""Prefix-caller latency and prefix accuracy, for adaptive sampling on a CPU.

    OMP_NUM_THREADS=1 taskset -c 0 python benchmarks/prefix_latency.py [--channels 512] [--seconds 0.8]
        [--rounds 5] [--backends bf16,fp32,onnx] [--budget 0.4] [--threads 1]

1. Latency: ``--channels`` chunks of ``--seconds`` of 4 kHz signal (the first samples of the
   50 Tombo lambda reads, cycled over the channels) in one ``PrefixCaller.call`` round, per
   backend: torch bfloat16 autocast, torch float32, ONNX Runtime float32. Median and p95 per
   round, and per read.
2. The largest channel count whose median round stays under ``--budget`` seconds (fastest
   backend).
3. Prefix accuracy for 0.4 / 0.8 / 1.6 s prefixes of the 50 reads: identity of each call to the
   read's Tombo truth over the same samples (the truth bases that end inside the prefix, aligned
   as an infix of the call), and the fraction whose call minimap2 (mappy, map-ont) maps to the
   read's own place on Lambda_NEB (overlapping its Tombo span, same strand).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
TOMBO = REPO.parent / "shared" / "data" / "r941_lambda_tombo"
MODEL = "r941_4khz_fast"


def load_truth():
    from basecaller.data.segmented import tombo_reads
    from basecaller.errors import SkipLog

    return list(tombo_reads([TOMBO / "fast5"], skips=SkipLog(quiet=True)))


def chunks_for(records, channels: int, samples: int):
    from basecaller.live.prefix import SignalChunk

    out = []
    for ch in range(channels):
        read = records[ch % len(records)].read
        out.append(SignalChunk(ch + 1, 1, f"{read.read_id}/{ch}", np.asarray(read.signal_dac)[:samples],
                               read.offset_dac, read.scale_pa_per_dac, read.sample_rate_hz))
    return out


def make_caller(backend: str, threads: int):
    from basecaller.errors import SkipLog
    from basecaller.live.prefix import PrefixCaller

    if backend == "onnx":
        from basecaller.live.onnx import OnnxRunner
        from basecaller.models.directory import find_model_dir, load_model

        runner = OnnxRunner(load_model(find_model_dir(MODEL)), threads=threads)
        return PrefixCaller(MODEL, precision="fp32", runner=runner, skips=SkipLog(quiet=True))
    return PrefixCaller(MODEL, precision=backend, skips=SkipLog(quiet=True))


def time_rounds(caller, chunks, rounds: int) -> list[float]:
    caller.call(chunks[: min(len(chunks), 16)])  # warm-up
    times = []
    for _ in range(rounds):
        caller.call(chunks)
        times.append(caller.last_round.seconds)
    return times


def p95(values: list[float]) -> float:
    return float(np.percentile(values, 95))


def accuracy(caller, records, seconds: float) -> dict:
    import mappy

    from basecaller.training.basecaller import edit_identity

    aligner = mappy.Aligner(str(TOMBO / "Lambda_phage.fna"), preset="map-ont")
    samples = int(seconds * 4000)
    results = caller.call(chunks_for(records, len(records), samples))
    identities, right, called = [], 0, 0
    for record, result in zip(records, results):
        if not result.ok:
            continue
        called += 1
        ends = record.base_starts[1:]
        truth = record.sequence[: int(np.searchsorted(ends, samples, side="right"))]
        if len(truth) >= 20:
            identities.append(edit_identity(result.sequence, truth, infix=True))
        strand = 1 if record.strand == "+" else -1
        for hit in aligner.map(result.sequence):
            if hit.ctg == record.contig and hit.strand == strand and hit.r_st < record.ref_end and hit.r_en > record.ref_start:
                right += 1
                break
    return {"called": called, "n": len(records), "with_truth": len(identities),
            "identity": statistics.median(identities) if identities else float("nan"), "mapped_right": right}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--channels", type=int, default=512)
    parser.add_argument("--seconds", type=float, default=0.8)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--backends", default="bf16,fp32,onnx")
    parser.add_argument("--budget", type=float, default=0.4)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"# prefix_latency: {args.channels} channels x {args.seconds} s at 4 kHz, {args.threads} thread(s), "
          f"{affinity} core(s) allowed, torch {torch.__version__}")
    records = load_truth()
    chunks = chunks_for(records, args.channels, int(args.seconds * 4000))
    callers, medians = {}, {}
    print("\n| backend | round median (s) | round p95 (s) | per read (ms) | samples/s |")
    print("|---|---|---|---|---|")
    for backend in args.backends.split(","):
        start = time.perf_counter()
        callers[backend] = make_caller(backend, args.threads)
        setup = time.perf_counter() - start
        times = time_rounds(callers[backend], chunks, args.rounds if backend == "bf16" else max(2, args.rounds // 2))
        medians[backend] = statistics.median(times)
        samples = sum(min(len(c.signal), int(args.seconds * 4000)) for c in chunks)
        print(f"| {backend} | {medians[backend]:.3f} | {p95(times):.3f} | {1000 * medians[backend] / len(chunks):.2f} | "
              f"{samples / medians[backend]:,.0f} |  (setup {setup:.1f} s, {len(times)} rounds)")
    best = min(medians, key=medians.get)
    caller = callers[best]
    fits, n = 0, 8
    while n <= args.channels:
        median = statistics.median(time_rounds(caller, chunks_for(records, n, int(args.seconds * 4000)), 3))
        if median >= args.budget:
            break
        fits, n = n, n + (8 if n < 64 else 16)
    print(f"\nlargest channel count with a median round under {args.budget} s ({best}, {args.seconds} s chunks): {fits}")
    print("\n| prefix (s) | called | median identity to Tombo truth | mapped to the right place |")
    print("|---|---|---|---|")
    for seconds in (0.4, 0.8, 1.6):
        acc = accuracy(caller, records, seconds)
        print(f"| {seconds} | {acc['called']}/{acc['n']} | {acc['identity']:.3f} ({acc['with_truth']} reads with "
              f">= 20 truth bases) | {acc['mapped_right']}/{acc['n']} |")


if __name__ == "__main__":
    main()
