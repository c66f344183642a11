"""Wall time of the whole workflow on data_samples/ by shard size, and of a no-op rerun.

    python benchmarks/workflow_shards.py [--cores 2] [--reads-per-shard 7 4 2]

Each run uses the default config/config.yaml in a fresh temporary working directory, with one
thread per shard job; the 7 sample reads give 1, 2 and 4 shards for the defaults. The shard
jobs' own time (Snakemake's benchmark files) is summed to show the start-up cost per job.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SNAKEFILE = REPO / "workflow" / "Snakefile"


def run_workflow(workdir: Path, cores: int) -> float:
    command = ["snakemake", "--snakefile", str(SNAKEFILE), "--directory", str(workdir),
               "--configfile", str(workdir / "bench.yaml"), "--cores", str(cores), "--quiet", "all"]
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - start


def shard_job_seconds(workdir: Path) -> float:
    total = 0.0
    for path in (workdir / "results" / "benchmarks" / "basecall_shard").glob("*.tsv"):
        with open(path) as handle:
            total += sum(float(row["s"]) for row in csv.DictReader(handle, delimiter="\t"))
    return total


def measure(reads_per_shard: int, cores: int) -> tuple[int, float, float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        for name in ("config", "data_samples"):
            (workdir / name).symlink_to(REPO / name, target_is_directory=True)
        (workdir / "bench.yaml").write_text(
            f"shards: {{reads_per_shard: {reads_per_shard}}}\nbasecall: {{threads: 1}}\n")
        wall_s = run_workflow(workdir, cores)
        rerun_s = run_workflow(workdir, cores)
        shards = len(list((workdir / "results" / "shards").glob("shard_*.tsv")))
        return shards, wall_s, shard_job_seconds(workdir), rerun_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--reads-per-shard", type=int, nargs="+", default=[7, 4, 2])
    args = parser.parse_args()
    print(f"| reads/shard | shards | wall s (--cores {args.cores}) | shard jobs s (summed) | no-op rerun s |")
    print("|---:|---:|---:|---:|---:|")
    for size in args.reads_per_shard:
        shards, wall_s, jobs_s, rerun_s = measure(size, args.cores)
        print(f"| {size} | {shards} | {wall_s:.1f} | {jobs_s:.1f} | {rerun_s:.1f} |", flush=True)


if __name__ == "__main__":
    main()
