"""Read identity of the shipped models on held-out and out-of-distribution reads.

    python benchmarks/accuracy.py [--threads 2] [--r941 MODEL] [--r1041 MODEL] [--only r941|r1041]
                                  [--beam N] [--window SAMPLES] [--overlap SAMPLES] [--move-bias B]
                                  [--per-read TSV]

R9.4.1 (model r941_4khz_fast):
  * the 7 lambda reads inside Lambda_NEB:14000-26000, the interval kept out of training;
  * the 18 E. coli R9.4 reads (r94_ecoli_f5c) inside NC_000913.3:514000-531000, the E. coli
    interval kept out of training, truth = their nanopolish-mapped reference span;
  * the 7 R9.4.1 taiyaki reads (another organism), truth = their mapped reference;
  * 20 simulated reads of a fresh random genome.
R10.4.1 (model r1041_4khz_fast):
  * the 28 remora reads (hg38 locus; training used their chunks outside chr13:52314000-52318100,
    so this is not fully held out), truth = the *.ref_spans.fasta entries;
  * the parts of those reads inside chr13:52314000-52318100 (10 reads reach into it by at least
    400 bases): each call aligned to its whole truth, identity counted over the alignment columns
    of the held-out reference positions only, so no base the models trained on is scored;
  * 20 simulated reads of a fresh random genome at 4 kHz, and at 5 kHz through resampling;
  * the 2 duplex pairs of dorado's 5 kHz test reads (another run, 2023, no truth): the identity
    of one strand's call to the reverse complement of the other's (the shorter aligned as an
    infix of the longer), which counts the errors of both calls.
Prints a Markdown table: minimap2 mapped reads and median identity (as `basecaller evaluate`
computes it, over mapped reads only), and the median identity of every call to its own known
truth sequence (edlib infix alignment of the truth in the call), which also counts the reads too
inaccurate for minimap2 to map, and its mean. ``--per-read`` writes every read's identity to truth
(case, read id, identity), for paired comparisons of two settings on the same reads.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
TRUTH: dict[str, str] = {}  # read id -> true sequence in read order, for every case
R1041_HOLDOUT = ("chr13", 52_314_000, 52_318_100)  # 0-based, end exclusive, as in training
MIN_HELD_OUT_BASES = 400


def call_scores(calls: Path, score, read_ids=None) -> dict[str, float]:
    """``score(read_id, sequence)`` of every call (read id -> score); with ``read_ids``, only
    those reads, 0 for one without a call."""
    import pysam

    scores = {} if read_ids is None else dict.fromkeys(read_ids, 0.0)
    with pysam.FastxFile(str(calls)) as handle:
        for entry in handle:
            if read_ids is None or entry.name in scores:
                scores[entry.name] = score(entry.name, entry.sequence or "")
    return scores


def truth_identities(calls: Path, truth: dict[str, str]) -> dict[str, float]:
    """Identity of each call to its read's truth (read id -> identity): the truth aligned as an
    infix of the call; 0 for a call without truth or sequence."""
    from basecaller.training.basecaller import edit_identity

    def identity(read_id: str, sequence: str) -> float:
        return edit_identity(sequence, truth[read_id], infix=True) if read_id in truth and sequence else 0.0

    return call_scores(calls, identity)


def evaluate(inputs, reference, model: str, workdir: Path, name: str, threads: int, truth: dict,
             beam: int = 0, window: int | None = None, overlap: int | None = None, backend: str = "auto",
             move_bias: float | None = None) -> dict:
    from basecaller.evaluate import evaluate_calls, summarise
    from basecaller.inference.job import BasecallRequest, basecall_files

    calls = workdir / f"{name}.fastq"
    report = basecall_files(BasecallRequest(inputs=[str(p) for p in inputs], output=str(calls), model=model,
                                            threads=threads, progress=False, device="cpu", beam_size=beam,
                                            window=window, overlap=overlap, backend=backend, move_bias=move_bias))
    summary = summarise(evaluate_calls(str(calls), str(reference)))
    summary["samples_per_s"] = report.samples / max(report.seconds, 1e-9)
    summary["calls"] = calls
    return {**summary, **truth_summary(truth_identities(calls, truth))}


def truth_summary(per_read: dict[str, float]) -> dict:
    """Per-read identities to truth with their median and mean."""
    import statistics

    scores = list(per_read.values())
    return {"per_read": per_read, "truth_median": statistics.median(scores) if scores else float("nan"),
            "truth_mean": statistics.fmean(scores) if scores else float("nan")}


def held_out_part_row(reads: dict, reference: Path) -> tuple[str, dict]:
    """The table row of the R10.4.1 remora reads' held-out parts, from the remora case's calls."""
    masks = held_out_masks(reference)
    name = f"R10.4.1 remora reads, held-out interval part only ({len(masks)})"
    return name, {"mapped": None, **truth_summary(held_out_part_identities(reads["calls"], TRUTH, masks))}


def held_out_masks(fasta: Path, interval=R1041_HOLDOUT) -> dict[str, list[bool]]:
    """Read id -> for each truth base (read order), whether its reference position lies in
    ``interval``; from the ``CONTIG:START-END strand=S`` headers of a ``*.ref_spans.fasta``, for
    the reads with at least ``MIN_HELD_OUT_BASES`` such bases."""
    import re

    import pysam

    contig, first, end = interval
    masks = {}
    with pysam.FastxFile(str(fasta)) as handle:
        for entry in handle:
            found = re.match(r"(\S+):(\d+)-(\d+) strand=([+-])", entry.comment or "")
            if not found or found.group(1) != contig:
                continue
            start, stop = int(found.group(2)), int(found.group(3))
            positions = range(start, stop) if found.group(4) == "+" else range(stop - 1, start - 1, -1)
            mask = [first <= position < end for position in positions]
            if sum(mask) >= MIN_HELD_OUT_BASES:
                masks[entry.name] = mask
    return masks


def _next_to(sequence: str, left: int, right: int, base: str) -> bool:
    """Whether ``sequence[left]`` or ``sequence[right]`` (where they exist) is ``base``."""
    return (left >= 0 and sequence[left] == base) or (right < len(sequence) and sequence[right] == base)


def error_counts(call: str, truth: str, keep: list[bool] | None = None) -> dict[str, int]:
    """Matches, substitutions, insertions and deletions of ``call`` against ``truth`` (an infix
    alignment), and how many indels sit next to an equal truth base; with ``keep`` (one flag per
    truth base), only the columns at kept truth bases (an insertion counts at the next one)."""
    import re

    import edlib

    counts = dict.fromkeys(["match", "sub", "ins", "del", "ins_hp", "del_hp"], 0)
    alignment = edlib.align(truth, call, mode="HW", task="path")
    t, c = 0, alignment["locations"][0][0]
    for n, op in ((int(n), op) for n, op in re.findall(r"(\d+)([=XID])", alignment["cigar"])):
        for _ in range(n):
            kept = keep is None or keep[min(t, len(keep) - 1)]
            if op in "=X":
                counts["match" if op == "=" else "sub"] += kept
                t, c = t + 1, c + 1
            elif op == "I":  # a truth base the call lacks
                counts["del"] += kept
                counts["del_hp"] += kept and _next_to(truth, t - 1, t + 1, truth[t])
                t += 1
            else:  # a call base the truth lacks
                counts["ins"] += kept
                counts["ins_hp"] += kept and _next_to(truth, t - 1, t, call[c])
                c += 1
    return counts


def masked_identity(call: str, truth: str, mask: list[bool]) -> float:
    """Identity of ``call`` to ``truth`` (truth aligned as an infix of the call, edlib) over the
    alignment columns at truth bases where ``mask`` is true; a base the call inserts counts at
    the truth base that follows it."""
    if not call:
        return 0.0
    counts = error_counts(call, truth, mask)
    columns = counts["match"] + counts["sub"] + counts["ins"] + counts["del"]
    return counts["match"] / columns if columns else float("nan")


def held_out_part_identities(calls: Path, truth: dict[str, str], masks: dict[str, list[bool]]) -> dict[str, float]:
    """``masked_identity`` of every call with a mask (0 for a read without a call)."""
    return call_scores(calls, lambda read_id, sequence: masked_identity(sequence, truth[read_id], masks[read_id]),
                       read_ids=masks)


def read_truth(fasta: Path) -> dict[str, str]:
    import pysam

    with pysam.FastxFile(str(fasta)) as handle:
        return {entry.name: entry.sequence.upper() for entry in handle}


def lambda_truth() -> dict[str, str]:
    from basecaller.data.segmented import tombo_reads

    return {r.read.read_id: r.sequence for r in tombo_reads(DATA / "r941_lambda_tombo/fast5")}


def records_pod5(records, workdir: Path, name: str, kit: str) -> Path:
    """Labelled reads as ``workdir/name.pod5`` (their kit set, so the chemistry is known), their
    truth in ``TRUTH``."""
    from basecaller.io.pod5 import write_pod5

    for record in records:
        record.read.sequencing_kit = kit
    path = workdir / f"{name}.pod5"
    write_pod5(str(path), [r.read for r in records])
    TRUTH.update({r.read.read_id: r.sequence for r in records})
    return path


def taiyaki_inputs(workdir: Path) -> tuple[Path, Path]:
    from basecaller.data.segmented import taiyaki_reads

    records = list(taiyaki_reads(DATA / "r941_taiyaki_mapped"))
    pod5 = records_pod5(records, workdir, "taiyaki", "SQK-LSK109")
    fasta = workdir / "taiyaki_truth.fasta"
    fasta.write_text("".join(f">{r.read.read_id}\n{r.sequence}\n" for r in records))
    return pod5, fasta


ECOLI_HOLDOUT = ("NC_000913.3", 514_000, 531_000)


def ecoli_inputs(workdir: Path) -> tuple[Path, Path]:
    """The f5c E. coli reads that lie inside the held-out interval, as pod5, with their truth."""
    from basecaller.data.segmented import taiyaki_reads

    contig, start, end = ECOLI_HOLDOUT
    records = [r for r in taiyaki_reads(DATA / "r94_ecoli_f5c/mapped_signal_nanopolish.hdf5")
               if r.contig == contig and r.ref_start < end and r.ref_end > start]
    return records_pod5(records, workdir, "ecoli_heldout", "SQK-LSK108"), DATA / "references/ecoli_k12_mg1655.fna.gz"


def simulated_inputs(workdir: Path, chemistry: str, rate: int) -> tuple[Path, Path]:
    from basecaller.simulate import random_genome, simulate_reads, write_simulation

    genome = random_genome(60_000, 0.45, seed=4242, name="heldout_random")
    folder = workdir / f"sim_{chemistry}_{rate}"
    reads = simulate_reads(genome, chemistry=chemistry, sample_rate_hz=rate, n_reads=20, read_length_mean=4000,
                           read_length_sd=1500, seed=99)
    write_simulation(folder, reads, chemistry=chemistry, sample_rate_hz=rate, seed=99)
    fasta = workdir / "heldout_random.fasta"
    fasta.write_text("".join(f">{name}\n{seq}\n" for name, seq in genome.items()))
    TRUTH.update(read_truth(folder / "truth.fasta"))
    return folder / "reads.pod5", fasta


def duplex_agreement_row(model: str, workdir: Path, threads: int, backend: str, move_bias) -> dict:
    """Per duplex pair (template id), identity of the template's call to the reverse complement
    of the complement's call."""
    import pysam

    from basecaller.alphabet import reverse_complement
    from basecaller.inference.job import BasecallRequest, basecall_files
    from basecaller.training.basecaller import edit_identity

    folder = DATA / "r1041_dorado_5khz"
    calls = workdir / "duplex.fastq"
    basecall_files(BasecallRequest(inputs=[str(folder / "duplex.pod5")], output=str(calls), model=model, threads=threads,
                                   progress=False, device="cpu", backend=backend, move_bias=move_bias))
    with pysam.FastxFile(str(calls)) as handle:
        sequences = {entry.name: entry.sequence or "" for entry in handle}
    agreement = {}
    for line in (folder / "duplex_pairs.txt").read_text().split("\n"):
        if line.strip():
            template, complement = line.split()
            one, other = sequences.get(template, ""), reverse_complement(sequences.get(complement, ""))
            longer, shorter = (one, other) if len(one) >= len(other) else (other, one)
            agreement[template] = edit_identity(longer, shorter, infix=True)
    return {"mapped": None, **truth_summary(agreement)}


