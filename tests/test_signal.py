"""Normalisation against Tombo, trimming, and the window/stitch and batch round trips."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import DATA_SAMPLES, needs_shared

from basecaller.data.segmented import tombo_reads
from basecaller.io.open import open_reads
from basecaller.signal import (
    Normalisation,
    adapter_stall_trim,
    batchify,
    covered_length,
    normalise_read,
    open_pore_trim,
    stitch_windows,
    unbatchify,
    window_signal,
    window_starts,
)


def _event_means(signal: np.ndarray, starts: np.ndarray) -> np.ndarray:
    sums = np.add.reduceat(signal[starts[0]: starts[-1]].astype(np.float64), starts[:-1] - starts[0])
    return sums / np.diff(starts)


@needs_shared
def test_file_normalisation_reproduces_tombo_norm_mean(shared_data):
    """Tombo's norm_mean = mean of clip((DAC - shift) / scale, -5, 5) over each event."""
    import h5py

    for record in list(tombo_reads(shared_data / "r941_lambda_tombo/fast5"))[:10]:
        signal = normalise_read(record.read, Normalisation(method="file", clip=5.0))
        ours = _event_means(signal, record.base_starts)
        with h5py.File(record.read.source_path) as handle:
            tombo = handle["Analyses/RawGenomeCorrected_000/BaseCalled_template/Events"]["norm_mean"]
        difference = np.abs(ours - tombo)
        assert np.median(difference) < 1e-4 and np.quantile(difference, 0.999) < 1e-3
        assert difference.max() < 0.05  # a few events hold clipped outlier samples


@needs_shared
def test_median_mad_normalisation_tracks_tombo(shared_data):
    """Without the file's values, median/MAD (unscaled MAD, as Tombo) lands close to Tombo's fit."""
    import h5py

    record = next(iter(tombo_reads(shared_data / "r941_lambda_tombo/fast5")))
    signal = normalise_read(record.read, Normalisation(method="median_mad", mad_factor=1.0, clip=5.0))
    ours = _event_means(signal, record.base_starts)
    with h5py.File(record.read.source_path) as handle:
        tombo = handle["Analyses/RawGenomeCorrected_000/BaseCalled_template/Events"]["norm_mean"]
    assert np.corrcoef(ours, tombo)[0, 1] > 0.99
    assert np.median(np.abs(ours - tombo)) < 0.25


def test_median_mad_from_dac_counts_equals_sorting_the_pa_signal():
    """The histogram path (integer DAC values) gives numpy's median and MAD of the pA signal, for
    odd and even lengths, negative values, one value and a constant signal; and normalise_read
    takes it for the shipped sample's reads."""
    from basecaller.signal.normalise import median_mad, median_mad_dac

    rng = np.random.default_rng(3)
    cases = [rng.integers(low, high, size).astype(np.int16)
             for low, high in ((-700, 1500), (0, 4), (-40, -3), (250, 900)) for size in (1, 2, 7, 10, 1001, 40_000)]
    cases.append(np.full(50, 7, dtype=np.int16))
    for dac in cases:
        offset, scale = float(rng.normal(10, 5)), float(rng.uniform(0.1, 0.3))
        signal_pa = (dac.astype(np.float64) + offset) * scale
        expected = median_mad(signal_pa)
        assert median_mad_dac(dac, offset, scale) == pytest.approx(expected, rel=1e-6, abs=1e-6)
    read = next(iter(open_reads(DATA_SAMPLES / "lambda_r941/reads.pod5")))
    assert np.issubdtype(read.signal_dac.dtype, np.integer)
    shift, scale = median_mad(read.signal_pa)
    expected = np.clip((read.signal_pa - np.float32(shift)) / np.float32(scale), -5, 5)
    assert np.abs(normalise_read(read) - expected).max() < 1e-4


@pytest.mark.parametrize("stride", [1, 5, 6])
@pytest.mark.parametrize("num_samples", [1, 17, 600, 3599, 3600, 3601, 4800, 10_007, 123_456])
def test_window_stitch_round_trip_is_exact(num_samples, stride):
    window, overlap = 3600, 600
    signal = np.random.default_rng(num_samples).normal(size=num_samples).astype(np.float32)
    windows, starts = window_signal(signal, window, overlap, stride)
    assert windows.shape == (len(starts), window)
    assert np.all(starts % stride == 0) and np.all(np.diff(starts) <= window - overlap)
    # Any per-step model output: here every stride-th sample of each window.
    stitched = stitch_windows(windows[:, ::stride], starts, num_samples, window, stride)
    covered = covered_length(num_samples, window, overlap, stride)
    assert num_samples - covered < stride
    np.testing.assert_array_equal(stitched, signal[:covered:stride])


