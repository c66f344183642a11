"""Labelled signal from each source of truth, as one record: a read's signal, its true
sequence in read (time) order, and where each base starts in the signal.

Sources: Tombo-resquiggled FAST5 (``Events`` table), taiyaki mapped-signal HDF5
(``Ref_to_signal``), POD5 plus an aligned BAM with move tables, and the simulator's output.
Pseudo-labels run a basecaller, so they live above this layer
(``basecaller.inference.pseudo_labels``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from basecaller.alphabet import BASES, reverse_complement
from basecaller.errors import InputError, SkipLog
from basecaller.io.fastx import read_fastx
from basecaller.io.open import find_signal_files, open_reads
from basecaller.io.read import Read

__all__ = ["SegmentedRead", "tombo_reads", "taiyaki_reads", "bam_reads", "simulated_reads", "checked_records", "fill_from_next",
           "time_stretched", "SOURCES"]


@dataclass
class SegmentedRead:
    """A read with its truth. ``base_starts`` has len(sequence) + 1 entries (the last is where
    the last base ends), non-decreasing, in samples from the start of ``read``'s signal.
    ``ref_start``/``ref_end`` locate the sequence on ``contig`` (forward-strand coordinates).
    ``normalised``: the signal is already normalised (recombined reads, whose pieces keep their
    own reads' normalisation), so the chunk builder takes it as it is."""

    read: Read
    sequence: str
    base_starts: np.ndarray
    contig: str = ""
    ref_start: int = -1
    ref_end: int = -1
    strand: str = "+"
    normalised: bool = False

    def check(self) -> SegmentedRead:
        starts = self.base_starts
        if len(starts) != len(self.sequence) + 1:
            raise InputError("segmentation length does not match the sequence", self.read.source_path, self.read.read_id)
        if len(starts) < 2 or starts[0] < 0 or starts[-1] > self.read.num_samples or np.any(np.diff(starts) < 0):
            raise InputError("segmentation is not monotonic inside the signal", self.read.source_path, self.read.read_id)
        return self


def time_stretched(record: SegmentedRead, factor: float) -> SegmentedRead:
    """The same read ``factor`` times slower (more samples per base when ``factor`` > 1): the
    signal resampled by linear interpolation, every base start moved with it, labels unchanged."""
    if factor == 1:
        return record
    if factor <= 0:
        raise ValueError(f"a time stretch must be positive, got {factor}")
    read = record.read
    count = read.num_samples
    stretched = max(2, round(count * factor))
    samples = np.interp(np.linspace(0, count - 1, stretched), np.arange(count), read.signal_dac.astype(np.float64))
    signal = np.rint(samples).astype(read.signal_dac.dtype)
    starts = np.minimum(np.rint(record.base_starts * (stretched / count)).astype(np.int64), stretched)
    return replace(record, read=replace(read, signal_dac=signal), base_starts=starts)


def checked_records(records: Iterator[SegmentedRead], skips: SkipLog) -> Iterator[SegmentedRead]:
    for record in records:
        try:
            yield record.check()
        except InputError as error:
            skips.skip(error, "bad labels")


# --- Tombo ------------------------------------------------------------------------------------

TOMBO_GROUP = "Analyses/RawGenomeCorrected_000/BaseCalled_template"


def _tombo_segmentation(path: str, read: Read) -> SegmentedRead:
    from basecaller.io.fast5 import _open_hdf5

    with _open_hdf5(path) as handle:
        if f"{TOMBO_GROUP}/Events" not in handle:
            raise InputError("no Tombo Events table", path, read.read_id)
        events = handle[f"{TOMBO_GROUP}/Events"]
        offset = int(events.attrs["read_start_rel_to_raw"])
        table = events[()]
        alignment = dict(handle[f"{TOMBO_GROUP}/Alignment"].attrs)
    starts = offset + np.append(table["start"], table["start"][-1] + table["length"][-1]).astype(np.int64)
    sequence = b"".join(table["base"]).decode()
    return SegmentedRead(read, sequence, starts, *_mapping(alignment))


def tombo_reads(paths, skips: SkipLog | None = None, **_) -> Iterator[SegmentedRead]:
    """Reads with Tombo resquiggle events from FAST5 files or directories."""
    skips = skips if skips is not None else SkipLog()

    def records():
        for read in open_reads(paths, skips=skips):
            try:
                yield _tombo_segmentation(read.source_path, read)
            except InputError as error:
                skips.skip(error, "bad labels")
            except Exception as error:
                skips.skip(InputError(f"unreadable Tombo events ({error})", read.source_path, read.read_id), "bad labels")

    return checked_records(records(), skips)


# --- taiyaki ----------------------------------------------------------------------------------

def _taiyaki_record(path: str, read_id: str, group) -> SegmentedRead:
    attrs = group.attrs
    scale = float(attrs["range"]) / float(attrs["digitisation"])
    read = Read(read_id=read_id, signal_dac=group["Dacs"][()], offset_dac=float(attrs["offset"]),
                scale_pa_per_dac=scale, sample_rate_hz=float(attrs.get("sample_rate", 4000.0)),
                source_path=path, file_shift_pa=float(attrs["shift_frompA"]),
                file_scale_pa=float(attrs["scale_frompA"]))
    sequence = "".join(BASES[i] for i in group["Reference"][()])
    return SegmentedRead(read, sequence, group["Ref_to_signal"][()].astype(np.int64), *_mapping(attrs))


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _mapping(attrs) -> tuple[str, int, int, str]:
    """Genome coordinates of a mapped read (``mapped_chrom/start/end/strand``), when the file
    records them (the taiyaki walkthrough files do not)."""
    if "mapped_chrom" not in attrs:
        return "", -1, -1, "+"
    return (_text(attrs["mapped_chrom"]), int(attrs["mapped_start"]), int(attrs["mapped_end"]),
            _text(attrs["mapped_strand"]))


def taiyaki_reads(paths, skips: SkipLog | None = None, **_) -> Iterator[SegmentedRead]:
    """Reads from taiyaki mapped-signal HDF5 files (``Reads/<id>/{Dacs,Reference,Ref_to_signal}``)."""
    from basecaller.io.fast5 import _open_hdf5

    skips = skips if skips is not None else SkipLog()

    def records():
        for path in _hdf5_files(paths, skips):
            try:
                with _open_hdf5(path) as handle:
                    for read_id in handle["Reads"]:
                        try:
                            yield _taiyaki_record(path, read_id, handle["Reads"][read_id])
                        except Exception as error:
                            skips.skip(InputError(f"unreadable mapped read ({error})", path, read_id), "bad labels")
            except Exception as error:
                skips.skip(InputError(f"unreadable mapped-signal file ({error})", path), "unreadable file")

    return checked_records(records(), skips)


def _hdf5_files(paths, skips: SkipLog) -> list[str]:
    found = []
    for raw in [paths] if isinstance(paths, (str, Path)) else paths:
        path = Path(raw)
        if path.is_dir():
            found.extend(sorted(str(p) for p in path.rglob("*") if p.suffix in (".hdf5", ".h5")))
        elif path.exists():
            found.append(str(path))
        else:
            skips.skip(InputError("no such file or directory", str(path)), "unusable path")
    return found


# --- POD5 + aligned BAM with move tables ------------------------------------------------------

def _query_base_starts(record, num_samples: int) -> np.ndarray:
    """Signal start of each basecalled base, in read order, plus the end (len = L + 1)."""
    moves = np.asarray(record.get_tag("mv"))
    stride, moves = int(moves[0]), moves[1:]
    trimmed = int(record.get_tag("ts")) if record.has_tag("ts") else 0
    starts = trimmed + stride * np.flatnonzero(moves)
    return np.append(starts, min(trimmed + stride * len(moves), num_samples)).astype(np.int64)


def fill_from_next(starts: np.ndarray, end: int) -> np.ndarray:
    """Non-decreasing ``starts`` with -1 for bases that no signal step aligns to: each of
    those starts where the next aligned base does (``end`` after the last one)."""
    filled = np.where(starts < 0, end, starts)
    return np.minimum.accumulate(filled[::-1])[::-1]


def _reference_in_read_order(record, reference: dict | None) -> tuple[str, np.ndarray]:
    """Reference bases of the alignment in read order, with the read-order query index each
    aligns to (-1 for deleted bases)."""
    pairs = [(q, r) for q, r in record.get_aligned_pairs() if r is not None]
    if reference is not None:
        contig = reference[record.reference_name]
        ref_bases = contig[record.reference_start : record.reference_end].upper()
    else:
        ref_bases = record.get_reference_sequence().upper()  # needs the MD tag
    query_index = np.array([-1 if q is None else q for q, _ in pairs], dtype=np.int64)
    if record.is_reverse:
        length = record.query_length or record.infer_read_length()
        query_index = np.where(query_index >= 0, length - 1 - query_index, -1)[::-1]
        ref_bases = reverse_complement(ref_bases)
    return ref_bases, query_index


def _alignment_segmentation(record, read: Read, reference: dict | None) -> SegmentedRead:
    if not record.has_tag("mv"):
        raise InputError("BAM record has no move table (mv tag)", read.source_path, read.read_id)
    query_starts = _query_base_starts(record, read.num_samples)
    sequence, query_index = _reference_in_read_order(record, reference)
    aligned = query_index >= 0
    starts = np.full(len(sequence), -1, dtype=np.int64)
    starts[aligned] = query_starts[query_index[aligned]]
    last_query = query_index[aligned][-1]
    starts = np.append(fill_from_next(starts, query_starts[last_query + 1]), query_starts[last_query + 1])
    strand = "-" if record.is_reverse else "+"
    return SegmentedRead(read, sequence, starts, record.reference_name, record.reference_start,
                         record.reference_end, strand)


def _primary_alignments(bam_path: str) -> dict:
    import pysam

    try:
        with pysam.AlignmentFile(bam_path, check_sq=False) as bam:
            return {r.query_name: r for r in bam if not (r.is_unmapped or r.is_secondary or r.is_supplementary)}
    except (OSError, ValueError) as error:
        raise InputError(f"unreadable BAM ({error})", bam_path) from None


def bam_reads(paths, bam: str, reference: str | None = None, skips: SkipLog | None = None, **_) -> Iterator[SegmentedRead]:
    """POD5 (or any signal) reads matched by id to primary alignments with move tables.

    Labels are the reference bases the read aligns to (from ``reference`` FASTA, or rebuilt
    from the MD tag), segmented through the move table.
    """
    skips = skips if skips is not None else SkipLog()
    alignments = _primary_alignments(bam)
    contigs = _reference(reference) if reference else None

    def records():
        for read in open_reads(paths, read_ids=alignments, skips=skips):
            try:
                yield _alignment_segmentation(alignments[read.read_id], read, contigs)
            except InputError as error:
                skips.skip(error, "bad labels")
            except (ValueError, KeyError, IndexError) as error:
                skips.skip(InputError(f"cannot segment from alignment ({error})", read.source_path, read.read_id), "bad labels")

    return checked_records(records(), skips)


def _reference(path: str) -> dict[str, str]:
    if not Path(path).exists():
        raise InputError("no such reference FASTA", path)
    return {record.name: record.sequence for record in read_fastx(path)}


# --- simulator output -------------------------------------------------------------------------

def _truth_records(path: Path) -> dict[str, tuple[str, dict]]:
    return {record.name: (record.sequence, record.fields) for record in read_fastx(path)}


def simulated_reads(paths, skips: SkipLog | None = None, **_) -> Iterator[SegmentedRead]:
    """Reads from ``basecaller simulate`` output folders (reads.pod5, truth.fasta, segmentation.npz)."""
    skips = skips if skips is not None else SkipLog()

    def records():
        for folder in [paths] if isinstance(paths, (str, Path)) else paths:
            folder = Path(folder)
            if not (folder / "truth.fasta").exists() or not (folder / "segmentation.npz").exists():
                skips.skip(InputError("not a simulator output folder (truth.fasta, segmentation.npz)", str(folder)),
                           "unusable path")
                continue
            truth = _truth_records(folder / "truth.fasta")
            with np.load(folder / "segmentation.npz") as segmentation:
                for read in open_reads(find_signal_files([folder]), read_ids=truth, skips=skips):
                    sequence, fields = truth[read.read_id]
                    yield SegmentedRead(read, sequence, segmentation[read.read_id].astype(np.int64),
                                        fields.get("contig", ""), int(fields.get("start", -1)),
                                        int(fields.get("end", -1)), fields.get("strand", "+"))

    return checked_records(records(), skips)


SOURCES = {"tombo": tombo_reads, "taiyaki": taiyaki_reads, "bam": bam_reads, "simulated": simulated_reads}
"""Labelled-read sources that need no model; ``basecaller.inference.pseudo_labels.SOURCES``
adds "pseudo"."""
