"""Prefix-caller latency and prefix accuracy, for adaptive sampling on a CPU.

    OMP_NUM_THREADS=1 python benchmarks/prefix_latency.py [--channels 512] [--seconds 0.8]
        [--rounds 5] [--backends bf16,fp32,onnx,openvino,openvino-bf16] [--budget 0.4] [--threads 1] [--workers 2]
        [--models r941_4khz_fast,r941_4khz_prefix] [--groups 2[,1,4]] [--no-accuracy] [--no-qualities]
        [--adapter-trim on[,off]]

Each model in ``--models`` (shipped names or model directories) gets all three parts
(``--no-accuracy``: the first two). ``--groups``: length groups per worker that a round's reads
are batched in (several values: each is timed; with 1, each worker's half of the length-sorted
round is one batch). ``--adapter-trim on,off`` times the round with and without the adapter-stall
trim (``PrefixCaller(adapter_trim=...)``), one after the other in one run; the accuracy part uses the first.

1. Latency: ``--channels`` chunks of ``--seconds`` of 4 kHz signal (the first samples of the
   50 Tombo lambda reads, cycled over the channels) in one ``PrefixCaller.call`` round, per
   backend: torch bfloat16 autocast, torch float32, ONNX Runtime, OpenVINO float32 or OpenVINO
   bfloat16 (``openvino-bf16``). Median and p95 per
   round, and per read.
2. The largest channel count whose median round stays under ``--budget`` seconds (fastest
   backend).
3. Prefix accuracy for 0.4 / 0.8 / 1.6 s prefixes, on three sets: the 50 lambda reads (most of
   them training reads of the shipped models), the lambda reads whose first 1,000 bases lie inside the
   held-out interval Lambda_NEB:14000-26000 and the E. coli reads (r94_ecoli_f5c) whose first
   1,000 bases lie inside the held-out interval NC_000913.3:514000-531000: identity of each call to the read's truth over the same samples
   (the truth bases that end inside the prefix, aligned as an infix of the call), and the
   fraction whose call minimap2 (mappy, map-ont) maps to the read's own place on its genome
   (overlapping its labelled span, same strand).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
TOMBO = DATA / "r941_lambda_tombo"
ECOLI = DATA / "r94_ecoli_f5c" / "mapped_signal_nanopolish.hdf5"
MODEL = "r941_4khz_fast"
LAMBDA_HOLDOUT = ("Lambda_NEB", 14_000, 26_000)
ECOLI_HOLDOUT = ("NC_000913.3", 514_000, 531_000)


def load_truth():
    from basecaller.data.segmented import tombo_reads
    from basecaller.errors import SkipLog

    return list(tombo_reads([TOMBO / "fast5"], skips=SkipLog(quiet=True)))


def inside(records, interval, head: int = 1000) -> list:
    """The reads whose first ``head`` reference bases (in read direction: every prefix called
    here is shorter) lie inside the interval."""
    contig, start, end = interval
    out = []
    for r in records:
        first = (r.ref_start, r.ref_start + head) if r.strand == "+" else (r.ref_end - head, r.ref_end)
        if r.contig == contig and start <= first[0] and first[1] <= end:
            out.append(r)
    return out


def accuracy_sets(records) -> list[tuple[str, list, Path]]:
    """(name, segmented reads, reference FASTA) for the prefix-accuracy table."""
    from basecaller.data.segmented import taiyaki_reads
    from basecaller.errors import SkipLog

    ecoli = inside(taiyaki_reads([ECOLI], skips=SkipLog(quiet=True)), ECOLI_HOLDOUT)
    return [("lambda, all 50 reads", records, TOMBO / "Lambda_phage.fna"),
            ("lambda, held-out interval", inside(records, LAMBDA_HOLDOUT), TOMBO / "Lambda_phage.fna"),
            ("E. coli, held-out interval", ecoli, DATA / "references" / "ecoli_k12_mg1655.fna.gz")]


def chunks_for(records, channels: int, samples: int):
    from basecaller.live.prefix import SignalChunk

    out = []
    for ch in range(channels):
        read = records[ch % len(records)].read
        out.append(SignalChunk(ch + 1, 1, f"{read.read_id}/{ch}", np.asarray(read.signal_dac)[:samples],
                               read.offset_dac, read.scale_pa_per_dac, read.sample_rate_hz))
    return out


def make_caller(backend: str, model: str = MODEL, workers: int = 1, groups: int = 2, qualities: bool = True,
                adapter_trim: bool = True):
    """bf16 or fp32 (torch), onnx or openvino (float32 runners), openvino-bf16; ``workers``
    forward threads, ``groups`` length groups per worker."""
    from basecaller.errors import SkipLog
    from basecaller.live.prefix import PrefixCaller

    common = {"skips": SkipLog(quiet=True), "workers": workers, "groups_per_worker": groups, "qualities": qualities,
              "adapter_trim": adapter_trim}
    if backend == "openvino-bf16":
        return PrefixCaller(model, precision="bf16", backend="openvino", **common)
    if backend in ("onnx", "openvino"):
        return PrefixCaller(model, precision="fp32", backend=backend, **common)
    return PrefixCaller(model, precision=backend, backend="torch", **common)


def time_rounds(caller, chunks, rounds: int) -> list[float]:
    caller.call(chunks)  # one untimed round: readfish calls rounds back to back, so the steady state counts
    times = []
    for _ in range(rounds):
        caller.call(chunks)
        times.append(caller.last_round.seconds)
    return times


def p95(values: list[float]) -> float:
    return float(np.percentile(values, 95))


def accuracy(caller, records, seconds: float, aligner) -> dict:
    from basecaller.training.basecaller import edit_identity

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
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--workers", type=int, default=1, help="forward threads splitting each round (one core each)")
    parser.add_argument("--models", default=MODEL, help="comma-separated model names or directories")
    parser.add_argument("--groups", default="2", help="length groups per worker; a comma-separated list "
                        "times each (the accuracy part uses the first)")
    parser.add_argument("--no-accuracy", action="store_true", help="latency only")
    parser.add_argument("--adapter-trim", default="on", help="on, off, or both as 'on,off' (timed one after the other)")
    parser.add_argument("--no-qualities", action="store_true",
                        help="calls without qualities (the readfish plugin's default; CRF models decode faster)")
    args = parser.parse_args()
    import torch
    from basecall_throughput import cpu_model  # this folder is on sys.path when run as a script

    torch.set_num_threads(args.threads)
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"# prefix_latency: {args.channels} channels x {args.seconds} s at 4 kHz, {args.threads} thread(s), "
          f"{args.workers} worker(s), {affinity} core(s) allowed, torch {torch.__version__}, {cpu_model()}")
    import mappy

    records = load_truth()
    sets = [(name, reads, mappy.Aligner(str(fasta), preset="map-ont")) for name, reads, fasta in accuracy_sets(records)]
    for model in args.models.split(","):
        report_model(model, records, sets, args)


def report_model(model: str, records, sets, args) -> None:
    chunks = chunks_for(records, args.channels, int(args.seconds * 4000))
    callers, medians = {}, {}
    print(f"\n## {model}\n\n| backend | round median (s) | round p95 (s) | per read (ms) | samples/s |")
    print("|---|---|---|---|---|")
    groups = [int(g) for g in args.groups.split(",")]
    samples = sum(min(len(c.signal), int(args.seconds * 4000)) for c in chunks)
    trims = [value == "on" for value in args.adapter_trim.split(",")]
    for backend in args.backends.split(","):
        for group, trim in ((group, trim) for group in groups for trim in trims):
            key = backend if group == groups[0] else f"{backend}, {group} groups per worker"
            key += "" if trim == trims[0] else f", adapter trim {'on' if trim else 'off'}"
            start = time.perf_counter()
            callers[key] = make_caller(backend, model, args.workers, group, not args.no_qualities, trim)
            setup = time.perf_counter() - start
            rounds = args.rounds if backend in ("bf16", "openvino-bf16") else max(2, args.rounds // 2)
            times = time_rounds(callers[key], chunks, rounds)
            medians[key] = statistics.median(times)
            print(f"| {key} | {medians[key]:.3f} | {p95(times):.3f} | {1000 * medians[key] / len(chunks):.2f} | "
                  f"{samples / medians[key]:,.0f} |  (setup {setup:.1f} s, {len(times)} rounds, "
                  f"{callers[key].last_round.padded_samples:,} padded samples)", flush=True)
    best = min((key for key in medians if key in args.backends.split(",")), key=medians.get)
    caller = callers[best]
    fits, n = 0, 8
    while n <= args.channels:
        median = statistics.median(time_rounds(caller, chunks_for(records, n, int(args.seconds * 4000)), 3))
        if median >= args.budget:
            break
        fits, n = n, n + (8 if n < 64 else 16)
    print(f"\nlargest channel count with a median round under {args.budget} s ({best}, {args.seconds} s chunks): {fits}")
    if args.no_accuracy:
        return
    print("\n| reads | prefix (s) | called | median identity to truth | mapped to the right place |")
    print("|---|---|---|---|---|")
    for name, reads, aligner in sets:
        for seconds in (0.4, 0.8, 1.6):
            acc = accuracy(caller, reads, seconds, aligner)
            print(f"| {name} | {seconds} | {acc['called']}/{acc['n']} | {acc['identity']:.3f} ({acc['with_truth']} "
                  f"reads with >= 20 truth bases) | {acc['mapped_right']}/{acc['n']} |", flush=True)


if __name__ == "__main__":
    main()
