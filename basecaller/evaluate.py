"""Accuracy of basecalls against a reference: align with minimap2 (mappy), count errors.

Per read, from the primary alignment's ``cs`` string (mappy preset ``map-ont``):

- identity = matches / (matches + substitutions + inserted bases + deleted bases), over the
  aligned part of the read (BLAST-like identity, equal to minimap2's ``mlen / blen``);
- aligned fraction = aligned read bases / read length;
- homopolymer errors = inserted or deleted bases of indels that only change the length of a
  reference homopolymer of at least 3 bases: every base of the indel is the same base X, and the
  run of X on the reference at that point (for a deletion, the deleted bases plus the X bases
  flanking them; for an insertion, the X bases flanking the insertion point) is >= 3 long.
  They are a subset of the insertions and deletions.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import re
import statistics
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from basecaller.errors import InputError
from basecaller.io.fastx import read_fastx, require_fastx
from basecaller.io.writers import atomic_path

__all__ = [
    "HOMOPOLYMER_MIN_RUN",
    "AlignmentCounts",
    "ReadEvaluation",
    "count_cs",
    "evaluate_calls",
    "evaluate_to_files",
    "format_summary",
    "iter_calls",
    "output_paths",
    "plot_identity_histogram",
    "summarise",
    "write_summary_json",
    "write_tsv",
]

HOMOPOLYMER_MIN_RUN = 3
_CS_OP = re.compile(r":(\d+)|\*([a-z])([a-z])|([+-])([a-z]+)|~[a-z]{2}(\d+)[a-z]{2}")


@dataclass
class AlignmentCounts:
    """Error counts of one alignment (bases)."""

    matches: int = 0
    substitutions: int = 0
    insertions: int = 0
    deletions: int = 0
    homopolymer_errors: int = 0

    @property
    def columns(self) -> int:
        return self.matches + self.substitutions + self.insertions + self.deletions

    @property
    def identity(self) -> float:
        return self.matches / self.columns if self.columns else math.nan


@dataclass
class ReadEvaluation:
    """One read's alignment summary; alignment fields are empty/NaN when unmapped."""

    read_id: str
    read_length: int
    mapped: bool = False
    identity: float = math.nan
    aligned_fraction: float = 0.0
    matches: int = 0
    substitutions: int = 0
    insertions: int = 0
    deletions: int = 0
    homopolymer_errors: int = 0
    ref_name: str = ""
    ref_start: int = -1
    ref_end: int = -1
    strand: str = ""
    mapq: int = 0


def _run_length(ref: str, start: int, end: int, base: str) -> int:
    """Length of the run of ``base`` covering ref[start:end] extended to both sides."""
    left = start
    while left > 0 and ref[left - 1] == base:
        left -= 1
    right = end
    while right < len(ref) and ref[right] == base:
        right += 1
    return right - left


def _is_homopolymer_indel(ref: str, pos: int, bases: str, deletion: bool) -> bool:
    base = bases[0]
    if bases != base * len(bases):
        return False
    end = pos + len(bases) if deletion else pos
    return _run_length(ref, pos, end, base) >= HOMOPOLYMER_MIN_RUN


def count_cs(cs: str, ref: str, ref_start: int) -> AlignmentCounts:
    """Count errors in a short-form ``cs`` string aligned to ``ref`` from ``ref_start``.

    ``ref`` is the forward reference contig (upper or lower case); cs is in reference orientation.
    """
    ref = ref.upper()
    counts = AlignmentCounts()
    pos = ref_start
    for match in _CS_OP.finditer(cs):
        length, sub_ref, _sub_query, indel, bases, intron = match.groups()
        if length:
            counts.matches += int(length)
            pos += int(length)
        elif sub_ref:
            counts.substitutions += 1
            pos += 1
        elif indel:
            bases = bases.upper()
            deletion = indel == "-"
            if _is_homopolymer_indel(ref, pos, bases, deletion):
                counts.homopolymer_errors += len(bases)
            if deletion:
                counts.deletions += len(bases)
                pos += len(bases)
            else:
                counts.insertions += len(bases)
        elif intron:
            pos += int(intron)
    return counts


def iter_calls(path: str | os.PathLike) -> Iterator[tuple[str, str]]:
    """``(read_id, sequence)`` from FASTQ/FASTA(.gz) or SAM/BAM (primary records, read order);
    an empty call is a read too (sequence "")."""
    import pysam

    path = str(path)
    is_sam = path.lower().endswith((".sam", ".bam", ".cram"))
    if not is_sam:
        require_fastx(path, ">@", "FASTA/FASTQ calls")
    elif not os.path.isfile(path):
        raise InputError("calls file not found", path)
    try:
        if is_sam:
            with pysam.AlignmentFile(path, check_sq=False) as sam:
                for record in sam.fetch(until_eof=True):
                    if not (record.is_secondary or record.is_supplementary):
                        yield record.query_name, record.get_forward_sequence() or ""
            return
        for record in read_fastx(path):
            yield record.name, record.sequence
    except (OSError, ValueError) as error:
        raise InputError(f"cannot read calls: {error}", path) from error


def _aligner(reference_path: str | os.PathLike):
    import mappy

    require_fastx(str(reference_path), ">", "FASTA reference")
    aligner = mappy.Aligner(str(reference_path), preset="map-ont")
    if not aligner or not aligner.seq_names:
        raise InputError("cannot read the reference as FASTA", str(reference_path))
    return aligner


