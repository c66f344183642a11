"""Genomes to sample reads from: a FASTA file or a random sequence of given GC content."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from basecaller.alphabet import reverse_complement
from basecaller.errors import InputError

__all__ = ["Fragment", "allowed_regions", "clean_genome", "fragment_with_context",
           "parse_interval", "random_genome", "reverse_complement",
           "sample_fragment", "write_fasta"]


def clean_genome(genome: dict[str, str], rng: np.random.Generator) -> dict[str, str]:
    """Replace every non-ACGT base (N, IUPAC codes) by a random base, so truth stays ACGT."""
    cleaned = {}
    for name, sequence in genome.items():
        raw = np.frombuffer(sequence.upper().encode(), np.uint8).copy()
        bad = ~np.isin(raw, np.frombuffer(b"ACGT", np.uint8))
        if bad.any():
            raw[bad] = np.frombuffer(b"ACGT", np.uint8)[rng.integers(0, 4, int(bad.sum()))]
        cleaned[name] = raw.tobytes().decode()
    return cleaned


def random_genome(
    length: int, gc_content: float = 0.5, seed: int = 0, name: str = "random"
) -> dict[str, str]:
    """One contig of i.i.d. bases with P(G) = P(C) = gc/2."""
    if length < 1 or not 0.0 <= gc_content <= 1.0:
        raise InputError("random genome needs length >= 1 and 0 <= GC <= 1")
    rng = np.random.default_rng(seed)
    p_gc, p_at = gc_content / 2, (1 - gc_content) / 2
    codes = rng.choice(4, size=length, p=[p_at, p_gc, p_gc, p_at])
    return {name: np.frombuffer(b"ACGT", np.uint8)[codes].tobytes().decode()}


def write_fasta(path: str | os.PathLike, records: dict[str, str], width: int = 80) -> None:
    with open(path, "w") as handle:
        for header, sequence in records.items():
            handle.write(f">{header}\n")
            for start in range(0, len(sequence), width):
                handle.write(sequence[start : start + width] + "\n")


@dataclass(frozen=True)
class Fragment:
    """Where a read comes from: ``contig[start:end]`` on ``strand`` ('+' or '-')."""

    contig: str
    start: int
    end: int
    strand: str


def parse_interval(text: str) -> tuple[str, int, int]:
    """``CONTIG:START-END`` (1-based inclusive, as samtools writes it; commas allowed) to
    ``(contig, start, end)`` 0-based, end exclusive. ``CONTIG`` alone is the whole contig."""
    contig, _, span = text.rpartition(":") if ":" in text else (text, "", "")
    if not span:
        return text, 0, np.iinfo(np.int64).max
    try:
        first, last = (int(part.replace(",", "")) for part in span.split("-"))
    except ValueError:
        raise InputError(f"interval must be CONTIG:START-END, not {text!r}") from None
    if not contig or first < 1 or last < first:
        raise InputError(f"interval must be CONTIG:START-END with 1 <= START <= END, not {text!r}")
    return contig, first - 1, last


def allowed_regions(genome: dict[str, str], exclude: list[tuple[str, int, int]],
                    min_length: int = 1) -> list[tuple[str, int, int]]:
    """The parts of every contig outside the ``exclude`` intervals, at least ``min_length``
    long, as ``(contig, start, end)``; whole contigs when nothing is excluded."""
    unknown = sorted({contig for contig, _, _ in exclude} - set(genome))
    if unknown:
        raise InputError(f"excluded contig(s) not in the genome: {', '.join(unknown)}")
    regions = []
    for name, sequence in genome.items():
        cuts = sorted((max(0, s), min(len(sequence), e)) for c, s, e in exclude if c == name)
        position = 0
        for start, end in cuts + [(len(sequence), len(sequence))]:
            if start - position >= (min_length if cuts else 1):
                regions.append((name, position, start))
            position = max(position, end)
    if not regions:
        raise InputError(f"no region of at least {min_length} bases is left outside the "
                         "excluded intervals")
    return regions


def sample_fragment(
    genome: dict[str, str],
    rng: np.random.Generator,
    length_mean: float,
    length_sd: float,
    min_length: int,
    regions: list[tuple[str, int, int]] | None = None,
) -> Fragment:
    """Region (a contig, or a part of one outside excluded intervals) by length,
    gamma-distributed length clipped to the region, uniform position, strand 50/50."""
    regions = regions or [(name, 0, len(sequence)) for name, sequence in genome.items()]
    sizes = np.array([end - start for _, start, end in regions], dtype=np.float64)
    contig, lo, hi = regions[int(rng.choice(len(regions), p=sizes / sizes.sum()))]
    strand = "+" if rng.random() < 0.5 else "-"
    shape = (length_mean / length_sd) ** 2 if length_sd > 0 else np.inf
    length = length_mean if np.isinf(shape) else rng.gamma(shape, length_mean / shape)
    length = int(min(max(round(length), min_length), hi - lo))
    start = lo + int(rng.integers(0, hi - lo - length + 1))
    return Fragment(contig, start, start + length, strand)


def fragment_with_context(
    genome: dict[str, str], fragment: Fragment, pad: int, rng: np.random.Generator
) -> str:
    """The fragment in read (time) order with ``pad`` bases of context on each side.

    Context comes from the genome where it exists and is random beyond a contig end, so
    the k-mers at the read ends are complete.
    """
    contig = genome[fragment.contig]
    left = contig[max(0, fragment.start - pad) : fragment.start]
    right = contig[fragment.end : fragment.end + pad]
    random = np.frombuffer(b"ACGT", np.uint8)[rng.integers(0, 4, 2 * pad)].tobytes().decode()
    left = random[: pad - len(left)] + left
    right = right + random[pad : 2 * pad - len(right)]
    forward = left + contig[fragment.start : fragment.end] + right
    return forward if fragment.strand == "+" else reverse_complement(forward)
