"""What a model's errors are, and whether a decode-time move bias trades them for accuracy.

    python benchmarks/error_profile.py [--model r941_4khz_crf] [--reads held-out|trained-on|r1041]
                                       [--move-bias 0,0.1,...]

Reads: ``held-out`` is the three R9.4.1 sets of ``accuracy.py`` (the lambda and E. coli held-out
intervals and the taiyaki reads); ``trained-on`` is 24 E. coli and the lambda reads that lie
outside both held-out intervals (the set to tune a decoding setting on); ``r1041`` is the 28
R10.4.1 remora reads, counted at their trained-on positions (to tune on) and, for the 10 that
reach into it, at their positions inside the held-out chr13 interval. For every move bias b
the reads are called with ``basecaller basecall --move-bias b`` (b added to every base-emitting
score: CRF moves; CTC, taken off the blank's log-probability), and each call is aligned to its truth
(edlib, truth as an infix of the call). Prints, per set: median and mean identity to truth, and
substitutions, insertions and deletions per truth base with the share of each indel that sits
in a homopolymer (the base equals a truth neighbour). ``--by-speed`` (trained-on reads, whose
segmentation is known): the reads in quarters by samples per base, with each quarter's mean
deletion and insertion rates and identity, and the correlation of speed with deletions.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import accuracy
import numpy as np

FIRST_ECOLI_READS = 24
SAMPLES_PER_BASE: dict[str, float] = {}  # read id -> labelled samples / labelled bases


def _pod5_of(records, workdir: Path, name: str, kit: str) -> Path:
    SAMPLES_PER_BASE.update({r.read.read_id: (r.base_starts[-1] - r.base_starts[0]) / len(r.sequence) for r in records})
    return accuracy.records_pod5(records, workdir, name, kit)


def trained_on_sets(workdir: Path) -> dict[str, Path]:
    from basecaller.data.segmented import taiyaki_reads, tombo_reads
    from basecaller.simulate.fit import HOLDOUT  # the held-out intervals of every genome

    def outside(record) -> bool:
        return not any(record.contig == contig and record.ref_start < end and record.ref_end > start
                       for contig, start, end in HOLDOUT)

    ecoli = [r for r in taiyaki_reads(accuracy.DATA / "r94_ecoli_f5c/mapped_signal_nanopolish.hdf5")
             if outside(r)][:FIRST_ECOLI_READS]
    lam = [r for r in tombo_reads(accuracy.DATA / "r941_lambda_tombo/fast5") if outside(r)]
    return {f"E. coli trained-on ({len(ecoli)})": ([_pod5_of(ecoli, workdir, "ecoli_train", "SQK-LSK108")], _every_base),
            f"lambda trained-on ({len(lam)})": ([_pod5_of(lam, workdir, "lambda_train", "SQK-LSK109")], _every_base)}


def held_out_sets(workdir: Path) -> dict[str, Path]:
    accuracy.TRUTH.update(accuracy.lambda_truth())
    return {"lambda held-out (7)": ([accuracy.REPO / "data_samples/lambda_r941/reads.pod5"], _every_base),
            "E. coli held-out (18)": ([accuracy.ecoli_inputs(workdir)[0]], _every_base),
            "taiyaki (7)": ([accuracy.taiyaki_inputs(workdir)[0]], _every_base)}


def remora_sets(workdir: Path) -> dict[str, tuple]:
    """The 28 R10.4.1 remora reads, counted twice: at the truth bases outside the held-out
    chr13 interval (trained on: the set to tune on) and at those inside it (10 reads)."""
    masks = accuracy.held_out_masks(accuracy.remora_truth(workdir))
    pod5s = [accuracy.DATA / f"r1041_remora_4khz/{kind}_reads.pod5" for kind in ("can", "mod")]

    def outside(read_id):
        return None if read_id not in masks else [not inside for inside in masks[read_id]]

    return {"remora reads, trained-on parts (28)": (pod5s, outside),
            f"remora reads, held-out parts ({len(masks)})": (pod5s, lambda read_id: masks.get(read_id, False))}


def _every_base(read_id):  # count every truth base of every read
    return None


def per_read_counts(calls: Path, keep=lambda read_id: None) -> dict[str, dict[str, int]]:
    """Every call's ``accuracy.error_counts``; ``keep(read_id)``: the truth bases to count (None: all,
    False: skip the read)."""
    import pysam

    counts = {}
    with pysam.FastxFile(str(calls)) as handle:
        for entry in handle:
            truth, mask = accuracy.TRUTH[entry.name], keep(entry.name)
            if mask is False:
                continue
            counts[entry.name] = (accuracy.error_counts(entry.sequence, truth, mask) if entry.sequence
                                  else {"del": len(truth) if mask is None else sum(mask)})
    return counts


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
    from basecaller.inference.job import BasecallRequest, basecall_files

    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="r941_4khz_crf")
    parser.add_argument("--reads", choices=["held-out", "trained-on", "r1041"], default="held-out",
                        help="R9.4.1 held-out or trained-on reads, or the R10.4.1 remora reads")
    parser.add_argument("--move-bias", default="0", help="comma-separated biases to try")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--by-speed", action="store_true", help="trained-on reads by samples per base (first bias)")
    args = parser.parse_args()
    biases = [float(b) for b in args.move_bias.split(",")]
    print("| model | move bias | reads | median / mean identity | subs | ins (homopolymer) | del (homopolymer) |")
    print("|---|---:|---|---|---:|---:|---:|")
    unshifted: dict[str, dict[str, int]] = {}  # every read's counts at the first bias
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        reads_of = {"trained-on": trained_on_sets, "held-out": held_out_sets, "r1041": remora_sets}
        sets = (trained_on_sets if args.by_speed else reads_of[args.reads])(work)
        for bias in biases:
            called = {}  # inputs -> calls, so two views of the same reads call them once
            for name, (inputs, keep) in sets.items():
                key = tuple(map(str, inputs))
                if key not in called:
                    called[key] = work / f"calls{len(called)}.fastq"
                    basecall_files(BasecallRequest(inputs=list(key), output=str(called[key]), model=args.model,
                                                   threads=args.threads, progress=False, device="cpu", move_bias=bias))
                reads = per_read_counts(called[key], keep)
                if bias == biases[0]:
                    unshifted.update(reads)
                print(f"| {args.model} | {bias:+.2f} | {name} | {profile(reads)} |", flush=True)
    if args.by_speed:
        by_speed(unshifted)

if __name__ == "__main__":
    main()