def _evaluate_read(aligner, contigs: dict, read_id: str, seq: str) -> ReadEvaluation:
    hit = next((h for h in aligner.map(seq, cs=True) if h.is_primary), None) if seq else None
    if hit is None:
        return ReadEvaluation(read_id, len(seq))
    if hit.ctg not in contigs:
        contigs[hit.ctg] = aligner.seq(hit.ctg)
    counts = count_cs(hit.cs, contigs[hit.ctg], hit.r_st)
    return ReadEvaluation(
        read_id,
        len(seq),
        mapped=True,
        identity=counts.identity,
        aligned_fraction=(hit.q_en - hit.q_st) / len(seq),
        **asdict(counts),
        ref_name=hit.ctg,
        ref_start=hit.r_st,
        ref_end=hit.r_en,
        strand="+" if hit.strand == 1 else "-",
        mapq=hit.mapq,
    )


def evaluate_calls(
    calls_path: str | os.PathLike, reference_path: str | os.PathLike
) -> list[ReadEvaluation]:
    """Align every call to the reference and evaluate its primary alignment."""
    calls = iter_calls(calls_path)
    first = next(calls, None)  # surfaces a bad calls file before the index is built
    aligner = _aligner(reference_path)
    contigs: dict[str, str] = {}
    reads = itertools.chain([first], calls) if first else ()
    return [_evaluate_read(aligner, contigs, rid, seq) for rid, seq in reads]


def summarise(evaluations: Iterable[ReadEvaluation]) -> dict:
    """Read counts, identity statistics and the error-rate profile over all aligned columns."""
    evaluations = list(evaluations)
    mapped = [e for e in evaluations if e.mapped]
    identities = [e.identity for e in mapped]
    totals = {k: sum(getattr(e, k) for e in mapped) for k in _COUNT_FIELDS}
    columns = sum(totals[k] for k in ("matches", "substitutions", "insertions", "deletions"))
    rates = {f"{k}_rate": (totals[k] / columns if columns else math.nan) for k in _COUNT_FIELDS[1:]}
    return {
        "reads": len(evaluations),
        "mapped": len(mapped),
        "mapped_fraction": len(mapped) / len(evaluations) if evaluations else math.nan,
        "median_identity": statistics.median(identities) if identities else math.nan,
        "mean_identity": statistics.fmean(identities) if identities else math.nan,
        "min_identity": min(identities, default=math.nan),
        "max_identity": max(identities, default=math.nan),
        "mean_aligned_fraction": statistics.fmean(e.aligned_fraction for e in mapped)
        if mapped
        else math.nan,
        "aligned_columns": columns,
        "error_rate": 1 - totals["matches"] / columns if columns else math.nan,
        **rates,
    }


_COUNT_FIELDS = ("matches", "substitutions", "insertions", "deletions", "homopolymer_errors")


def format_summary(summary: dict) -> str:
    """The summary as an aligned two-column table."""
    width = max(map(len, summary))
    lines = []
    for key, value in summary.items():
        text = f"{value:.4f}" if isinstance(value, float) else str(value)
        lines.append(f"{key:<{width}}  {text}")
    return "\n".join(lines)


def write_tsv(evaluations: Iterable[ReadEvaluation], path: str | os.PathLike) -> None:
    """Per-read TSV, one column per ``ReadEvaluation`` field; written atomically."""
    names = [f.name for f in fields(ReadEvaluation)]
    with atomic_path(path) as tmp, open(tmp, "w") as out:
        out.write("\t".join(names) + "\n")
        for evaluation in evaluations:
            row = asdict(evaluation)
            out.write("\t".join(_tsv_value(row[name]) for name in names) + "\n")


def _tsv_value(value) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.6g}"
    return str(value)


def write_summary_json(summary: dict, path: str | os.PathLike) -> None:
    """Summary as JSON (NaN as null); written atomically."""
    clean = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in summary.items()}
    with atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps(clean, indent=2) + "\n")


def plot_identity_histogram(
    evaluations: Iterable[ReadEvaluation], path: str | os.PathLike, title: str = ""
) -> None:
    """PNG histogram of per-read identity of mapped reads; written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    identities = [e.identity for e in evaluations if e.mapped]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.hist(identities, bins=50, range=(min(identities, default=0.5), 1.0), color="#4477aa")
    if identities:
        ax.axvline(statistics.median(identities), color="k", linestyle="--", label="median")
        ax.legend()
    ax.set(xlabel="identity", ylabel="reads", title=title or f"{len(identities)} mapped reads")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


def output_paths(out: str | os.PathLike) -> dict[str, Path]:
    """Output files for a prefix (``OUT.per_read.tsv``) or a directory (``OUT/evaluation.*``)."""
    out_str = str(out)
    if os.path.isdir(out_str) or out_str.endswith(os.sep):
        os.makedirs(out_str, exist_ok=True)
        prefix = Path(out_str) / "evaluation"
    else:
        prefix = Path(out_str)
        if not prefix.parent.is_dir():
            raise InputError("output directory does not exist", str(prefix.parent))
    return {
        "tsv": Path(f"{prefix}.per_read.tsv"),
        "json": Path(f"{prefix}.summary.json"),
        "png": Path(f"{prefix}.identity.png"),
    }


def evaluate_to_files(
    calls_path: str | os.PathLike, reference_path: str | os.PathLike, out: str | os.PathLike
) -> tuple[dict, dict[str, Path]]:
    """Evaluate calls and write the per-read TSV, summary JSON and histogram PNG."""
    paths = output_paths(out)
    evaluations = evaluate_calls(calls_path, reference_path)
    summary = summarise(evaluations)
    write_tsv(evaluations, paths["tsv"])
    write_summary_json(summary, paths["json"])
    plot_identity_histogram(evaluations, paths["png"], title=Path(calls_path).name)
    return summary, paths
