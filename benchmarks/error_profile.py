"""What a model's errors are, and whether a decode-time move bias trades them for accuracy.

    python benchmarks/error_profile.py [--model r941_4khz_crf] [--reads held-out|trained-on]
                                       [--move-bias 0,0.1,...]

Reads: ``held-out`` is the three R9.4.1 sets of ``accuracy.py`` (the lambda and E. coli held-out
intervals and the taiyaki reads); ``trained-on`` is 24 E. coli and the lambda reads that lie
outside both held-out intervals (the set to tune a decoding setting on). For every move bias b
the reads are called with b added to the score of every move (CRF: every transition that emits
a base; CTC: b taken off the blank's log-probability), and each call is aligned to its truth
(edlib, truth as an infix of the call). Prints, per set: median and mean identity to truth, and
substitutions, insertions and deletions per truth base with the share of each indel that sits
in a homopolymer (the base equals a truth neighbour). ``--by-speed`` (trained-on reads, whose
segmentation is known): the reads in quarters by samples per base, with each quarter's mean
deletion and insertion rates and identity, and the correlation of speed with deletions.
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
from pathlib import Path

import accuracy
import numpy as np

FIRST_ECOLI_READS = 24
SAMPLES_PER_BASE: dict[str, float] = {}  # read id -> labelled samples / labelled bases


def biased_decoder(decode, bias: float):
    """``decode_scores`` with ``bias`` added to every base-emitting score."""

    def decode_biased(scores, config, **options):
        shifted = np.array(scores, dtype=np.float32, copy=True)
        if config.head_type == "crf":
            shifted.reshape(shifted.shape[0], -1, 5)[:, :, 1:] += bias
        else:
            shifted[:, 0] -= bias
        return decode(shifted, config, **options)

    return decode_biased


def _next_to(sequence: str, left: int, right: int, base: str) -> bool:
    """Whether ``sequence[left]`` or ``sequence[right]`` (where they exist) is ``base``."""
    return (left >= 0 and sequence[left] == base) or (right < len(sequence) and sequence[right] == base)


def error_counts(call: str, truth: str) -> dict[str, int]:
    """Matches, substitutions, insertions and deletions of ``call`` against ``truth`` (an infix
    alignment), and how many indels sit next to an equal truth base."""
    import edlib

    counts = dict.fromkeys(["match", "sub", "ins", "del", "ins_hp", "del_hp"], 0)
    alignment = edlib.align(truth, call, mode="HW", task="path")
    t, c = 0, alignment["locations"][0][0]
    for n, op in ((int(n), op) for n, op in re.findall(r"(\d+)([=XID])", alignment["cigar"])):
        if op in "=X":
            counts["match" if op == "=" else "sub"] += n
            t, c = t + n, c + n
        elif op == "I":  # a truth base the call lacks
            counts["del"] += n
            counts["del_hp"] += sum(_next_to(truth, i - 1, i + 1, truth[i]) for i in range(t, t + n))
            t += n
        else:  # a call base the truth lacks
            counts["ins"] += n
            counts["ins_hp"] += sum(_next_to(truth, t - 1, t, call[i]) for i in range(c, c + n))
            c += n
    return counts


def _pod5_of(records, workdir: Path, name: str, kit: str) -> Path:
    from basecaller.io.pod5 import write_pod5

    for record in records:
        record.read.sequencing_kit = kit
    path = workdir / f"{name}.pod5"
    write_pod5(str(path), [r.read for r in records])
    accuracy.TRUTH.update({r.read.read_id: r.sequence for r in records})
    SAMPLES_PER_BASE.update({r.read.read_id: (r.base_starts[-1] - r.base_starts[0]) / len(r.sequence) for r in records})
    return path


def trained_on_sets(workdir: Path) -> dict[str, Path]:
    from basecaller.data.segmented import taiyaki_reads, tombo_reads
    from basecaller.simulate.fit import HOLDOUT  # the held-out intervals of every genome

    def outside(record) -> bool:
        return not any(record.contig == contig and record.ref_start < end and record.ref_end > start
                       for contig, start, end in HOLDOUT)

    ecoli = [r for r in taiyaki_reads(accuracy.DATA / "r94_ecoli_f5c/mapped_signal_nanopolish.hdf5")
             if outside(r)][:FIRST_ECOLI_READS]
    lam = [r for r in tombo_reads(accuracy.DATA / "r941_lambda_tombo/fast5") if outside(r)]
    return {f"E. coli trained-on ({len(ecoli)})": _pod5_of(ecoli, workdir, "ecoli_train", "SQK-LSK108"),
            f"lambda trained-on ({len(lam)})": _pod5_of(lam, workdir, "lambda_train", "SQK-LSK109")}


def held_out_sets(workdir: Path) -> dict[str, Path]:
    accuracy.TRUTH.update(accuracy.lambda_truth())
    return {"lambda held-out (7)": accuracy.REPO / "data_samples/lambda_r941/reads.pod5",
            "E. coli held-out (18)": accuracy.ecoli_inputs(workdir)[0],
            "taiyaki (7)": accuracy.taiyaki_inputs(workdir)[0]}


def per_read_counts(calls: Path) -> dict[str, dict[str, int]]:
    import pysam

    with pysam.FastxFile(str(calls)) as handle:
        return {entry.name: error_counts(entry.sequence, accuracy.TRUTH[entry.name]) if entry.sequence
                else {"del": len(accuracy.TRUTH[entry.name])} for entry in handle}


def _rates(counts: dict[str, int]) -> tuple[float, float, float]:
    """Deletions and insertions per truth base, and identity."""
    bases = counts.get("match", 0) + counts.get("sub", 0) + counts.get("del", 0)
    columns = bases + counts.get("ins", 0)
    return counts.get("del", 0) / max(bases, 1), counts.get("ins", 0) / max(bases, 1), counts.get("match", 0) / max(columns, 1)


def profile(reads: dict[str, dict[str, int]]) -> str:
    totals = dict.fromkeys(["match", "sub", "ins", "del", "ins_hp", "del_hp"], 0)
    for counts in reads.values():
        for key, value in counts.items():
            totals[key] += value
    identities = [_rates(counts)[2] for counts in reads.values()]
    bases = totals["match"] + totals["sub"] + totals["del"]
    return (f"{statistics.median(identities):.4f} / {statistics.mean(identities):.4f} | {totals['sub'] / bases:.4f} | "
            f"{totals['ins'] / bases:.4f} ({totals['ins_hp'] / max(totals['ins'], 1):.2f}) | "
            f"{totals['del'] / bases:.4f} ({totals['del_hp'] / max(totals['del'], 1):.2f})")


def by_speed(reads: dict[str, dict[str, int]]) -> None:
    """Reads in quarters by samples per base: mean deletion and insertion rates and identity."""
    speed = np.array([SAMPLES_PER_BASE[name] for name in reads])
    rates = np.array([_rates(counts) for counts in reads.values()])
    print(f"\n{len(reads)} reads; correlation of samples per base with deletions "
          f"{np.corrcoef(speed, rates[:, 0])[0, 1]:+.2f}, with insertions {np.corrcoef(speed, rates[:, 1])[0, 1]:+.2f}\n")
    print("| samples per base | reads | deletions | insertions | mean identity |")
    print("|---|---:|---:|---:|---:|")
    for quarter in np.array_split(np.argsort(speed), 4):
        deletions, insertions, identity = rates[quarter].mean(axis=0)
        print(f"| {speed[quarter].min():.1f}–{speed[quarter].max():.1f} | {len(quarter)} | {deletions:.4f} | "
              f"{insertions:.4f} | {identity:.4f} |")


def main() -> None:
    import basecaller.inference.pipeline as pipeline
    from basecaller.inference.job import BasecallRequest, basecall_files

    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="r941_4khz_crf")
    parser.add_argument("--reads", choices=["held-out", "trained-on"], default="held-out")
    parser.add_argument("--move-bias", default="0", help="comma-separated biases to try")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--by-speed", action="store_true", help="trained-on reads by samples per base (first bias)")
    args = parser.parse_args()
    biases = [float(b) for b in args.move_bias.split(",")]
    unbiased = pipeline.decode_scores
    print("| model | move bias | reads | median / mean identity | subs | ins (homopolymer) | del (homopolymer) |")
    print("|---|---:|---|---|---:|---:|---:|")
    unshifted: dict[str, dict[str, int]] = {}  # every read's counts at the first bias
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        sets = trained_on_sets(work) if args.reads == "trained-on" or args.by_speed else held_out_sets(work)
        for bias in biases:
            pipeline.decode_scores = biased_decoder(unbiased, bias)  # what the basecaller decodes with
            for name, pod5 in sets.items():
                calls = work / "calls.fastq"
                basecall_files(BasecallRequest(inputs=[str(pod5)], output=str(calls), model=args.model,
                                               threads=args.threads, progress=False, device="cpu"))
                reads = per_read_counts(calls)
                if bias == biases[0]:
                    unshifted.update(reads)
                print(f"| {args.model} | {bias:+.2f} | {name} | {profile(reads)} |", flush=True)
    pipeline.decode_scores = unbiased
    if args.by_speed:
        by_speed(unshifted)

if __name__ == "__main__":
    main()