def test_window_starts_cover_the_read():
    starts = window_starts(10_000, 1000, 200, stride=5)
    assert starts[0] == 0 and starts[-1] + 1000 == 10_000
    assert np.all(np.diff(starts) > 0)


def test_overlap_must_fit():
    with pytest.raises(ValueError):
        window_starts(100, 10, 10)
    with pytest.raises(ValueError):
        window_starts(100, 12, 4, stride=5)


def test_batches_are_full_and_round_trip_per_read():
    rng = np.random.default_rng(0)
    reads = {f"read{i}": rng.normal(size=(n, 8)).astype(np.float32) for i, n in enumerate([3, 1, 7, 2, 5])}
    batches = list(batchify(reads.items(), batch_size=4))
    assert all(b.windows.shape == (4, 8) for b in batches)
    assert sum(b.num_real for b in batches) == 18 and batches[-1].num_real == 2
    np.testing.assert_array_equal(batches[-1].windows[2:], 0)  # padding, never dropped data
    # A "model" that doubles its input; unbatchify must give each read its own rows back.
    results = list(unbatchify((b, b.windows * 2) for b in batches))
    assert [key for key, _ in results] == list(reads)
    for key, outputs in results:
        np.testing.assert_array_equal(outputs, reads[key] * 2)


def test_open_pore_trim_finds_the_end_of_a_high_start():
    rng = np.random.default_rng(1)
    signal = rng.normal(size=20_000).astype(np.float32)
    signal[:1200] += 4.0  # open pore: far above the DNA levels
    trim = open_pore_trim(signal)
    assert 1200 <= trim <= 1200 + 2 * 40
    assert open_pore_trim(rng.normal(size=20_000).astype(np.float32)) == 10


def _strand_like(rng, n: int) -> np.ndarray:
    """Piecewise-constant levels of about 9 samples each plus 1.5 pA noise, like bases in the pore."""
    levels = rng.normal(85.0, 12.0, n // 9 + 1).repeat(9)[:n]
    return (levels + rng.normal(0, 1.5, n)).astype(np.float32)


def test_adapter_stall_trim_finds_a_flat_start_at_any_scale():
    rng = np.random.default_rng(3)
    stall = (rng.normal(84.0, 1.5, 900)).astype(np.float32)  # the motor holds the adapter still
    signal = np.concatenate([[210.0, 200.0], stall, _strand_like(rng, 2300)]).astype(np.float32)
    trim = adapter_stall_trim(signal)
    assert 880 <= trim <= 902 + 40
    assert adapter_stall_trim(signal * 6.3 - 400) == trim  # DAC counts or normalised: the same cut
    strand = _strand_like(rng, 3200)
    assert adapter_stall_trim(strand) == 0
    strand[1200:1800] = rng.normal(70.0, 1.5, 600)  # a long dwell inside the strand is not a stall
    assert adapter_stall_trim(strand) == 0
    stalled = rng.normal(80.0, 1.5, 3200).astype(np.float32)  # nothing to compare with but picoamps
    assert adapter_stall_trim(stalled) == 0 and adapter_stall_trim(stalled, flat_spread=2.5) == 3200
    assert adapter_stall_trim(signal, flat_spread=2.5) == trim


@needs_shared
def test_adapter_stall_trim_never_cuts_labelled_bases(shared_data):
    """On the Tombo lambda and nanopolish E. coli reads the cut stays before the first labelled
    base (within one 40-sample window), and finds a stall in most reads. Measured: 38 of 50 and
    92 of 112 reads, median cut 420 and 500 samples of the first 3,200."""
    from basecaller.data.segmented import taiyaki_reads

    for reads in (list(tombo_reads(shared_data / "r941_lambda_tombo/fast5")),
                  list(taiyaki_reads([shared_data / "r94_ecoli_f5c/mapped_signal_nanopolish.hdf5"]))):
        cuts = np.array([adapter_stall_trim(np.asarray(r.read.signal_dac[:3200])) for r in reads])
        starts = np.array([int(r.base_starts[0]) for r in reads])
        assert (cuts <= starts + 40).all()
        assert (cuts > 0).mean() > 0.7 and np.median(cuts) >= 300


@needs_shared
def test_trim_stays_small_on_real_reads(shared_data):
    for read in open_reads(shared_data / "r941_lambda_tombo/fast5", min_samples=20_000):
        trim = open_pore_trim(normalise_read(read))
        assert 10 <= trim <= 0.3 * read.num_samples
