"""Recombined reads: new labelled reads spliced from pieces of real ones.

A model trained for many epochs on a few reads learns their sequences as well as their signal
(the R10.4.1 reads all cover one 15 kb locus). A recombined read walks through one real read for
a few dozen bases, then jumps to another read, or another place of the genome, where the same
``junction_bases`` bases sit around the jump, and goes on there. The pore sees those bases on
both sides of the junction, so the signal stays real sample for sample while the sequence is new
beyond a segment's length. Labels are exact: every base keeps the samples its own read gave it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from basecaller.alphabet import decode_labels, encode_bases
from basecaller.data.segmented import SegmentedRead
from basecaller.io.read import Read
from basecaller.signal.normalise import Normalisation, normalise_read

__all__ = ["RecombineSpec", "Piece", "pieces_of", "recombined_reads"]


@dataclass(frozen=True)
class RecombineSpec:
    """How to splice: how many reads, mean bases per segment, how many bases must agree around
    a junction, and how far along the genome a junction must jump (same contig and strand)."""

    reads: int
    segment_bases: float = 40.0
    junction_bases: int = 6
    min_jump: int = 1000
    seed: int = 0


@dataclass
class Piece:
    """A stretch of one real read outside every excluded interval: normalised signal, its bases
    (encoded 1..4), where each base starts (len + 1 entries, from 0) and, where known, each
    base's forward-strand genome position (-1 unknown); ``first`` is its first base's index in
    read ``read_id``."""

    signal: np.ndarray
    labels: np.ndarray
    base_starts: np.ndarray
    positions: np.ndarray
    contig: str
    strand: str
    sample_rate_hz: float
    read_id: str
    first: int


def _genome_positions(record: SegmentedRead) -> np.ndarray:
    index = np.arange(len(record.sequence), dtype=np.int64)
    if record.ref_start < 0:
        return np.full(len(index), -1, dtype=np.int64)
    return record.ref_end - 1 - index if record.strand == "-" else record.ref_start + index


def _allowed(record: SegmentedRead, positions: np.ndarray, exclude) -> np.ndarray:
    keep = np.ones(len(positions), dtype=bool)
    for contig, start, end in exclude:
        if record.contig == contig:
            keep &= ~((positions >= start) & (positions < end))
    return keep


def pieces_of(record: SegmentedRead, exclude=(), normalisation: Normalisation = Normalisation(),
              min_bases: int = 50) -> list[Piece]:
    """The read cut at every excluded interval ((contig, start, end), 0-based, end exclusive),
    normalised as the chunk builder normalises the whole read; runs shorter than ``min_bases``
    are dropped."""
    signal = normalise_read(record.read, normalisation)
    positions = _genome_positions(record)
    keep = _allowed(record, positions, exclude)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], keep.astype(np.int8), [0]])))
    labels = encode_bases(record.sequence)
    pieces = []
    for first, end in zip(edges[::2], edges[1::2]):
        if end - first < min_bases:
            continue
        starts = record.base_starts[first : end + 1]
        pieces.append(Piece(signal[starts[0] : starts[-1]], labels[first:end], starts - starts[0],
                            positions[first:end], record.contig, record.strand, record.read.sample_rate_hz,
                            record.read.read_id, int(first)))
    return pieces


class _JunctionIndex:
    """Every (piece, base) by the ``2 * half`` bases around it, as one integer key, sorted, with
    where on which genome strand that base lies."""

    def __init__(self, pieces: list[Piece], half: int):
        self.half = half
        places, self.place_of = {}, []
        columns = {"keys": [], "owners": [], "bases": [], "places": [], "genome": []}
        for number, piece in enumerate(pieces):
            keys = self.keys_of(piece.labels)
            bases = np.arange(half, half + len(keys), dtype=np.int64)
            place = places.setdefault((piece.contig, piece.strand), len(places)) if piece.contig else -1 - number
            self.place_of.append(place)
            columns["keys"].append(keys)
            columns["owners"].append(np.full(len(keys), number, dtype=np.int64))
            columns["bases"].append(bases)
            columns["places"].append(np.full(len(keys), place, dtype=np.int64))
            columns["genome"].append(piece.positions[bases])
        merged = {name: np.concatenate(parts) if parts else np.zeros(0, np.int64) for name, parts in columns.items()}
        order = np.argsort(merged["keys"], kind="stable")
        for name, values in merged.items():
            setattr(self, name, values[order])

    def keys_of(self, labels: np.ndarray) -> np.ndarray:
        """Key of each junction position i in [half, len - half]: labels[i - half : i + half]."""
        width = 2 * self.half
        if len(labels) < width:
            return np.zeros(0, dtype=np.int64)
        digits = np.lib.stride_tricks.sliding_window_view(labels.astype(np.int64) - 1, width)
        return digits @ (4 ** np.arange(width - 1, -1, -1, dtype=np.int64))

    def far_matches(self, labels: np.ndarray, end: int, piece_number: int, position: int,
                    min_jump: int) -> tuple[np.ndarray, np.ndarray]:
        """(piece, base) of every junction that matches ``labels`` around ``end`` in another
        read and, on the same genome strand, at least ``min_jump`` bases away."""
        key = int(self.keys_of(labels[end - self.half : end + self.half])[0])
        low, high = np.searchsorted(self.keys, [key, key + 1])
        owners, places, genome = self.owners[low:high], self.places[low:high], self.genome[low:high]
        near = (places == self.place_of[piece_number]) & (np.abs(genome - position) < min_jump)
        far = (owners != piece_number) & ~near
        return owners[far], self.bases[low:high][far]


def _walk(pieces: list[Piece], index: _JunctionIndex, target_bases: int, spec: RecombineSpec,
          rng: np.random.Generator) -> list[tuple[int, int, int]]:
    """Segments (piece, first base, end base) of one recombined read."""
    half = index.half
    number = int(rng.integers(len(pieces)))
    first = int(rng.integers(max(1, len(pieces[number].labels) - 2 * half)))
    segments, total = [], 0
    while total < target_bases:
        piece = pieces[number]
        end = min(first + max(2 * half, int(rng.geometric(1 / spec.segment_bases))), len(piece.labels))
        jump = None
        while jump is None and end <= len(piece.labels) - half and total + end - first < target_bases:
            owners, bases = index.far_matches(piece.labels, end, number, int(piece.positions[end]), spec.min_jump)
            if len(owners):
                choice = int(rng.integers(len(owners)))
                jump = int(owners[choice]), int(bases[choice])
            else:
                end += 1
        end = min(end, len(piece.labels))
        segments.append((number, first, end))
        total += end - first
        if jump is None:
            break
        number, first = jump
    return segments


def _assemble(pieces: list[Piece], segments, read_id: str) -> SegmentedRead:
    """The read the segments spell; ``read.extra["segments"]`` says where each came from:
    (source read id, first base, end base) in that read's own base indices."""
    signals, labels, starts, offset = [], [], [], 0
    for number, first, end in segments:
        piece = pieces[number]
        begin, stop = int(piece.base_starts[first]), int(piece.base_starts[end])
        signals.append(piece.signal[begin:stop])
        labels.append(piece.labels[first:end])
        starts.append(piece.base_starts[first:end] - begin + offset)
        offset += stop - begin
    signal = np.concatenate(signals).astype(np.float32)
    sequence = decode_labels(np.concatenate(labels))
    read = Read(read_id=read_id, signal_dac=signal, offset_dac=0.0, scale_pa_per_dac=1.0,
                sample_rate_hz=pieces[segments[0][0]].sample_rate_hz,
                extra={"segments": [(pieces[n].read_id, pieces[n].first + f, pieces[n].first + e) for n, f, e in segments]})
    return SegmentedRead(read, sequence, np.append(np.concatenate(starts), offset).astype(np.int64), normalised=True)


def recombined_reads(records: Iterable[SegmentedRead], spec: RecombineSpec, exclude=(),
                     normalisation: Normalisation = Normalisation()) -> Iterator[SegmentedRead]:
    """``spec.reads`` recombined reads from ``records``, none of whose bases lies inside an
    excluded interval; read lengths follow the real reads'. Their signal is already normalised
    (float samples, scale 1; ``normalised`` is set, so chunks keep each piece's own read's
    normalisation), and they carry no genome position."""
    pieces, lengths = [], []
    for record in records:
        lengths.append(len(record.sequence))
        pieces.extend(pieces_of(record, exclude, normalisation, min_bases=4 * spec.junction_bases))
    if not pieces:
        return
    index = _JunctionIndex(pieces, spec.junction_bases // 2)
    rng = np.random.default_rng(spec.seed)
    for number in range(spec.reads):
        segments = _walk(pieces, index, int(rng.choice(lengths)), spec, rng)
        yield _assemble(pieces, segments, f"recombined_{spec.seed}_{number}")
