"""basecaller convert: copy reads from any supported format into one POD5 file."""

from __future__ import annotations

NAME = "convert"
HELP = "convert fast5/slow5/blow5/pod5 reads (files or folders) into one pod5 file"


def add_arguments(parser) -> None:
    parser.add_argument("inputs", nargs="+", help="signal files or folders")
    parser.add_argument("-o", "--output", required=True, help="output .pod5 file")
    parser.add_argument("--read-ids", help="text file of read ids to keep")
    parser.add_argument("--min-samples", type=int, default=0, help="drop reads shorter than this")


def run(args) -> int:
    from basecaller.errors import InputError, SkipLog
    from basecaller.io.open import load_read_ids, open_reads
    from basecaller.io.pod5 import write_pod5

    if not args.output.endswith(".pod5"):
        raise InputError("output must end in .pod5", args.output)
    read_ids = load_read_ids(args.read_ids) if args.read_ids else None
    skips = SkipLog()
    count = write_pod5(args.output, open_reads(args.inputs, read_ids=read_ids, min_samples=args.min_samples, skips=skips))
    print(f"wrote {count} reads to {args.output}; {skips.summary()}")
    return 0 if count else 2
