"""Inference window and overlap: the model work each setting costs, and what it does to read
identity, paired read by read against the first setting.

    OMP_NUM_THREADS=1 python benchmarks/window_overlap.py [--model r941_4khz_lite]
        [--settings 4000:500 4000:300 4000:200 6000:300] [--threads 2]

Work is the samples the model runs per read sample: every window is a full forward pass, so
overlaps, and the last window of each read (it ends at the read's end and overlaps its neighbour
further), cost as much as new signal. It is counted on every labelled R9.4(.1) read in
``../shared`` (lambda and E. coli, 162 reads) and on the lambda sample that
``basecall_throughput.py`` repeats. Identity is to truth (``accuracy.py``) on the held-out lambda
and E. coli reads and the taiyaki reads (32 in all).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import accuracy  # noqa: E402

SAMPLE = accuracy.REPO / "data_samples/lambda_r941/reads.pod5"


def read_lengths(paths) -> list[int]:
    from basecaller.io.open import open_reads

    return [read.num_samples for path in paths for read in open_reads(path)]


def work_per_sample(lengths: list[int], window: int, overlap: int, stride: int) -> float:
    from basecaller.signal.chunk import window_starts

    return sum(len(window_starts(n, window, overlap, stride)) * window for n in lengths) / sum(lengths)


def identities(model: str, window: int, overlap: int, threads: int, work: Path, cases) -> dict[str, float]:
    scores: dict[str, float] = {}
    for index, (inputs, reference) in enumerate(cases):
        summary = accuracy.evaluate(inputs, reference, model, work, f"w{window}_{overlap}_{index}", threads,
                                    accuracy.TRUTH, window=window, overlap=overlap)
        scores.update(summary["per_read"])
    return scores


def main() -> None:
    from basecaller.models.config import ModelConfig
    from basecaller.models.directory import find_model_dir

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="r941_4khz_lite")
    parser.add_argument("--settings", nargs="+", default=["4000:500", "4000:300", "4000:200", "6000:300"],
                        help="WINDOW:OVERLAP pairs; the first is the reference")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    settings = [tuple(int(x) for x in item.split(":")) for item in args.settings]
    stride = ModelConfig.load(find_model_dir(args.model) / "config.toml").stride
    all_reads = read_lengths(sorted((accuracy.DATA / "r941_lambda_tombo/fast5").glob("*.fast5")))
    all_reads += [record.read.num_samples for record in _f5c_reads()]
    sample = read_lengths([SAMPLE])
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        accuracy.TRUTH.update(accuracy.lambda_truth())
        cases = [([SAMPLE], SAMPLE.parent / "lambda.fasta"), accuracy._pair(accuracy.ecoli_inputs(work)),
                 accuracy._pair(accuracy.taiyaki_inputs(work))]
        scored = [identities(args.model, window, overlap, args.threads, work, cases) for window, overlap in settings]
    base = scored[0]
    print(f"# {args.model}; work = model samples per read sample; identity to truth on {len(base)} held-out reads\n")
    print(f"| window:overlap | work, {len(all_reads)} labelled reads | work, lambda sample | mean identity | "
          f"median | paired difference to {args.settings[0]} (mean ± sd of mean) |\n|---|---:|---:|---:|---:|---:|")
    for (window, overlap), scores in zip(settings, scored):
        diffs = [scores[read] - base[read] for read in base if read in scores]
        spread = statistics.stdev(diffs) / len(diffs) ** 0.5 if len(diffs) > 1 else 0.0
        print(f"| {window}:{overlap} | {work_per_sample(all_reads, window, overlap, stride):.3f} | "
              f"{work_per_sample(sample, window, overlap, stride):.3f} | {statistics.fmean(scores.values()):.4f} | "
              f"{statistics.median(scores.values()):.4f} | {statistics.fmean(diffs):+.4f} ± {spread:.4f} |")


def _f5c_reads():
    from basecaller.data.segmented import taiyaki_reads

    return taiyaki_reads(accuracy.DATA / "r94_ecoli_f5c/mapped_signal_nanopolish.hdf5")


if __name__ == "__main__":
    main()
