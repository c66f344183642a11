"""basecaller chunks: build a training chunk dataset from labelled signal."""

from __future__ import annotations

NAME = "chunks"
HELP = ("build a training chunk dataset from Tombo fast5, taiyaki HDF5, pod5+BAM, simulator output or "
        "pseudo-labels")


def add_arguments(parser) -> None:
    parser.add_argument("inputs", nargs="+", help="signal files/folders (or simulator output folders)")
    parser.add_argument("-o", "--output", required=True, help="output folder")
    parser.add_argument("--source", required=True, choices=["tombo", "taiyaki", "bam", "simulated", "pseudo"])
    parser.add_argument("--bam", help="aligned BAM with move tables (source 'bam')")
    parser.add_argument("--reference", help="reference FASTA (source 'bam'; default: rebuild from MD tags)")
    parser.add_argument("--labels", help="FASTQ/FASTA of another basecaller's reads (source 'pseudo')")
    parser.add_argument("--model", default="auto",
                        help="our model that places the pseudo-labels on the signal (source 'pseudo')")
    parser.add_argument("--chunk-len", type=int, default=3600, help="samples per chunk (default 3600)")
    parser.add_argument("--step", type=int, help="samples between chunk starts (default: chunk length)")
    parser.add_argument("--min-samples-per-base", type=float, default=6.0)
    parser.add_argument("--max-samples-per-base", type=float, default=40.0)
    parser.add_argument("--normalisation", choices=["median_mad", "file"], default="median_mad")
    parser.add_argument("--time-stretch", type=float, default=1.0, metavar="F",
                        help="slow every read down F times before cutting (F > 1: more samples per base, "
                             "for training on slow reads; default 1)")
    parser.add_argument("--recombine", type=int, metavar="N",
                        help="write N recombined reads instead: real reads spliced at junctions where the same "
                             "--junction-bases bases sit around the cut, so the signal is real and the sequence "
                             "new; --holdout intervals are kept out of them and everything is one training set")
    parser.add_argument("--segment-bases", type=float, default=40.0,
                        help="recombined reads: mean bases taken from one read before a junction (default 40)")
    parser.add_argument("--junction-bases", type=int, default=6,
                        help="recombined reads: bases that must agree around a junction, even (default 6; "
                             "the pore's k-mer length)")
    split = parser.add_mutually_exclusive_group()
    split.add_argument("--valid-fraction", type=float, help="hold out this fraction of reads as validation")
    split.add_argument("--holdout", action="append", metavar="CONTIG:START-END",
                       help="hold out a genome interval as validation (repeatable)")
    parser.add_argument("--seed", type=int, default=0)


def run(args) -> int:
    from basecaller.data.chunks import (
        ChunkSpec,
        build_chunks,
        parse_interval,
        split_by_interval,
        split_by_read,
    )
    from basecaller.data.segmented import time_stretched
    from basecaller.errors import InputError, SkipLog
    from basecaller.inference.pseudo_labels import SOURCES
    from basecaller.signal.normalise import Normalisation

    if args.source == "bam" and not args.bam:
        raise InputError("--source bam needs --bam ALIGNMENTS.bam")
    if args.source == "pseudo" and not args.labels:
        raise InputError("--source pseudo needs --labels READS.fastq")
    if args.recombine is not None and (args.recombine < 1 or args.valid_fraction):
        raise InputError("--recombine needs a positive count and no --valid-fraction (recombined reads have no "
                         "genome position to split by; --holdout keeps intervals out of them)")
    if args.junction_bases < 2 or args.junction_bases % 2:
        raise InputError(f"--junction-bases must be an even number of at least 2, got {args.junction_bases}")
    if args.time_stretch <= 0:
        raise InputError(f"--time-stretch must be positive, got {args.time_stretch}")
    try:
        holdout = [parse_interval(text) for text in args.holdout or []]
    except ValueError as error:
        raise InputError(str(error)) from None
    spec = ChunkSpec(chunk_len=args.chunk_len, step=args.step, min_samples_per_base=args.min_samples_per_base,
                     max_samples_per_base=args.max_samples_per_base,
                     normalisation=Normalisation(method=args.normalisation))

    from basecaller.io.writers import check_output_folder

    check_output_folder(args.output)  # before any work: one line if unwritable
    skips = SkipLog()
    records = SOURCES[args.source](args.inputs, bam=args.bam, reference=args.reference, labels=args.labels,
                                     model=args.model, skips=skips)
    if args.recombine:
        records, holdout = _recombined(records, args, holdout, spec), []
    if args.time_stretch != 1:
        records = (time_stretched(record, args.time_stretch) for record in records)
    dataset = build_chunks(records, spec, source=args.source)
    dataset.meta["time_stretch"] = args.time_stretch
    print(f"{dataset.meta['num_reads']} reads -> {len(dataset)} chunks; {skips.summary()}")
    if not len(dataset):
        raise InputError("no chunks could be cut from the inputs")
    _write(dataset, args, holdout, split_by_interval, split_by_read)
    return 0


def _recombined(records, args, holdout, spec):
    from basecaller.data.recombine import RecombineSpec, recombined_reads

    recombine = RecombineSpec(reads=args.recombine, segment_bases=args.segment_bases,
                              junction_bases=args.junction_bases, seed=args.seed)
    print(f"recombining {args.recombine} reads (segments of {args.segment_bases:g} bases, junctions of "
          f"{args.junction_bases}); kept out: {', '.join(args.holdout or []) or 'nothing'}")
    return recombined_reads(records, recombine, holdout, spec.normalisation)


def _write(dataset, args, holdout, split_by_interval, split_by_read) -> None:
    from pathlib import Path

    out = Path(args.output)
    if holdout:
        train, valid = split_by_interval(dataset, holdout)
    elif args.valid_fraction:
        train, valid = split_by_read(dataset, args.valid_fraction, args.seed)
    else:
        dataset.save(out)
        print(f"wrote {out}")
        return
    train.save(out / "train")
    valid.save(out / "valid")
    print(f"wrote {out}/train ({len(train)} chunks) and {out}/valid ({len(valid)} chunks)")
