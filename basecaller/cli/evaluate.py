"""``basecaller evaluate``: align calls to a reference and report identity."""

from __future__ import annotations

import argparse

NAME = "evaluate"
HELP = "align basecalls to a reference with minimap2 and report per-read and summary identity"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("calls", metavar="CALLS", help="FASTQ/FASTA(.gz) or unaligned SAM/BAM")
    parser.add_argument("--reference", "-r", required=True, metavar="FASTA", help="reference FASTA")
    parser.add_argument(
        "--output",
        "-o",
        required=True,
        metavar="OUT",
        help="output prefix (OUT.per_read.tsv, OUT.summary.json, OUT.identity.png) or directory",
    )


def run(args: argparse.Namespace) -> int:
    from basecaller.evaluate import evaluate_to_files, format_summary

    summary, paths = evaluate_to_files(args.calls, args.reference, args.output)
    print(format_summary(summary))
    print("wrote " + ", ".join(str(path) for path in paths.values()))
    return 0
