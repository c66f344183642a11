"""Training chunks from each source of truth: labels equal the reference, splits never share
reference positions, and the on-disk format round-trips."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pysam
from conftest import DATA_SAMPLES, needs_shared

from basecaller.alphabet import decode_labels, reverse_complement
from basecaller.data.chunks import (
    ChunkDataset,
    ChunkSpec,
    build_chunks,
    split_by_interval,
    split_by_read,
)
from basecaller.data.segmented import (
    bam_reads,
    simulated_reads,
    taiyaki_reads,
    time_stretched,
    tombo_reads,
)
from basecaller.inference.pseudo_labels import _label_starts, pseudo_reads

SPEC = ChunkSpec(chunk_len=3600)


def _lambda(shared_data) -> str:
    with pysam.FastxFile(str(shared_data / "r941_lambda_tombo/Lambda_phage.fna")) as handle:
        return next(iter(handle)).sequence


def _span(reference: str, start: int, end: int, strand: str) -> str:
    span = reference[start:end]
    return reverse_complement(span) if strand == "-" else span


@needs_shared
def test_tombo_labels_equal_the_lambda_reference_span_for_every_read(shared_data):
    reference = _lambda(shared_data)
    records = list(tombo_reads(shared_data / "r941_lambda_tombo/fast5"))
    assert len(records) == 50 and sum(len(r.sequence) for r in records) == 385_559
    for record in records:
        assert record.sequence == _span(reference, record.ref_start, record.ref_end, record.strand)
    dataset = build_chunks(records, SPEC)
    assert len(dataset) > 900
    for i in range(len(dataset)):
        labels = decode_labels(dataset.labels(i))
        start, end = dataset.ref_intervals[i]
        strand = next(r.strand for r in records if r.read.read_id == dataset.read_ids[i])
        assert labels == _span(reference, start, end, strand)


@needs_shared
def test_taiyaki_labels_follow_ref_to_signal(shared_data):
    import h5py

    records = list(taiyaki_reads(shared_data / "r941_taiyaki_mapped"))
    assert len(records) == 7
    dataset = build_chunks(records, SPEC)
    assert len(dataset) > 50
    path = shared_data / "r941_taiyaki_mapped/mapped_signal_file"
    references = {}
    for file in path.glob("*.hdf5"):
        with h5py.File(file) as handle:
            for read_id, group in handle["Reads"].items():
                references[read_id] = ("ACGT"[i] for i in group["Reference"][()])
    references = {k: "".join(v) for k, v in references.items()}
    for i in range(len(dataset)):
        first, end = dataset.positions[i]
        assert decode_labels(dataset.labels(i)) == references[dataset.read_ids[i]][first:end]


@needs_shared
def test_bam_move_table_labels_equal_reference_spans(shared_data):
    folder = shared_data / "r1041_remora_4khz"
    records = list(bam_reads(folder / "can_reads.pod5", bam=str(folder / "can_mappings.bam")))
    with pysam.FastxFile(str(folder / "can_mappings.ref_spans.fasta")) as handle:
        spans = {entry.name: entry.sequence.upper() for entry in handle}
    assert len(records) == 14
    for record in records:
        assert record.sequence == spans[record.read.read_id]
    dataset = build_chunks(records, ChunkSpec(chunk_len=3600, min_samples_per_base=4.0))
    assert len(dataset) > 150
    for i in range(len(dataset)):
        first, end = dataset.positions[i]
        assert decode_labels(dataset.labels(i)) == spans[dataset.read_ids[i]][first:end]


def _ecoli(shared_data) -> str:
    with pysam.FastxFile(str(shared_data / "references/ecoli_k12_mg1655.fna.gz")) as handle:
        return next(iter(handle)).sequence.upper()


@needs_shared
def test_f5c_ecoli_labels_equal_the_genome_span_for_every_read(shared_data):
    genome = _ecoli(shared_data)
    records = list(taiyaki_reads(shared_data / "r94_ecoli_f5c/mapped_signal_nanopolish.hdf5"))
    assert len(records) == 112 and sum(len(r.sequence) for r in records) == 594_023
    for record in records:
        assert record.contig == "NC_000913.3"
        assert record.sequence == _span(genome, record.ref_start, record.ref_end, record.strand)
    dataset = build_chunks(records, SPEC)
    strands = {r.read.read_id: r.strand for r in records}
    for i in range(0, len(dataset), 7):
        start, end = dataset.ref_intervals[i]
        assert decode_labels(dataset.labels(i)) == _span(genome, start, end, strands[dataset.read_ids[i]])


@needs_shared
def test_meteore_r9_tombo_template_labels_equal_the_genome_span(shared_data):
    genome = _ecoli(shared_data)
    records = list(tombo_reads(shared_data / "r9_ecoli_meteore_tombo/fast5"))
    assert len(records) == 45 and sum(len(r.sequence) for r in records) == 302_739
    for record in records:
        assert record.sequence == _span(genome, record.ref_start, record.ref_end, record.strand)
    dwell = np.median([np.diff(r.base_starts).mean() for r in records])
    assert 14 < dwell < 19  # 250 bps at 4 kHz: about 16.6 samples per base


@needs_shared
def test_ecoli_interval_split_shares_no_reference_position(shared_data):
    records = taiyaki_reads(shared_data / "r94_ecoli_f5c/mapped_signal_nanopolish.hdf5")
    dataset = build_chunks(records, SPEC)
    train, valid = split_by_interval(dataset, ["NC_000913.3:514000-531000", "Lambda_NEB:14000-26000"])
    assert len(train) > 900 and len(valid) > 150
    held = np.zeros(4_700_000, bool)
    for start, end in valid.ref_intervals:
        held[start:end] = True
    assert not any(held[start:end].any() for start, end in train.ref_intervals)
    assert not set(train.read_ids) & set(valid.read_ids)  # the held-out locus is whole reads here


@needs_shared
def test_splits_never_share_reads_or_reference_positions(shared_data):
    dataset = build_chunks(tombo_reads(shared_data / "r941_lambda_tombo/fast5"), SPEC)
    train, valid = split_by_interval(dataset, ["Lambda_NEB:14000-26000"])
    assert len(train) > 500 and len(valid) > 40
    assert np.all((valid.ref_intervals[:, 0] >= 14000) & (valid.ref_intervals[:, 1] <= 26000))
    assert np.all((train.ref_intervals[:, 1] <= 14000) | (train.ref_intervals[:, 0] >= 26000))
    train, valid = split_by_read(dataset, 0.2, seed=3)
    assert not set(train.read_ids) & set(valid.read_ids)
    assert len(train) + len(valid) == len(dataset)


@needs_shared
def test_dataset_round_trip_in_bonito_layout(shared_data, tmp_path):
    dataset = build_chunks(taiyaki_reads(shared_data / "r941_taiyaki_mapped"), SPEC, source="taiyaki")
    dataset.save(tmp_path / "chunks")
    assert {p.name for p in (tmp_path / "chunks").iterdir()} >= {"chunks.npy", "references.npy", "reference_lengths.npy"}
    loaded = ChunkDataset.load(tmp_path / "chunks")
    np.testing.assert_array_equal(loaded.chunks, dataset.chunks)
    np.testing.assert_array_equal(loaded.references, dataset.references)
    assert list(loaded.read_ids) == list(dataset.read_ids)
    assert loaded.meta["source"] == "taiyaki" and loaded.meta["num_chunks"] == len(dataset)
    assert loaded.chunks.shape[1] == 3600 and loaded.references.dtype == np.uint8
    # Labels are 1..4 then zero padding, and lengths agree with the padding.
    nonzero = (loaded.references > 0).sum(axis=1)
    np.testing.assert_array_equal(nonzero, loaded.reference_lengths)


@needs_shared
def test_chunks_cli_with_holdout(shared_data, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "basecaller", "chunks", str(shared_data / "r941_lambda_tombo/fast5"), "--source",
         "tombo", "-o", str(tmp_path / "lambda"), "--holdout", "Lambda_NEB:14000-26000"],
        capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    train, valid = ChunkDataset.load(tmp_path / "lambda/train"), ChunkDataset.load(tmp_path / "lambda/valid")
    assert len(train) > 500 and len(valid) > 40


def test_label_starts_follow_the_alignment_to_our_call():
    call_starts = np.array([0, 10, 20, 30, 40])  # our call "ACGT": where each base starts, then its end
    assert _label_starts("ACGT", "ACGT", call_starts).tolist() == [0, 10, 20, 30, 40]
    # a label base our call lacks starts where the next aligned base does
    assert _label_starts("ACAGT", "ACGT", call_starts).tolist() == [0, 10, 20, 20, 30, 40]
    # a base only in our call is passed over
    assert _label_starts("AGT", "ACGT", call_starts).tolist() == [0, 20, 30, 40]


def test_pseudo_labels_land_where_the_simulator_put_them():
    """Simulated reads labelled by their true sequence, placed on the signal by the shipped
    model's moves: each base starts within a few samples of its true start, far closer than
    spreading the bases evenly over the same span."""
    folder = DATA_SAMPLES / "simulated_r941"
    truth = {r.read.read_id: r for r in simulated_reads(folder)}
    placed = list(pseudo_reads(folder, labels=str(folder / "truth.fasta"), model="r941_4khz_fast"))
    assert len(placed) == len(truth) >= 3
    for record in placed:
        true_starts = truth[record.read.read_id].base_starts
        assert record.sequence == truth[record.read.read_id].sequence
        error = np.median(np.abs(record.base_starts - true_starts))
        even = np.linspace(record.base_starts[0], record.base_starts[-1], len(true_starts)).astype(int)
        assert error < 10 and error < np.median(np.abs(even - true_starts)) / 3


def _base_means(record, bases: np.ndarray) -> np.ndarray:
    signal, starts = record.read.signal_pa, record.base_starts
    return np.array([signal[starts[i]:starts[i + 1]].mean() for i in bases])


def test_time_stretch_slows_a_read_and_keeps_its_labels_on_their_bases():
    """A simulated read 1.25x slower: the same bases, every dwell 1.25x as long, and each base's
    mean current where it was; chunks of the stretched read have 1.25x the samples per base."""
    record = next(iter(simulated_reads(DATA_SAMPLES / "simulated_r941")))
    slow = time_stretched(record, 1.25)
    assert slow.sequence == record.sequence and slow.check() is slow
    assert abs(slow.read.num_samples / record.read.num_samples - 1.25) < 1e-3
    np.testing.assert_allclose(slow.base_starts, record.base_starts * 1.25, atol=1)
    dwell_ratio = np.diff(slow.base_starts).sum() / np.diff(record.base_starts).sum()
    assert abs(dwell_ratio - 1.25) < 0.01
    long_bases = np.flatnonzero(np.diff(record.base_starts) >= 8)  # short ones mix with their neighbours
    before, after = _base_means(record, long_bases), _base_means(slow, long_bases)
    assert len(long_bases) > 100 and np.corrcoef(before, after)[0, 1] > 0.99
    spec = ChunkSpec(chunk_len=2000, step=1000)
    plain, stretched = build_chunks([record], spec), build_chunks([slow], spec)
    ratio = np.median(2000 / stretched.reference_lengths) / np.median(2000 / plain.reference_lengths)
    assert 1.15 < ratio < 1.35
    assert time_stretched(record, 1.0) is record


def test_chunks_cli_refuses_a_non_positive_time_stretch(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "basecaller", "chunks", str(DATA_SAMPLES / "simulated_r941"), "--source", "simulated",
         "-o", str(tmp_path / "out"), "--time-stretch", "0"], capture_output=True, text=True)
    assert result.returncode != 0 and "--time-stretch must be positive" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
