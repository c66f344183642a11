"""`basecaller simulate`: raw signal with exact truth from a FASTA or a random genome."""

from __future__ import annotations

import argparse

NAME = "simulate"
HELP = "simulate nanopore reads (pod5 + truth FASTA + per-base segmentation) from k-mer models"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--fasta", help="genome to sample reads from (FASTA, may be .gz)")
    source.add_argument("--random-genome", type=int, metavar="LENGTH",
                        help="sample from a random genome of this length instead")
    parser.add_argument("--gc", type=float, default=0.5, help="GC content of the random genome")
    parser.add_argument("-o", "--outdir", required=True, help="output directory")
    parser.add_argument("--chemistry", default="r9.4.1", help="r9.4.1 or r10.4.1")
    parser.add_argument("--sample-rate", type=int, default=4000, choices=(4000, 5000),
                        help="sample rate in Hz")
    parser.add_argument("-n", "--num-reads", type=int, default=10)
    parser.add_argument("--whole-contigs", action="store_true",
                        help="one forward read per contig, instead of sampled fragments")
    parser.add_argument("--length-mean", type=float, default=5000, help="mean read length")
    parser.add_argument("--length-sd", type=float, default=3000, help="read length sd (gamma)")
    parser.add_argument("--min-length", type=int, default=100)
    parser.add_argument("--noise-scale", type=float, default=1.0,
                        help="multiplier on the fitted noise (0 = exact k-mer levels)")
    parser.add_argument("--drift", type=float, default=0.0, metavar="PA_PER_S",
                        help="linear baseline drift in pA per second")
    parser.add_argument("--no-read-variation", action="store_true",
                        help="same level shift/scale and DAC offset for every read")
    parser.add_argument("--exclude", action="append", default=[], metavar="CONTIG:START-END",
                        help="no read overlaps this interval (1-based, inclusive; repeatable), "
                        "e.g. a validation region; truth keeps the real contig coordinates")
    parser.add_argument("--no-lead-in", action="store_true",
                        help="start reads at the first base (no open-pore/adapter stretch)")
    parser.add_argument("--params", metavar="JSON",
                        help="fitted parameter file (default: the packaged fitted_params.json)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kmer-model", metavar="PATH",
                        help="k-mer model file or directory (default: $BASECALLER_KMER_MODELS "
                        "or ../shared/data/kmer_models)")


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from basecaller.simulate import (
        load_kmer_model,
        load_params,
        random_genome,
        read_fasta,
        simulate_reads,
        write_fasta,
        write_simulation,
    )
    from basecaller.simulate.genome import parse_interval

    # Check the user's own input before looking for the k-mer model.
    exclude = [parse_interval(text) for text in args.exclude]
    genome = read_fasta(args.fasta) if args.fasta else random_genome(args.random_genome, args.gc, seed=args.seed)
    model = load_kmer_model(args.chemistry, args.kmer_model)
    if not args.fasta:
        Path(args.outdir).mkdir(parents=True, exist_ok=True)
        write_fasta(Path(args.outdir) / "genome.fasta", genome)
    reads = simulate_reads(
        genome, chemistry=model.chemistry.name, sample_rate_hz=args.sample_rate,
        n_reads=None if args.whole_contigs else args.num_reads,
        read_length_mean=args.length_mean, read_length_sd=args.length_sd,
        min_read_length=args.min_length, noise_scale=args.noise_scale,
        drift_pa_per_s=args.drift, per_read_variation=not args.no_read_variation,
        seed=args.seed, kmer_model=model, exclude=exclude, lead_in=not args.no_lead_in,
        params=load_params(model.chemistry.name, args.params) if args.params else None,
    )
    paths = write_simulation(args.outdir, reads, chemistry=model.chemistry.name,
                             sample_rate_hz=args.sample_rate, seed=args.seed,
                             kmer_model_path=model.path)
    settings = {key: value for key, value in vars(args).items() if key not in ("run", "command")}
    settings["kmer_model"] = Path(model.path).name  # the file name only: paths are local
    with open(Path(args.outdir) / "simulation.json", "w") as handle:
        json.dump(settings, handle, indent=1)
    print(f"wrote {', '.join(str(path) for path in paths.values())}")
    return 0
