"""The one FASTA/FASTQ reader (plain or gzip): records in file order, and the whole-file
forms the simulator, the chunk builder, evaluation and ``--resume`` use."""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterator
from dataclasses import dataclass

from basecaller.errors import InputError

__all__ = ["FastxRecord", "first_char", "read_fasta", "read_fastx", "require_fastx", "sequences_by_name"]


@dataclass(frozen=True)
class FastxRecord:
    """One entry: ``name`` (the header's first word), the rest of the header as ``comment``,
    and ``quality`` (phred+33 text; None for FASTA)."""

    name: str
    sequence: str
    comment: str = ""
    quality: str | None = None

    @property
    def fields(self) -> dict[str, str]:
        """``key=value`` words of the comment (e.g. the simulator's ``contig=... start=...``)."""
        return dict(item.split("=", 1) for item in self.comment.split() if "=" in item)


def first_char(path: str | os.PathLike) -> str:
    """First non-blank character of a plain or gzip-compressed text file ('' if none)."""
    with open(path, "rb") as raw:
        gz = raw.read(2) == b"\x1f\x8b"
    try:
        with (gzip.open if gz else open)(path, "rb") as handle:
            return handle.read(4096).lstrip()[:1].decode("ascii", errors="replace")
    except OSError as error:
        raise InputError(f"cannot read: {error}", str(path)) from error


def require_fastx(path: str | os.PathLike, markers: str, what: str) -> None:
    """InputError unless ``path`` is a file starting with one of ``markers`` (">", "@")."""
    if not os.path.isfile(path):
        raise InputError(f"{what} not found", str(path))
    if first_char(path) not in markers:
        raise InputError(f"not a {what} file (expected it to start with {' or '.join(markers)})", str(path))


def read_fastx(path: str | os.PathLike) -> Iterator[FastxRecord]:
    """Every record of a FASTA or FASTQ file (gzip or not), in file order."""
    import pysam

    with pysam.FastxFile(str(path)) as handle:
        for entry in handle:
            yield FastxRecord(entry.name, entry.sequence or "", entry.comment or "", entry.quality)


def sequences_by_name(path: str | os.PathLike) -> dict[str, str]:
    """``{name: sequence}`` of a FASTA/FASTQ file (InputError when it does not exist)."""
    if not os.path.exists(path):
        raise InputError("no such FASTA/FASTQ file", str(path))
    return {record.name: record.sequence for record in read_fastx(path)}


def read_fasta(path: str | os.PathLike) -> dict[str, str]:
    """Contig name -> upper-case sequence of a FASTA(.gz) genome (InputError when missing,
    not FASTA, or empty)."""
    if not os.path.isfile(path):
        raise InputError("FASTA file not found", path=str(path))
    if first_char(path) not in ">":
        raise InputError("not a FASTA file (no '>' header)", path=str(path))
    genome = {record.name or f"contig{number}": record.sequence.upper()
              for number, record in enumerate(read_fastx(path))}
    if not genome or not any(genome.values()):
        raise InputError("FASTA file holds no sequence", path=str(path))
    return genome
