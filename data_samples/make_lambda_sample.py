"""Rebuild data_samples/lambda_r941/ from the public-domain lambda fast5 reads.

The seven reads are those that map wholly inside Lambda_NEB:14000-26000, the interval the
shipped R9.4.1 model holds out of training, so basecalling them measures identity on genome
positions the model never saw. Source: marcpaga/basecalling_architectures demo_data
(Unlicense), read here from ../shared/data/r941_lambda_tombo.

    python data_samples/make_lambda_sample.py ../shared/data/r941_lambda_tombo
"""

import sys
from pathlib import Path

from basecaller.io.open import open_reads
from basecaller.io.pod5 import write_pod5

HELD_OUT_READS = [
    "b3aa1d32-c02c-4ccb-8ffd-d9a73a22214a", "878a37b2-21a5-48a2-a9ad-b4a31a727268",
    "3916e190-a3eb-4984-a008-8d6dbac59998", "0a15def6-87d4-4028-b2b2-9c220e3daad6",
    "91fec03e-e234-4e42-ba4c-6b65a69bde19", "f260510e-e38c-4bb3-81cd-7c0d4c78e7f3",
    "ba4e4763-b8dc-4ab4-bd4a-d45f220ac182",
]


def write_reference(source: Path, target: Path) -> None:
    """The lambda genome (public domain), re-wrapped at 80 columns."""
    name, sequence = "", []
    for line in source.read_text().splitlines():
        if line.startswith(">"):
            name = line[1:].split()[0]
        else:
            sequence.append(line.strip())
    sequence = "".join(sequence)
    lines = [sequence[i : i + 80] for i in range(0, len(sequence), 80)]
    target.write_text(f">{name} lambda phage (NEB), public domain\n" + "\n".join(lines) + "\n")


def main(source: str) -> None:
    out = Path(__file__).parent / "lambda_r941"
    out.mkdir(exist_ok=True)
    count = write_pod5(str(out / "reads.pod5"), open_reads(Path(source) / "fast5", read_ids=HELD_OUT_READS))
    write_reference(Path(source) / "Lambda_phage.fna", out / "lambda.fasta")
    print(f"wrote {count} reads to {out}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/r941_lambda_tombo")
