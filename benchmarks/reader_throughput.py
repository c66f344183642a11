"""Reader throughput in samples/s for each format, on the real files in ../shared/data.

    python benchmarks/reader_throughput.py [--repeats 3]

Each format is read whole (signal materialised as pA) several times; the best pass counts.
FAST5 is measured both as the Tombo files (gzip) and as a VBZ multi-read copy written here.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from basecaller.io.open import open_reads  # noqa: E402
from basecaller.io.pod5 import write_pod5  # noqa: E402

DATA = REPO.parent / "shared" / "data"


def best_rate(path, repeats: int) -> tuple[float, int]:
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        samples = sum(len(read.signal_pa) for read in open_reads(path))
        best = max(best, samples / (time.perf_counter() - start))
    return best, samples


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from fast5_factory import write_multi_read_fast5

    lambda_reads = list(open_reads(DATA / "r941_lambda_tombo/fast5"))
    with tempfile.TemporaryDirectory() as tmp:
        write_multi_read_fast5(Path(tmp) / "lambda_vbz.fast5", lambda_reads, vbz=True)
        write_pod5(str(Path(tmp) / "lambda.pod5"), lambda_reads)
        cases = [
            ("pod5 (lambda, 50 reads)", Path(tmp) / "lambda.pod5"),
            ("fast5 single-read, gzip (lambda, 50 files)", DATA / "r941_lambda_tombo/fast5"),
            ("fast5 multi-read, VBZ (lambda, 50 reads)", Path(tmp) / "lambda_vbz.fast5"),
            ("blow5 (squigualiser, 27 reads)", DATA / "r1041_squigualiser_blow5/reads.blow5"),
            ("pod5 (dorado 5 kHz, 3 long reads)", DATA / "r1041_dorado_5khz/single_channel_multi_read.pod5"),
        ]
        print("| input | samples | samples/s |")
        print("|---|---:|---:|")
        for name, path in cases:
            rate, samples = best_rate(path, args.repeats)
            print(f"| {name} | {samples:,} | {rate / 1e6:.1f} M |")


if __name__ == "__main__":
    main()
