"""The on-disk training chunk dataset, the builder that cuts it from labelled reads, and
splits by read and by genome interval.

A dataset is a folder in the layout bonito reads, plus arrays that say where each chunk
came from::

    chunks.npy             (N, T) float16/32  normalised signal windows
    references.npy         (N, M) uint8       labels 1..4 = ACGT, 0 = padding
    reference_lengths.npy  (N,)   uint16      number of labels per chunk
    read_ids.npy           (N,)   str
    signal_starts.npy      (N,)   int64       first sample of the chunk in its read
    positions.npy          (N, 2) int64       [first, end) base index in the read's truth
    contigs.npy            (N,)   str         reference contig ('' when unknown)
    ref_intervals.npy      (N, 2) int64       forward-strand [start, end) on the contig, -1 unknown
    meta.json                                 chunk size, normalisation, sources, counts
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from basecaller.alphabet import encode_bases
from basecaller.data.segmented import SegmentedRead
from basecaller.signal.normalise import Normalisation, normalise_read

__all__ = ["ChunkDataset", "ChunkSpec", "build_chunks", "split_by_read", "split_by_interval", "parse_interval"]

_ARRAYS = ("chunks", "references", "reference_lengths", "read_ids", "signal_starts", "positions",
           "contigs", "ref_intervals")


@dataclass(frozen=True)
class ChunkSpec:
    """How to cut chunks: length and step in samples, and which chunks to keep.

    A chunk is kept when its samples-per-base lies in [min_samples_per_base,
    max_samples_per_base]: the lower bound keeps CTC feasible after the model's stride,
    the upper one drops stalls and mis-segmented stretches.
    """

    chunk_len: int = 3600
    step: int | None = None  # default: chunk_len (no overlap)
    min_samples_per_base: float = 6.0
    max_samples_per_base: float = 40.0
    max_labels: int | None = None  # default: chunk_len // min_samples_per_base
    normalisation: Normalisation = Normalisation()

    @property
    def label_width(self) -> int:
        return self.max_labels or int(self.chunk_len // self.min_samples_per_base)


_MAPPED = ("chunks", "references")  # the arrays load() memory-maps


@dataclass(frozen=True)
class _MappedFile:
    path: str


def _mapped_shape(path) -> tuple:
    return np.load(path, mmap_mode="r").shape


@dataclass
class ChunkDataset:
    """Training chunks in memory (or memory-mapped); see the module docstring for fields."""

    chunks: np.ndarray
    references: np.ndarray
    reference_lengths: np.ndarray
    read_ids: np.ndarray
    signal_starts: np.ndarray
    positions: np.ndarray
    contigs: np.ndarray
    ref_intervals: np.ndarray
    meta: dict

    def __len__(self) -> int:
        return len(self.chunks)

    def subset(self, mask_or_index: np.ndarray) -> ChunkDataset:
        arrays = {name: np.asarray(getattr(self, name))[mask_or_index] for name in _ARRAYS}
        return ChunkDataset(**arrays, meta={**self.meta, "num_chunks": int(len(arrays["chunks"]))})

    def __getstate__(self) -> dict:
        """Memory-mapped arrays travel to other processes (data-parallel workers) as their
        file names and are mapped again there."""
        state = dict(self.__dict__)
        for name in _MAPPED:
            array = state[name]
            if isinstance(array, np.memmap) and array.filename and array.shape == _mapped_shape(array.filename):
                state[name] = _MappedFile(str(array.filename))
        return state

    def __setstate__(self, state: dict) -> None:
        for name in _MAPPED:
            if isinstance(state[name], _MappedFile):
                state[name] = np.load(state[name].path, mmap_mode="r")
        self.__dict__.update(state)

    def labels(self, index: int) -> np.ndarray:
        return np.asarray(self.references[index, : self.reference_lengths[index]])

    def save(self, folder: str | os.PathLike) -> Path:
        """Write atomically: into a temporary sibling folder, then rename over ``folder``."""
        from basecaller.io.atomic import atomic_directory

        folder = Path(folder)
        with atomic_directory(folder) as staging:
            for name in _ARRAYS:
                np.save(staging / f"{name}.npy", np.asarray(getattr(self, name)))
            (staging / "meta.json").write_text(json.dumps({**self.meta, "num_chunks": len(self)}, indent=2))
        return folder

    @classmethod
    def load(cls, folder: str | os.PathLike, mmap: bool = True) -> ChunkDataset:
        """Load a dataset folder; arrays are memory-mapped unless ``mmap`` is False.

        A folder with only bonito's three arrays loads too (provenance fields left empty).
        """
        folder = Path(folder)
        mode = "r" if mmap else None
        arrays = {}
        for name in _ARRAYS:
            path = folder / f"{name}.npy"
            arrays[name] = np.load(path, mmap_mode=mode if name in _MAPPED else None) if path.exists() else None
        if arrays["chunks"] is None:
            from basecaller.errors import InputError

            raise InputError("not a chunk dataset (no chunks.npy)", str(folder))
        n = len(arrays["chunks"])
        defaults = {"read_ids": np.array([""] * n), "signal_starts": np.zeros(n, np.int64),
                    "positions": np.full((n, 2), -1, np.int64), "contigs": np.array([""] * n),
                    "ref_intervals": np.full((n, 2), -1, np.int64)}
        arrays = {k: (v if v is not None else defaults[k]) for k, v in arrays.items()}
        meta_path = folder / "meta.json"
        meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
        return cls(**arrays, meta=meta)


def _chunk_bounds(record: SegmentedRead, spec: ChunkSpec) -> Iterable[tuple[int, int, int]]:
    """(signal start, first base, end base) of each chunk inside the labelled region."""
    starts = record.base_starts
    step = spec.step or spec.chunk_len
    for begin in range(int(starts[0]), int(starts[-1]) - spec.chunk_len + 1, step):
        first = int(np.searchsorted(starts[:-1], begin, side="left"))
        end = int(np.searchsorted(starts[:-1], begin + spec.chunk_len, side="left"))
        yield begin, first, end


def _keep(num_labels: int, spec: ChunkSpec) -> bool:
    if num_labels == 0 or num_labels > spec.label_width:
        return False
    samples_per_base = spec.chunk_len / num_labels
    return spec.min_samples_per_base <= samples_per_base <= spec.max_samples_per_base


def _ref_interval(record: SegmentedRead, first: int, end: int) -> tuple[int, int]:
    """Forward-strand reference interval of read-order bases [first, end)."""
    if record.ref_start < 0:
        return -1, -1
    if record.strand == "-":
        return record.ref_end - end, record.ref_end - first
    return record.ref_start + first, record.ref_start + end


def _chunks_of_read(record: SegmentedRead, spec: ChunkSpec) -> list[dict]:
    signal = record.read.signal_pa if record.normalised else normalise_read(record.read, spec.normalisation)
    labels = encode_bases(record.sequence)
    rows = []
    for begin, first, end in _chunk_bounds(record, spec):
        if not _keep(end - first, spec):
            continue
        padded = np.zeros(spec.label_width, dtype=np.uint8)
        padded[: end - first] = labels[first:end]
        rows.append({"chunks": signal[begin : begin + spec.chunk_len], "references": padded,
                     "reference_lengths": end - first, "read_ids": record.read.read_id,
                     "signal_starts": begin, "positions": (first, end), "contigs": record.contig,
                     "ref_intervals": _ref_interval(record, first, end)})
    return rows


def build_chunks(records: Iterable[SegmentedRead], spec: ChunkSpec = ChunkSpec(),
                 dtype=np.float16, source: str = "") -> ChunkDataset:
    """Cut labelled reads into fixed-length training chunks."""
    rows: list[dict] = []
    num_reads, sample_rates = 0, set()
    for record in records:
        rows.extend(_chunks_of_read(record, spec))
        num_reads += 1
        sample_rates.add(record.read.sample_rate_hz)
    columns = {name: [row[name] for row in rows] for name in _ARRAYS}
    dtypes = {"chunks": dtype, "references": np.uint8, "reference_lengths": np.uint16,
              "signal_starts": np.int64, "positions": np.int64, "ref_intervals": np.int64}
    shapes = {"chunks": (0, spec.chunk_len), "references": (0, spec.label_width), "positions": (0, 2),
              "ref_intervals": (0, 2)}
    arrays = {name: np.array(values, dtype=dtypes.get(name)) if values else
              np.zeros(shapes.get(name, (0,)), dtype=dtypes.get(name, str)) for name, values in columns.items()}
    spec_meta = {**asdict(spec), "normalisation": asdict(spec.normalisation)}
    meta = {"source": source, "num_reads": num_reads, "spec": spec_meta,
            "sample_rates_hz": sorted(sample_rates)}
    return ChunkDataset(**arrays, meta=meta)


def split_by_read(dataset: ChunkDataset, valid_fraction: float = 0.1, seed: int = 0) -> tuple[ChunkDataset, ChunkDataset]:
    """Hold out a random ``valid_fraction`` of reads: no read has chunks on both sides."""
    reads = np.unique(dataset.read_ids)
    rng = np.random.default_rng(seed)
    num_valid = max(1, round(valid_fraction * len(reads))) if len(reads) > 1 else 0
    valid_reads = rng.choice(reads, size=num_valid, replace=False)
    is_valid = np.isin(dataset.read_ids, valid_reads)
    return dataset.subset(~is_valid), dataset.subset(is_valid)


def parse_interval(text: str) -> tuple[str, int, int]:
    """``contig:start-end`` (0-based, end exclusive) -> (contig, start, end)."""
    contig, _, span = text.rpartition(":")
    start, _, end = span.partition("-")
    if not contig or not start.isdigit() or not end.isdigit() or int(end) <= int(start):
        raise ValueError(f"bad genome interval {text!r}; expected contig:start-end")
    return contig, int(start), int(end)


def split_by_interval(dataset: ChunkDataset, intervals: Iterable[str | tuple[str, int, int]]) -> tuple[ChunkDataset, ChunkDataset]:
    """Validation = chunks wholly inside a held-out interval; training = chunks wholly outside
    all of them (chunks straddling a boundary, or with no known position, are dropped), so
    the two sides never share a reference position."""
    parsed = [parse_interval(i) if isinstance(i, str) else i for i in intervals]
    starts, ends = dataset.ref_intervals[:, 0], dataset.ref_intervals[:, 1]
    known = starts >= 0
    inside = np.zeros(len(dataset), bool)
    touches = np.zeros(len(dataset), bool)
    for contig, lo, hi in parsed:
        same = dataset.contigs == contig
        inside |= same & (starts >= lo) & (ends <= hi)
        touches |= same & (starts < hi) & (ends > lo)
    return dataset.subset(known & ~touches), dataset.subset(known & inside)
