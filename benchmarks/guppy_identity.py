"""Identity of the MinKNOW Guppy basecalls stored in the lambda fast5 files: our anchor figure.

Extracts ``Analyses/Basecall_1D_000/BaseCalled_template/Fastq`` from each fast5 into a
temporary FASTQ, evaluates it against the lambda reference and prints the summary.

    python benchmarks/guppy_identity.py [--data ../shared/data/r941_lambda_tombo]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import h5py

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from basecaller.evaluate import evaluate_calls, format_summary, summarise  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "r941_lambda_tombo"
FASTQ_PATH = "Analyses/Basecall_1D_000/BaseCalled_template/Fastq"


def guppy_fastq_records(fast5_dir: Path) -> list[str]:
    """The stored Guppy FASTQ record of every single-read fast5 file in ``fast5_dir``."""
    records = []
    for path in sorted(fast5_dir.glob("*.fast5")):
        with h5py.File(path, "r") as fast5:
            text = fast5[FASTQ_PATH][()]
        records.append(
            (text.decode() if isinstance(text, bytes) else str(text)).rstrip("\n") + "\n"
        )
    return records


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    records = guppy_fastq_records(args.data / "fast5")
    with tempfile.TemporaryDirectory() as tmp:
        calls = Path(tmp) / "guppy.fastq"
        calls.write_text("".join(records))
        summary = summarise(evaluate_calls(calls, args.data / "Lambda_phage.fna"))
    print(format_summary(summary))
    print(f"Guppy (MinKNOW live, hac) median identity: {summary['median_identity']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
