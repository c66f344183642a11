"""How a model trained on real reads calls simulated reads, per simulator parameter file.

    python benchmarks/real_model_on_sim.py --chemistry r10.4.1 --model r1041_4khz_crf \
        --params OLD.json basecaller/simulate/fitted_params.json [--reads 40]

The more the simulated signal is like the real signal a model learnt, the nearer its identity on
simulated reads comes to its identity on real reads (the issue-15 measure of the gap: 0.65 on
simulated against 0.80 on real). Every parameter file simulates the same fragments of the same
random genome with the same seed, so the rows differ only by the parameters. Prints the median
and mean identity of each call to its read's truth (the truth aligned as an infix of the call).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from accuracy import truth_identities  # noqa: E402  (this folder is on sys.path when run as a script)

from basecaller.inference.job import BasecallRequest, basecall_files  # noqa: E402
from basecaller.simulate import load_params, random_genome, simulate_reads, write_simulation  # noqa: E402


def score(params_file: str, args, work: Path) -> list[float]:
    """Each simulated read's identity (0 for a read without a call) under ``params_file``."""
    genome = random_genome(200_000, 0.45, seed=args.seed, name="random")
    params = load_params(args.chemistry, params_file)
    reads = list(simulate_reads(genome, chemistry=args.chemistry, n_reads=args.reads,
                                read_length_mean=4000, read_length_sd=1500, seed=args.seed,
                                params=params))
    folder = work / str(len(list(work.iterdir())))  # files of the same name get folders of their own
    write_simulation(folder, reads, chemistry=args.chemistry, sample_rate_hz=4000, seed=args.seed)
    calls = folder / "calls.fastq"
    basecall_files(BasecallRequest(inputs=[str(folder / "reads.pod5")], output=str(calls),
                                   model=args.model, threads=args.threads, progress=False,
                                   device="cpu"))
    scores = truth_identities(calls, {read.read_id: read.sequence for read in reads})
    return [scores.get(read.read_id, 0.0) for read in reads]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chemistry", default="r10.4.1", choices=["r9.4.1", "r10.4.1"])
    parser.add_argument("--model", default="r1041_4khz_crf")
    parser.add_argument("--params", nargs="+", required=True, help="simulator parameter files")
    parser.add_argument("--reads", type=int, default=40)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    print(f"| parameter file | {args.model}: median identity | mean | reads |")
    print("|---|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for params_file in args.params:
            values = score(params_file, args, Path(tmp))
            print(f"| {params_file} | {statistics.median(values):.3f} | "
                  f"{statistics.fmean(values):.3f} | {len(values)} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
