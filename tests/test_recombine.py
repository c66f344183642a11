"""Recombined reads: every base keeps its own read's samples, junctions join equal bases, held-out
intervals stay out, and the sequences are new."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
from conftest import DATA_SAMPLES, needs_shared

from basecaller.data.chunks import ChunkDataset, ChunkSpec, build_chunks, parse_interval
from basecaller.data.recombine import RecombineSpec, recombined_reads
from basecaller.data.segmented import bam_reads, simulated_reads, tombo_reads
from basecaller.signal.normalise import Normalisation, normalise_read

HOLDOUT_R1041 = "chr13:52314000-52318100"


def _genome_position(record, base: int) -> int:
    return record.ref_end - 1 - base if record.strand == "-" else record.ref_start + base


def _check(sources: dict, recombined: list, spec: RecombineSpec, exclude=()) -> int:
    """Assert what a recombined read promises; returns the number of junctions seen."""
    half, junctions = spec.junction_bases // 2, 0
    normalised = {read_id: normalise_read(r.read, Normalisation()) for read_id, r in sources.items()}
    for read in recombined:
        assert read.check() is read and read.contig == "" and read.ref_start == -1
        segments, offset = read.read.extra["segments"], 0
        for number, (read_id, first, end) in enumerate(segments):
            source, length = sources[read_id], end - first
            begin, stop = source.base_starts[first], source.base_starts[end]
            span = slice(offset, offset + length)
            assert read.sequence[span] == source.sequence[first:end]
            np.testing.assert_array_equal(read.base_starts[span] - read.base_starts[offset],
                                          source.base_starts[first:end] - begin)
            here = read.base_starts[offset]
            np.testing.assert_array_equal(read.read.signal_dac[here : here + stop - begin], normalised[read_id][begin:stop])
            for contig, start, stop_ in exclude:
                positions = [_genome_position(source, b) for b in range(first, end)]
                assert source.contig != contig or not any(start <= p < stop_ for p in positions)
            if number:
                previous_id, _, previous_end = segments[number - 1]
                previous = sources[previous_id]
                assert previous.sequence[previous_end - half : previous_end + half] == source.sequence[first - half : first + half]
                same_place = (previous_id == read_id or (previous.contig == source.contig and previous.strand == source.strand
                              and abs(_genome_position(previous, previous_end) - _genome_position(source, first)) < spec.min_jump))
                assert not same_place
                junctions += 1
            offset += length
        assert offset == len(read.sequence) and read.base_starts[-1] == read.read.num_samples
    return junctions


def _novel_fraction(sources, recombined, k: int = 50) -> float:
    seen = {r.sequence[i : i + k] for r in sources for i in range(len(r.sequence) - k)}
    windows = [r.sequence[i : i + k] for r in recombined for i in range(0, len(r.sequence) - k, 5)]
    return sum(w not in seen for w in windows) / len(windows)


def test_recombined_simulated_reads_keep_every_base_on_its_own_samples():
    sources = {r.read.read_id: r for r in simulated_reads(DATA_SAMPLES / "simulated_r941")}
    spec = RecombineSpec(reads=6, segment_bases=30, junction_bases=4, min_jump=500, seed=3)
    recombined = list(recombined_reads(sources.values(), spec))
    assert len(recombined) == 6
    assert _check(sources, recombined, spec) > 20
    # chunks keep each piece's own read's normalisation: no second median/MAD over the spliced read
    chunks = build_chunks(recombined[:1], ChunkSpec(chunk_len=2000, step=1000))
    for chunk, start in zip(chunks.chunks, chunks.signal_starts):
        np.testing.assert_allclose(chunk, recombined[0].read.signal_dac[start : start + 2000], atol=4e-3)


@needs_shared
def test_recombined_r1041_reads_are_new_sequence_of_real_signal_outside_the_holdout(shared_data):
    folder = shared_data / "r1041_remora_4khz"
    sources = {r.read.read_id: r for r in bam_reads(folder / "can_reads.pod5", bam=str(folder / "can_mappings.bam"))}
    spec = RecombineSpec(reads=20, junction_bases=8, seed=1)
    exclude = [parse_interval(HOLDOUT_R1041)]
    recombined = list(recombined_reads(sources.values(), spec, exclude))
    junctions = _check(sources, recombined, spec, exclude)
    bases = sum(len(r.sequence) for r in recombined)
    assert bases > 30_000 and 25 < bases / junctions < 60  # segments of about 40 bases
    # all 14 reads cover one 15 kb locus; most 50-base windows of the recombined reads are in none of them
    assert _novel_fraction(sources.values(), recombined) > 0.6


def test_chunks_cli_recombines_into_one_training_set(tmp_path):
    folder = DATA_SAMPLES / "simulated_r941"
    result = subprocess.run(
        [sys.executable, "-m", "basecaller", "chunks", str(folder), "--source", "simulated", "-o", str(tmp_path / "out"),
         "--recombine", "8", "--junction-bases", "4", "--chunk-len", "2000"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    dataset = ChunkDataset.load(tmp_path / "out")
    assert len(dataset) > 10 and dataset.meta["num_reads"] == 8
    assert all(read_id.startswith("recombined_") for read_id in dataset.read_ids)
    refused = subprocess.run(
        [sys.executable, "-m", "basecaller", "chunks", str(folder), "--source", "simulated", "-o", str(tmp_path / "x"),
         "--recombine", "8", "--valid-fraction", "0.2"], capture_output=True, text=True)
    assert refused.returncode != 0 and "--recombine" in refused.stderr and "Traceback" not in refused.stderr


def _base_mean_steps(read) -> tuple[np.ndarray, np.ndarray]:
    """|change of the mean current| from each base to the next: at junctions, and elsewhere."""
    signal, starts = read.read.signal_dac, read.base_starts
    means = np.array([signal[a:b].mean() for a, b in zip(starts[:-1], starts[1:])])
    steps = np.abs(np.diff(means))
    at_junction = np.zeros(len(steps), dtype=bool)
    at_junction[np.cumsum([end - first for _, first, end in read.read.extra["segments"]])[:-1] - 1] = True
    return steps[at_junction], steps[~at_junction]


@needs_shared
def test_junctions_are_seamless_on_real_r941_signal(shared_data):
    """Across a junction the current changes from base to base as much as it does anywhere
    else in a read: the pore sees the same bases on both sides of the cut."""
    sources = list(tombo_reads(shared_data / "r941_lambda_tombo/fast5"))
    recombined = list(recombined_reads(sources, RecombineSpec(reads=20, seed=2), [parse_interval("Lambda_NEB:14000-26000")]))
    pairs = [_base_mean_steps(read) for read in recombined]
    at, elsewhere = (np.concatenate([p[i] for p in pairs]) for i in (0, 1))
    assert len(at) > 500 and abs(at.mean() / elsewhere.mean() - 1) < 0.08
