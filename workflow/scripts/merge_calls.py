"""Join unaligned BAM shards, in the order given, into one BAM, one FASTQ(.gz) and one summary.

Usable outside the workflow:

    python merge_calls.py --shards a.bam b.bam --summaries a.tsv b.tsv \
        --bam calls.bam --fastq calls.fastq.gz --summary sequencing_summary.tsv

Every output is written beside its final path and renamed into place when complete. The FASTQ
header carries the same tags as `basecaller basecall -o X.fastq` writes (qs, ns, ts, RG), and a
gzip FASTQ has a zero mtime in its header, so the same shards always give the same bytes.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import sys

import pysam

FASTQ_TAGS = (("qs", "f", "{:.2f}"), ("ns", "i", "{:d}"), ("ts", "i", "{:d}"), ("RG", "Z", "{}"))


@contextlib.contextmanager
def atomic(path: str):
    """A temporary path beside ``path``, renamed to it only when the block succeeds (and the
    temporaries of killed earlier runs removed): the package's one atomic-write helper."""
    from basecaller.io.writers import atomic_path

    with atomic_path(path) as tmp:
        yield str(tmp)


def merged_header(shards: list[str]) -> dict:
    """The first shard's header, with the read groups of every shard (first seen order)."""
    header, groups = None, {}
    for path in shards:
        with pysam.AlignmentFile(path, check_sq=False) as bam:
            shard_header = bam.header.to_dict()
        header = header or shard_header
        for group in shard_header.get("RG", []):
            groups.setdefault(group["ID"], group)
    header = dict(header or {"HD": {"VN": "1.6", "SO": "unknown"}})
    if groups:
        header["RG"] = list(groups.values())
    return header


def fastq_record(record) -> str:
    tags = [f"@{record.query_name}"]
    for name, kind, fmt in FASTQ_TAGS:
        if record.has_tag(name):
            tags.append(f"{name}:{kind}:{fmt.format(record.get_tag(name))}")
    sequence = record.query_sequence or ""
    qualities = record.query_qualities
    qstring = "".join(chr(q + 33) for q in qualities) if qualities is not None else ""
    return "\t".join(tags) + f"\n{sequence}\n+\n{qstring}\n"


@contextlib.contextmanager
def open_fastq(path: str, gz: bool):
    """A binary FASTQ handle; gzip without a file name or time in its header (reproducible)."""
    with open(path, "wb") as raw:
        if not gz:
            yield raw
            return
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=6, mtime=0) as handle:
            yield handle


def merge_calls(shards: list[str], bam_path: str, fastq_path: str) -> int:
    """Copy every record of ``shards`` in order to the BAM and FASTQ; the number of reads."""
    count = 0
    header = merged_header(shards)
    with atomic(bam_path) as bam_tmp, atomic(fastq_path) as fastq_tmp:
        with pysam.AlignmentFile(bam_tmp, "wb", header=header) as out, open_fastq(fastq_tmp, fastq_path.endswith(".gz")) as fastq:
            for path in shards:
                with pysam.AlignmentFile(path, check_sq=False) as bam:
                    for record in bam.fetch(until_eof=True):
                        out.write(record)
                        fastq.write(fastq_record(record).encode())
                        count += 1
    return count


def merge_summaries(summaries: list[str], out_path: str) -> int:
    """Concatenate sequencing-summary TSVs, keeping the first header; the number of rows."""
    rows = 0
    with atomic(out_path) as tmp, open(tmp, "w") as out:
        for index, path in enumerate(summaries):
            with open(path) as handle:
                header = handle.readline()
                if index == 0:
                    out.write(header)
                for line in handle:
                    out.write(line)
                    rows += 1
    return rows


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shards", nargs="+", required=True, help="unaligned BAM shards, in order")
    parser.add_argument("--summaries", nargs="*", default=[], help="their sequencing summaries")
    parser.add_argument("--bam", required=True, help="merged BAM")
    parser.add_argument("--fastq", required=True, help="merged FASTQ (.fastq or .fastq.gz)")
    parser.add_argument("--summary", help="merged sequencing summary TSV")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    reads = merge_calls(args.shards, args.bam, args.fastq)
    print(f"merged {reads} reads from {len(args.shards)} shards into {args.bam} and {args.fastq}")
    if args.summary:
        rows = merge_summaries(args.summaries, args.summary)
        print(f"merged {rows} summary rows into {args.summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