def remora_truth(workdir: Path) -> Path:
    fasta = workdir / "remora_truth.fasta"
    parts = [(DATA / f"r1041_remora_4khz/{kind}_mappings.ref_spans.fasta").read_text() for kind in ("can", "mod")]
    fasta.write_text("".join(parts))
    TRUTH.update(read_truth(fasta))
    return fasta


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--r941", default="r941_4khz_fast", help="R9.4.1 model (shipped name or directory)")
    parser.add_argument("--r1041", default="r1041_4khz_fast", help="R10.4.1 model (shipped name or directory)")
    parser.add_argument("--only", choices=["r941", "r1041"], help="score one chemistry only")
    parser.add_argument("--beam", type=int, default=0, help="beam width (0 = greedy)")
    parser.add_argument("--window", type=int, help="inference window in samples (default: the model's)")
    parser.add_argument("--overlap", type=int, help="window overlap in samples (default: the model's)")
    parser.add_argument("--backend", default="auto", choices=["auto", "torch", "onnx", "openvino"],
                        help="inference backend (default auto: OpenVINO where installed)")
    parser.add_argument("--move-bias", type=float, help="decode with this move bias (default: each model's own)")
    parser.add_argument("--per-read", help="write case, read id and identity to truth of every read to this TSV")
    args = parser.parse_args()
    r941, r1041 = args.r941, args.r1041
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        TRUTH.update(lambda_truth())
        lam = REPO / "data_samples/lambda_r941"
        cases = [
            ("R9.4.1 lambda, held-out interval (7 reads)", r941, [lam / "reads.pod5"], lam / "lambda.fasta"),
            ("R9.4 E. coli, held-out interval (18 reads)", r941, *_pair(ecoli_inputs(work))),
            ("R9.4.1 taiyaki reads, other organism (7)", r941, *_pair(taiyaki_inputs(work))),
            ("R9.4.1 simulated, random genome (20)", r941, *_pair(simulated_inputs(work, "r9.4.1", 4000))),
            ("R10.4.1 remora hg38 reads (28)", r1041,
             [DATA / "r1041_remora_4khz/can_reads.pod5", DATA / "r1041_remora_4khz/mod_reads.pod5"], remora_truth(work)),
            ("R10.4.1 simulated 4 kHz, random genome (20)", r1041,
             *_pair(simulated_inputs(work, "r10.4.1", 4000))),
            ("R10.4.1 simulated 5 kHz, resampled (20)", r1041,
             *_pair(simulated_inputs(work, "r10.4.1", 5000))),
        ]
        if args.only:
            cases = [case for case in cases if case[0].startswith({"r941": "R9", "r1041": "R10"}[args.only])]
        for index, (name, model, inputs, reference) in enumerate(cases):
            summary = evaluate(inputs, reference, model, work, f"case{index}", args.threads, TRUTH, args.beam,
                               args.window, args.overlap, args.backend, args.move_bias)
            rows.append((name, model, summary))
            if name.startswith("R10.4.1 remora"):
                part_name, part = held_out_part_row(summary, reference)
                rows.append((part_name, model, part))
        if args.only != "r941" and (DATA / "r1041_dorado_5khz/duplex_pairs.txt").exists():
            rows.append(("R10.4.1 duplex pairs, another run, 5 kHz: strands' calls agree (2)", r1041,
                         duplex_agreement_row(r1041, work, args.threads, args.backend, args.move_bias)))
    print("| reads | model | minimap2 mapped | median identity (mapped) | median identity to truth (all) | "
          "mean to truth |")
    print("|---|---|---:|---:|---:|---:|")
    for name, model, s in rows:
        mapped = "–" if s["mapped"] is None else f"{s['mapped']}/{s['reads']}"
        median = "–" if s["mapped"] is None else f"{s['median_identity']:.3f}"
        print(f"| {name} | {model} | {mapped} | {median} | {s['truth_median']:.3f} | {s['truth_mean']:.3f} |")
    if args.per_read:
        lines = [f"{name}\t{read_id}\t{identity:.5f}\n" for name, _, s in rows for read_id, identity in s["per_read"].items()]
        Path(args.per_read).write_text("case\tread_id\tidentity\n" + "".join(lines))


def _pair(pair):
    inputs, reference = pair
    return [inputs], reference


if __name__ == "__main__":
    main()
