"""Simulation speed on one core, in samples per second (k-mer model loading excluded).

    python benchmarks/simulator_speed.py [--bases 2000000] [--repeats 3]

Pins itself to one CPU and one BLAS/OpenMP thread. Reports the best of the repeats for
the simulator alone, and once more including writing pod5 + truth + segmentation.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from basecaller.simulate import (  # noqa: E402
    load_kmer_model,
    random_genome,
    simulate_reads,
    write_simulation,
)


def measure(chemistry: str, sample_rate_hz: int, n_bases: int, repeats: int) -> dict:
    model = load_kmer_model(chemistry)  # cached: loading is not part of the rate
    genome = random_genome(200_000, 0.5, seed=7)
    n_reads = max(1, n_bases // 10_000)
    options = dict(chemistry=chemistry, sample_rate_hz=sample_rate_hz, n_reads=n_reads,
                   read_length_mean=10_000, read_length_sd=3_000, seed=11, kmer_model=model)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        samples = sum(read.signal_dac.size for read in simulate_reads(genome, **options))
        best = min(best, time.perf_counter() - start)
    with tempfile.TemporaryDirectory() as outdir:
        start = time.perf_counter()
        write_simulation(outdir, simulate_reads(genome, **options), chemistry=chemistry,
                         sample_rate_hz=sample_rate_hz, seed=11)
        with_io = time.perf_counter() - start
    return {"samples": samples, "simulate_per_s": samples / best, "with_io_per_s": samples / with_io}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bases", type=int, default=2_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    print("| chemistry | rate | samples | simulate (M samples/s) | + pod5/FASTA/npz writing |")
    print("|---|---|---|---|---|")
    for chemistry in ("r9.4.1", "r10.4.1"):
        for rate in (4000, 5000):
            result = measure(chemistry, rate, args.bases, args.repeats)
            print(f"| {chemistry} | {rate} Hz | {result['samples']:,} | "
                  f"{result['simulate_per_s'] / 1e6:.1f} | {result['with_io_per_s'] / 1e6:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
