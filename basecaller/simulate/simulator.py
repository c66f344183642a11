"""Sequence -> current: k-mer levels, sampled dwell times, noise, drift and digitisation.

Everything is drawn from one seeded ``numpy.random.Generator`` in a fixed order, so a seed
reproduces the reads exactly. Per read the work is a handful of vectorised numpy calls
(rolling k-mer encoding, ``np.repeat`` of per-base levels by dwell, noise in bulk).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from basecaller.errors import InputError
from basecaller.io.read import Read
from basecaller.simulate.genome import (
    Fragment,
    allowed_regions,
    clean_genome,
    fragment_with_context,
    sample_fragment,
)
from basecaller.simulate.kmer_model import KmerModel, encode, kmer_indices, load_kmer_model
from basecaller.simulate.params import ChemistryParams, LeadIn, for_model, load_params

SAMPLE_RATES_HZ = (4000, 5000)


@dataclass
class SimulatedRead:
    """One simulated read with its exact truth.

    ``base_starts`` has ``len(sequence) + 1`` entries: the sample where each base starts and,
    last, the end of the last base (taiyaki's ``Ref_to_signal``). ``base_starts[0]`` is the
    length of the open-pore/adapter lead-in before the first base (0 without one).
    """

    read_id: str
    sequence: str  # read (time) order
    signal_dac: np.ndarray  # int16
    offset_dac: float
    scale_pa_per_dac: float
    base_starts: np.ndarray  # int64
    sample_rate_hz: int
    chemistry: str
    fragment: Fragment

    @property
    def signal_pa(self) -> np.ndarray:
        dac = self.signal_dac.astype(np.float32)
        return (dac + np.float32(self.offset_dac)) * np.float32(self.scale_pa_per_dac)

    @property
    def dwell_samples(self) -> np.ndarray:
        return np.diff(self.base_starts)

    def truth_header(self) -> str:
        f = self.fragment
        return f"{self.read_id} strand={f.strand} start={f.start} end={f.end} contig={f.contig}"

    def to_read(self, run_id: str = "") -> Read:
        """The same read as the plain record every file reader yields."""
        return Read(
            self.read_id, self.signal_dac, self.offset_dac, self.scale_pa_per_dac,
            float(self.sample_rate_hz), run_id=run_id, extra={"chemistry": self.chemistry},
        )


@dataclass(frozen=True)
class NoiseSettings:
    """Multipliers on the fitted noise; ``noise_scale=0`` gives exact k-mer levels.

    ``lead_in=False`` leaves out the open-pore and adapter stretch before the first base.
    """

    noise_scale: float = 1.0
    drift_pa_per_s: float = 0.0
    per_read_variation: bool = True
    lead_in: bool = True


def sample_dwell(n_bases: int, params: ChemistryParams, sample_rate_hz: float,
                 rng: np.random.Generator, per_read_variation: bool = True) -> np.ndarray:
    """Samples per base, int64: shifted gamma body plus a long-tailed stall component,
    scaled to the sample rate and (per read) by a speed factor."""
    dwell = params.dwell.at_rate(sample_rate_hz)
    raw = rng.gamma(dwell.shape, dwell.scale, n_bases)
    if dwell.tail_fraction > 0:
        where = np.flatnonzero(rng.random(n_bases) < dwell.tail_fraction)
        raw[where] = rng.gamma(dwell.tail_shape, dwell.tail_scale, where.size)
    raw += dwell.shift
    if dwell.speed_sd > 0 and per_read_variation:
        raw *= np.exp(dwell.speed_sd * rng.standard_normal())
    return np.maximum(np.rint(raw), dwell.min_samples).astype(np.int64)


def base_levels(context: str, model: KmerModel,
                params: ChemistryParams | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Level (model units, with the fitted per-k-mer correction where ``params`` has one)
    and k-mer index of each base of ``context`` minus ``k`` bases each side."""
    k, centre = model.k, model.chemistry.centre
    index = kmer_indices(encode(context), k)  # window j covers context[j : j + k]
    n_bases = len(context) - 2 * k
    index = index[k - centre : k - centre + n_bases]
    levels = model.levels[index]
    if params is not None and params.kmer_level_offset is not None:
        levels = levels + params.kmer_level_offset[index]
    return levels, index


def ar1_filter(white: np.ndarray, rho: float) -> np.ndarray:
    """AR(1) noise of unit marginal variance (for unit white noise) with lag-1 correlation
    ``rho``, as a moving average: the AR(1) impulse response ``rho^k`` truncated where it
    falls below 1e-3 and scaled to unit energy (one ``np.convolve``, faster than any
    recursive filter in numpy)."""
    if white.size == 0 or rho == 0:
        return white
    taps = int(min(max(np.ceil(np.log(1e-3) / np.log(abs(rho))), 1), 256))
    response = rho ** np.arange(taps, dtype=np.float64)
    response /= np.sqrt(np.sum(response**2))
    return np.convolve(white, response.astype(np.float32))[: white.size]


def synthesise_pa(levels: np.ndarray, kmer_index: np.ndarray, dwell: np.ndarray,
                  model: KmerModel, params: ChemistryParams, sample_rate_hz: float,
                  noise: NoiseSettings, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """Current in pA (float32) for bases with ``levels`` held for ``dwell`` samples, after
    the lead-in; returns the signal and the lead-in length (where the first base starts)."""
    shift, scale = params.level_shift_pa[0], params.level_scale[0]
    if noise.per_read_variation:
        shift += params.level_shift_pa[1] * rng.standard_normal()
        scale += params.level_scale[1] * rng.standard_normal()
    level_pa = shift + scale * levels.astype(np.float64)
    if noise.noise_scale:
        jitter = params.level_jitter_pa * noise.noise_scale
        level_pa += jitter * rng.standard_normal(levels.size)
    drift = noise.drift_pa_per_s
    if noise.per_read_variation and params.drift_pa_per_s[1] > 0:
        drift += params.drift_pa_per_s[0] + params.drift_pa_per_s[1] * rng.standard_normal()
    lead_levels, lead_lengths = np.zeros(0), np.zeros(0, np.int64)
    if noise.lead_in and params.lead_in is not None:
        lead_levels, lead_lengths = lead_in_pa(params.lead_in, float(np.median(level_pa)),
                                               sample_rate_hz, noise.per_read_variation, rng)
    n_lead = int(lead_lengths.sum())
    if drift:  # per base, at its first sample: steps of under 0.01 pA, one pass fewer
        first = np.cumsum(dwell) - dwell + n_lead
        level_pa += first * (drift / sample_rate_hz)
    signal = np.repeat(np.concatenate([lead_levels, level_pa]).astype(np.float32),
                       np.concatenate([lead_lengths, dwell]))
    if noise.noise_scale:
        _add_noise(signal, n_lead, kmer_index, dwell, model, params, noise.noise_scale, rng)
    return signal, n_lead


def lead_in_pa(lead: LeadIn, strand_median_pa: float, sample_rate_hz: float,
               per_read_variation: bool, rng: np.random.Generator
               ) -> tuple[np.ndarray, np.ndarray]:
    """Noise-free open-pore, adapter stall (with its end spike) and adapter stretch as (levels
    in pA, lengths in samples); noise is added together with the strand's."""
    rate = sample_rate_hz / 4000.0  # fitted at 4 kHz
    n_open = 0
    if rng.random() >= lead.open_zero_fraction:
        n_open = int(round(rate * rng.geometric(1 / max(lead.open_mean_samples, 1.0))))
    stall_levels, stall_lengths = _stall_pa(lead, strand_median_pa, rate, per_read_variation, rng)
    n_adapter = int(round(rate * np.exp(lead.adapter_log_mean
                                        + lead.adapter_log_sd * rng.standard_normal())))
    open_pa = lead.open_pa + (lead.open_sd_pa * rng.standard_normal() if per_read_variation else 0)
    offset = lead.adapter_offset_pa[0]
    if per_read_variation:
        offset += lead.adapter_offset_pa[1] * rng.standard_normal()
    step = max(lead.adapter_step_samples * rate, 1.0)
    n_steps = max(1, int(np.ceil(2 * n_adapter / step)) + 4)
    lengths = np.maximum(np.rint(rng.exponential(step, n_steps)), 1).astype(np.int64)
    levels = strand_median_pa + offset + lead.adapter_level_sd_pa * rng.standard_normal(n_steps)
    ends = np.cumsum(lengths)
    used = int(np.searchsorted(ends, n_adapter)) + 1  # steps that reach n_adapter
    lengths = lengths[:used]
    if used:
        lengths[-1] -= ends[used - 1] - n_adapter
    keep = lengths > 0
    return (np.concatenate([[open_pa], stall_levels, levels[:used][keep]]),
            np.concatenate([[n_open], stall_lengths, lengths[keep]]).astype(np.int64))


def _stall_pa(lead: LeadIn, strand_median_pa: float, rate: float, per_read_variation: bool,
              rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The adapter stall and the spike that ends it as (levels, lengths), or empty arrays for
    a read without a stall. Parameter files from before the stall fit draw nothing."""
    if lead.stall_fraction <= 0 or rng.random() >= lead.stall_fraction:
        return np.zeros(0), np.zeros(0, np.int64)
    levels, lengths = [], []
    for log_mean, log_sd, (offset, offset_sd) in (
            (lead.stall_log_mean, lead.stall_log_sd, lead.stall_offset_pa),
            (lead.spike_log_mean, lead.spike_log_sd, lead.spike_offset_pa)):
        if lengths and rng.random() >= lead.spike_fraction:
            break
        n = int(round(rate * np.exp(log_mean + log_sd * rng.standard_normal())))
        if per_read_variation:
            offset += offset_sd * rng.standard_normal()
        levels.append(strand_median_pa + offset)
        lengths.append(max(n, 1))
    return np.array(levels), np.array(lengths, np.int64)


def _add_noise(signal: np.ndarray, n_lead: int, kmer_index: np.ndarray, dwell: np.ndarray,
               model: KmerModel, params: ChemistryParams, noise_scale: float,
               rng: np.random.Generator) -> None:
    """Gaussian core (AR(1) where fitted; per-k-mer spread from the fit, else the model
    file's) plus sparse spikes, in place."""
    white = rng.standard_normal(signal.size, dtype=np.float32)
    if params.noise_ar1:
        white = ar1_filter(white, params.noise_ar1)
    white *= np.float32(params.noise_sd_pa * noise_scale)
    spread = params.kmer_noise_rel if params.kmer_noise_rel is not None else model.noise_rel
    if spread is not None:
        white[n_lead:] *= np.repeat(spread[kmer_index], dwell)
    signal += white
    n_spikes = int(rng.binomial(signal.size, params.outlier_fraction))
    where = rng.integers(0, signal.size, n_spikes)
    spikes = rng.standard_normal(n_spikes) * params.outlier_sd_pa * noise_scale
    signal[where] += spikes.astype(np.float32)


def digitise(signal_pa: np.ndarray, params: ChemistryParams, noise: NoiseSettings,
             rng: np.random.Generator) -> tuple[np.ndarray, float, float]:
    """int16 DAC plus (offset, scale) with pA = (dac + offset) * scale."""
    offset = params.offset_dac[0]
    if noise.per_read_variation:
        offset += params.offset_dac[1] * rng.standard_normal()
    offset = float(np.rint(offset))
    scale = params.scale_pa_per_dac
    dac = np.rint(signal_pa / np.float32(scale) - np.float32(offset))
    dac = np.clip(dac, *params.adc_range).astype(np.int16)
    return dac, offset, scale


def simulate_reads(
    genome: dict[str, str] | list[str] | str,
    *,
    chemistry: str = "r9.4.1",
    sample_rate_hz: int = 4000,
    n_reads: int | None = 10,
    read_length_mean: float = 5000,
    read_length_sd: float = 3000,
    min_read_length: int = 100,
    noise_scale: float = 1.0,
    drift_pa_per_s: float = 0.0,
    per_read_variation: bool = True,
    seed: int = 0,
    kmer_model: KmerModel | str | None = None,
    params: ChemistryParams | None = None,
    lead_in: bool = True,
    exclude: list[tuple[str, int, int]] | None = None,
) -> Iterator[SimulatedRead]:
    """Yield simulated reads, lazily, reproducibly from ``seed``.

    ``genome`` is ``{contig: sequence}`` (e.g. from `read_fasta` or `random_genome`), a list
    of sequences or one sequence. With ``n_reads=None`` every sequence becomes one whole
    forward-strand read (exact sequences); otherwise fragments are sampled with gamma
    lengths (mean, sd, clipped to [min_read_length, contig length]), uniform positions
    and random strands, never overlapping an ``exclude`` interval ``(contig, start, end)``
    (0-based, end exclusive, forward strand). ``lead_in=False`` starts every read at its
    first base (no open-pore/adapter stretch).
    """
    if sample_rate_hz not in SAMPLE_RATES_HZ:
        raise InputError(f"sample rate must be one of {SAMPLE_RATES_HZ} Hz, not {sample_rate_hz}")
    if isinstance(kmer_model, KmerModel):
        model = kmer_model
        if model.chemistry.name != chemistry:
            raise InputError(f"k-mer model is {model.chemistry.name}, not {chemistry}")
    else:
        model = load_kmer_model(chemistry, kmer_model)
    params = for_model(params or load_params(model.chemistry.name), model.path)
    rng = np.random.default_rng(seed)
    genome = clean_genome(_as_genome(genome), rng)
    noise = NoiseSettings(noise_scale, drift_pa_per_s, per_read_variation, lead_in)
    for fragment in _fragments(genome, n_reads, read_length_mean, read_length_sd,
                               min_read_length, rng, exclude or []):
        yield _simulate_one(genome, fragment, model, params, sample_rate_hz, noise, rng)


def _as_genome(genome: dict[str, str] | list[str] | str) -> dict[str, str]:
    if isinstance(genome, str):
        genome = [genome]
    if not isinstance(genome, dict):
        genome = {f"seq{i}": sequence for i, sequence in enumerate(genome)}
    if not genome or min(len(sequence) for sequence in genome.values()) < 1:
        raise InputError("genome holds an empty sequence")
    return genome


def _fragments(genome, n_reads, length_mean, length_sd, min_length, rng,
               exclude) -> Iterator[Fragment]:
    if n_reads is None:
        if exclude:
            raise InputError("exclude intervals need sampled fragments (n_reads), not whole contigs")
        for name, sequence in genome.items():
            yield Fragment(name, 0, len(sequence), "+")
        return
    if length_mean <= 0 or length_sd < 0 or min_length < 1:
        raise InputError("read lengths need mean > 0, sd >= 0 and minimum >= 1")
    allowed = allowed_regions(genome, exclude, min_length)
    for _ in range(n_reads):
        yield sample_fragment(genome, rng, length_mean, length_sd, min_length, allowed)


def _simulate_one(genome, fragment, model, params, sample_rate_hz, noise, rng) -> SimulatedRead:
    read_id = str(uuid.UUID(bytes=rng.bytes(16), version=4))
    context = fragment_with_context(genome, fragment, model.k, rng)
    sequence = context[model.k : len(context) - model.k]
    levels, kmer_index = base_levels(context, model, params)
    dwell = sample_dwell(len(sequence), params, sample_rate_hz, rng, noise.per_read_variation)
    signal_pa, n_lead = synthesise_pa(levels, kmer_index, dwell, model, params, sample_rate_hz,
                                      noise, rng)
    dac, offset, scale = digitise(signal_pa, params, noise, rng)
    base_starts = np.full(len(sequence) + 1, n_lead, np.int64)
    np.cumsum(dwell, out=base_starts[1:])
    base_starts[1:] += n_lead
    return SimulatedRead(read_id, sequence, dac, offset, scale, base_starts, sample_rate_hz,
                         model.chemistry.name, fragment)
