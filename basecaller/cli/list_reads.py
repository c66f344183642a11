"""basecaller list-reads: one TSV row per read (read_id, file, num_samples), for sharding."""

from __future__ import annotations

NAME = "list-reads"
HELP = "list the reads of pod5/fast5/slow5 files or folders as TSV (read_id, file, num_samples)"

COLUMNS = ("read_id", "file", "num_samples")


def add_arguments(parser) -> None:
    parser.add_argument("inputs", nargs="+", help="signal files or folders (any mix of formats)")
    parser.add_argument("-o", "--output", default="-", help="output TSV (default: stdout)")
    parser.add_argument("--min-samples", type=int, default=0,
                        help="leave out reads with fewer samples (basecall's --min-samples)")


def run(args) -> int:
    import sys

    from basecaller.errors import SkipLog
    from basecaller.io.open import find_signal_files
    from basecaller.io.writers import atomic_path

    skips = SkipLog()
    files = find_signal_files(args.inputs, skips)
    rows = (row for path in files for row in _rows_of_file(path, skips) if row[2] >= args.min_samples)
    if args.output == "-":
        count = _write(sys.stdout, rows)
    else:
        with atomic_path(args.output) as tmp, open(tmp, "w") as handle:
            count = _write(handle, rows)
    print(f"listed {count} reads in {len(files)} files; {skips.summary()}", file=sys.stderr)
    return 0 if count else 2


def _write(handle, rows) -> int:
    handle.write("\t".join(COLUMNS) + "\n")
    count = 0
    for row in rows:
        handle.write("\t".join(map(str, row)) + "\n")
        count += 1
    return count


def _rows_of_file(path: str, skips):
    """(read_id, path, num_samples) in file order; POD5 without decoding the signal."""
    from basecaller.io.open import detect_format, open_reads

    if detect_format(path) == "pod5":
        yield from _pod5_rows(path, skips)
        return
    for read in open_reads([path], skips=skips):
        yield read.read_id, path, read.num_samples


def _pod5_rows(path: str, skips):
    import pod5

    from basecaller.errors import InputError

    try:
        with pod5.Reader(path) as reader:
            for record in reader.reads():
                yield str(record.read_id), path, int(record.num_samples)
    except Exception as error:  # unreadable container: the basecall step reports it too
        skips.skip(InputError(f"unreadable file ({type(error).__name__}: {error})", path), "unreadable file")
