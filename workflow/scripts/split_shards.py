"""Split a read list (`basecaller list-reads` TSV) into shards of at most N reads.

    python split_shards.py reads.tsv --reads-per-shard 4000 -o shards/

writes shards/shard_0000.tsv, shard_0001.tsv, ... (the rows of that shard, with the header;
`basecaller basecall --read-ids` reads their first column) and beside each a `.files` list of
the signal files that hold its reads, so a shard job opens only those. Shards are consecutive
runs of the list, so joining them in name order restores the list's order.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def read_rows(path: str) -> tuple[str, list[list[str]]]:
    with open(path) as handle:
        header = handle.readline()
        rows = [line.rstrip("\n").split("\t") for line in handle if line.strip()]
    return header, rows


def write_atomic(path: Path, text: str) -> None:
    from basecaller.io.writers import atomic_path

    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_shard(outdir: Path, index: int, header: str, rows: list[list[str]]) -> None:
    name = f"shard_{index:04d}"
    files = list(dict.fromkeys(row[1] for row in rows))  # unique, in order
    write_atomic(outdir / f"{name}.files", "".join(f"{path}\n" for path in files))
    write_atomic(outdir / f"{name}.tsv", header + "".join("\t".join(row) + "\n" for row in rows))


def split(manifest: str, reads_per_shard: int, outdir: str) -> int:
    """Write the shards; the number of shards (at least one, possibly empty)."""
    header, rows = read_rows(manifest)
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    starts = range(0, max(len(rows), 1), reads_per_shard)
    for index, start in enumerate(starts):
        write_shard(out, index, header, rows[start:start + reads_per_shard])
    return len(starts)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("manifest", help="TSV with a header: read_id, file, ...")
    parser.add_argument("--reads-per-shard", type=int, required=True)
    parser.add_argument("-o", "--outdir", required=True)
    args = parser.parse_args(argv)
    if args.reads_per_shard < 1:
        parser.error("--reads-per-shard must be at least 1")
    count = split(args.manifest, args.reads_per_shard, args.outdir)
    print(f"wrote {count} shards of at most {args.reads_per_shard} reads to {args.outdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
