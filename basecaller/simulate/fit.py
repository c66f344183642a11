"""Fit the simulator's parameters to labelled real reads (per-base signal segmentations).

    from basecaller.simulate.fit import load_labelled, fit_chemistry
    reads = load_labelled("r9.4.1")           # held-out intervals already dropped
    params = fit_chemistry("r9.4.1", reads)   # a dict in the fitted_params.json layout

``benchmarks/fit_simulator.py`` runs this for both chemistries and rewrites
``fitted_params.json``. What is fitted, per chemistry:

- levels: per read ``mean pA of a base = shift + scale * (k-mer level) + drift * t``
  (least squares on bases of at least 3 samples; for move-table segmentations, whose per-base
  means are blurred, the scale comes from the spread instead); per-k-mer level corrections
  and per-k-mer noise spreads where every k-mer has enough bases (R9.4.1 6-mers), shrunk
  towards 0 and the model file's spreads; for move tables, optionally (``context_table``) one
  level correction per 4-mer context from the reads resquiggled against the model;
- dwell: a shifted gamma body plus a long gamma tail (stalls) by maximum likelihood on the
  rounded, floored dwells, after taking out a per-read speed factor whose spread is fitted;
- noise: within-base variograms at lags 1 and 2 (trimmed, so spikes do not count) give an
  AR(1) core ``sd`` and ``ar1``; spikes from the excess of the untrimmed variance;
- lead-in: open-pore samples at the start (above half-way to the open-pore current), the
  adapter stall (the flat start that ``adapter_stall_trim`` finds: how often, how long, its
  level), the current spike that ends it, and the adapter stretch after it up to the first
  labelled base: lengths, levels, step length.

Reads overlapping a held-out interval are never used. Needs scipy (fitting only).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from basecaller.signal.trim import STALL_SPREAD_PA, adapter_stall_trim
from basecaller.simulate.kmer_model import KmerModel, encode, kmer_indices, load_kmer_model
from basecaller.simulate.params import encode_table

#: Validation intervals (0-based, end exclusive) that no fit may see.
HOLDOUT = (("Lambda_NEB", 14_000, 26_000), ("NC_000913.3", 514_000, 531_000),
           ("chr13", 52_314_000, 52_318_100))
MIN_DWELL = 3  # Tombo's minimum; bases shorter than this are censored in the dwell fit
#: reads whose per-base means follow the k-mer model worse are left out (segmentation
#: failures); move tables lag the pore, so their per-base means correlate less everywhere
MIN_LEVEL_R = {"segmentation": 0.85, "move_table": 0.6}
DWELL_CAP = 400  # dwells above this count as ">= cap" (censored) in the likelihood


@dataclass
class LabelledRead:
    """A real read in pA with its per-base segmentation (absolute sample indices)."""

    signal_pa: np.ndarray
    base_starts: np.ndarray
    sequence: str
    source: str
    contig: str = ""
    ref_start: int = -1
    ref_end: int = -1
    offset_dac: float = 0.0
    scale_pa_per_dac: float = 1.0

    @property
    def strand_pa(self) -> np.ndarray:
        return self.signal_pa[self.base_starts[0] : self.base_starts[-1]]

    @property
    def dwell(self) -> np.ndarray:
        return np.diff(self.base_starts)


def default_data_dir() -> Path:
    if os.environ.get("BASECALLER_SHARED_DATA"):
        return Path(os.environ["BASECALLER_SHARED_DATA"])
    return Path(__file__).resolve().parents[3] / "shared" / "data"


def sources(chemistry: str, data: Path) -> list[tuple[str, str, dict]]:
    """(name, reader, arguments) of each labelled set of a chemistry."""
    if chemistry == "r9.4.1":
        return [("r941_lambda_tombo", "tombo", {"paths": [str(data / "r941_lambda_tombo")]}),
                ("r94_ecoli_f5c", "taiyaki",
                 {"paths": [str(data / "r94_ecoli_f5c" / "mapped_signal_nanopolish.hdf5")]}),
                ("r941_taiyaki_mapped", "taiyaki", {"paths": [str(data / "r941_taiyaki_mapped")]})]
    folder = data / "r1041_remora_4khz"
    return [("r1041_remora_4khz", "bam", {"paths": [str(folder / "can_reads.pod5")],
                                          "bam": str(folder / "can_mappings.bam")})]


def overlaps_holdout(contig: str, start: int, end: int, holdout=HOLDOUT) -> bool:
    return any(contig == c and start < e and end > s for c, s, e in holdout)


def load_labelled(chemistry: str, data: str | Path | None = None, holdout=HOLDOUT,
                  only: str | None = None) -> list[LabelledRead]:
    """Every labelled read of the chemistry outside the held-out intervals.

    Reads without genome coordinates (the taiyaki walkthrough set) cannot overlap a
    held-out interval of ours and are kept.
    """
    from basecaller.data import segmented

    data = Path(data) if data else default_data_dir()
    reads = []
    for name, reader, kwargs in sources(chemistry, data):
        if only and name != only:
            continue
        for record in segmented.SOURCES[reader](**kwargs):
            if overlaps_holdout(record.contig, record.ref_start, record.ref_end, holdout):
                continue
            if set(record.sequence) - set("ACGT") or len(record.sequence) < 50:
                continue
            read = record.read
            reads.append(LabelledRead(read.signal_pa, record.base_starts.astype(np.int64),
                                      record.sequence, name, record.contig, record.ref_start,
                                      record.ref_end, float(read.offset_dac),
                                      float(read.scale_pa_per_dac)))
    return reads


# --- per-base quantities ---------------------------------------------------------------

def robust_sd(values: np.ndarray) -> float:
    return float(1.4826 * np.median(np.abs(values - np.median(values))))


def model_index(sequence: str, model: KmerModel) -> np.ndarray:
    """Per-base k-mer index (read order), -1 where the k-mer runs off the read."""
    k, centre = model.k, model.chemistry.centre
    index = np.full(len(sequence), -1, np.int64)
    windows = kmer_indices(encode(sequence), k)
    index[centre : centre + windows.size] = windows
    return index


def base_means(read: LabelledRead) -> np.ndarray:
    dwell = read.dwell
    base = np.repeat(np.arange(dwell.size), dwell)
    sums = np.bincount(base, read.strand_pa, minlength=dwell.size)
    return sums / np.maximum(dwell, 1)


def within_base_lag(read: LabelledRead, lag: int) -> tuple[np.ndarray, np.ndarray]:
    """Differences ``x[t + lag] - x[t]`` with both samples in one base, and that base's index."""
    dwell = read.dwell
    base = np.repeat(np.arange(dwell.size), dwell)
    same = base[lag:] == base[:-lag]
    signal = read.strand_pa
    return (signal[lag:] - signal[:-lag])[same], base[:-lag][same]


def trimmed_var(values: np.ndarray, cut: float = 4.0) -> float:
    """Variance of the Gaussian core: mean square inside ``cut`` robust sds (the truncation
    is corrected for a normal distribution)."""
    from scipy.stats import norm

    s0 = max(robust_sd(values), 1e-6)
    inside = values[np.abs(values - np.median(values)) < cut * s0]
    # E[x^2 | |x| < c] / sigma^2 for a normal: 1 - 2 c phi(c) / (2 Phi(c) - 1)
    factor = 1 - 2 * cut * norm.pdf(cut) / (2 * norm.cdf(cut) - 1)
    return float(np.mean((inside - np.median(values)) ** 2) / factor)


# --- levels ------------------------------------------------------------------------------

def level_fits(reads, model, move_table: bool, sample_rate_hz: float = 4000.0):
    """Per read (shift, scale, drift pA/s, r) and the per-base records of the kept reads."""
    fits, records = [], []
    for read in reads:
        index, means, dwell = model_index(read.sequence, model), base_means(read), read.dwell
        ok = (index >= 0) & (dwell >= MIN_DWELL)
        if ok.sum() < 50:
            continue
        level = model.levels[index[ok]].astype(np.float64)
        t = (read.base_starts[:-1][ok] - read.base_starts[0]) / sample_rate_hz
        y = means[ok]
        r = float(np.corrcoef(level, y)[0, 1])
        design = np.column_stack([np.ones_like(level), level, t - t.mean()])
        coef = np.linalg.lstsq(design, y, rcond=None)[0]
        resid = y - design @ coef
        keep = np.abs(resid) < 4 * robust_sd(resid)
        coef = np.linalg.lstsq(design[keep], y[keep], rcond=None)[0]
        shift, scale, drift = coef[0] - coef[2] * t.mean(), coef[1], coef[2]
        if move_table:  # blurred per-base means: slope attenuated, use the spread ratio
            scale = robust_sd(y - drift * t) / robust_sd(level)
            shift = float(np.median(y - drift * t) - scale * np.median(level))
        fits.append((float(shift), float(scale), float(drift), r, read.source))
        records.append((read, index, ok, shift, scale, drift, t))
    return fits, records


def kmer_level_offsets(records, model, prior_bases: float = 8.0) -> tuple[np.ndarray, int]:
    """Per-k-mer mean residual (model units), shrunk towards 0 by ``prior_bases``."""
    n = model.levels.size
    sums, counts = np.zeros(n), np.zeros(n)
    for read, index, ok, shift, scale, drift, t in records:
        means = base_means(read)[ok]
        resid = (means - shift - drift * t) / scale - model.levels[index[ok]]
        clip = 4 * robust_sd(resid)
        good = np.abs(resid) < clip
        np.add.at(sums, index[ok][good], resid[good])
        np.add.at(counts, index[ok][good], 1)
    return sums / (counts + prior_bases), int(np.count_nonzero(counts >= 5))


def kmer_noise_spread(records, model, core_sd: float, prior_bases: float = 8.0) -> np.ndarray:
    """Per-k-mer relative sd of the within-base noise, mean 1, shrunk to the model file's."""
    n = model.levels.size
    sq, dof = np.zeros(n), np.zeros(n)
    for read, index, ok, *_ in records:
        dwell = read.dwell
        base = np.repeat(np.arange(dwell.size), dwell)
        means = base_means(read)
        resid = read.strand_pa - means[base]
        resid = np.clip(resid, -4 * core_sd, 4 * core_sd)  # spikes are modelled separately
        per_base = np.bincount(base, resid * resid, minlength=dwell.size)
        use = ok & (dwell >= 4)
        np.add.at(sq, index[use], per_base[use])
        np.add.at(dof, index[use], dwell[use] - 1)
    prior = model.noise_rel if model.noise_rel is not None else np.ones(n, np.float32)
    pooled = np.sum(sq) / np.sum(dof)
    rel_var = (sq / pooled + prior_bases * prior.astype(np.float64) ** 2) / (dof + prior_bases)
    rel = np.sqrt(rel_var)
    return rel / np.average(rel, weights=dof + 1)


#: A stride-5 move table puts each base start within this many samples of where the signal
#: changes level; ``refine_boundaries`` searches that band.
REFINE_RADIUS = 4
#: R10.4.1 has too few labelled bases for a table per 9-mer (56 k bases, 262 k 9-mers), so its
#: level correction is one offset per 4-mer at 9-mer positions 4..7 (read order, the base read
#: at 7): across reads, half fitted and half held out, it takes 18-20 % of the residual
#: variance of the resquiggled per-base means (other windows of 4-6 positions: 3-18 %).
CONTEXT_POSITIONS = (4, 8)


def refine_boundaries(signal_pa: np.ndarray, base_starts: np.ndarray, expected_pa: np.ndarray,
                      radius: int = REFINE_RADIUS) -> np.ndarray:
    """Base starts moved by at most ``radius`` samples each (the first and last fixed, every
    base at least one sample) to the least-squares fit of each base's samples to its
    ``expected_pa`` level: a banded dynamic programme over boundary positions."""
    x = np.asarray(signal_pa, np.float64)
    c1 = np.concatenate([[0.0], np.cumsum(x)])
    c2 = np.concatenate([[0.0], np.cumsum(x * x)])
    starts = np.asarray(base_starts, np.int64)
    n = starts.size - 1
    offsets = np.arange(-radius, radius + 1)
    pos = np.clip(starts[:, None] + offsets[None, :], starts[0], starts[-1])
    pos[0], pos[-1] = starts[0], starts[-1]
    width = offsets.size
    total = np.zeros(width)
    back = np.zeros((n, width), np.int64)
    for i in range(n):
        s, e = pos[i][:, None], pos[i + 1][None, :]
        count = e - s
        level = expected_pa[i]
        cost = (c2[e] - c2[s]) - 2 * level * (c1[e] - c1[s]) + count * level * level
        cand = total[:, None] + np.where(count >= 1, cost, np.inf)
        back[i] = np.argmin(cand, axis=0)
        total = cand[back[i], np.arange(width)]
    choice = np.empty(n + 1, np.int64)
    choice[n] = int(np.argmin(total))
    for i in range(n - 1, -1, -1):
        choice[i] = back[i][choice[i + 1]]
    return pos[np.arange(n + 1), choice]


def resquiggle(read: LabelledRead, model: KmerModel, rounds: int = 3) -> LabelledRead:
    """A move-table read with its base starts sharpened against the k-mer model: per round,
    the least-squares shift and scale of the per-base means, then ``refine_boundaries``."""
    index = model_index(read.sequence, model)
    known = index >= 0
    level = model.levels[np.maximum(index, 0)].astype(np.float64)
    means = base_means(read)
    scale = robust_sd(means[known]) / robust_sd(level[known])  # blurred: the spread ratio
    shift = float(np.median(means[known]) - scale * np.median(level[known]))
    design = np.column_stack([np.ones(known.sum()), level[known]])
    starts = read.base_starts
    for _ in range(rounds):
        expected = np.where(known, shift + scale * level, np.median(means))
        starts = refine_boundaries(read.signal_pa, read.base_starts, expected)
        means = base_means(_with_starts(read, starts))
        shift, scale = np.linalg.lstsq(design, means[known], rcond=None)[0]
    return _with_starts(read, starts)


def _with_starts(read: LabelledRead, starts: np.ndarray) -> LabelledRead:
    return LabelledRead(read.signal_pa, starts, read.sequence, read.source, read.contig,
                        read.ref_start, read.ref_end, read.offset_dac, read.scale_pa_per_dac)


def context_of(index: np.ndarray, k: int, positions: tuple[int, int] = CONTEXT_POSITIONS) -> np.ndarray:
    """The sub-k-mer at 0-based ``positions`` [lo, hi) of each k-mer index (first base most
    significant, as ``kmer_indices`` numbers them)."""
    lo, hi = positions
    return (np.asarray(index) // 4 ** (k - hi)) % 4 ** (hi - lo)


def context_level_offsets(records, model, positions: tuple[int, int] = CONTEXT_POSITIONS,
                          prior_bases: float = 8.0) -> np.ndarray:
    """Mean residual (model units) per sub-k-mer context, shrunk towards 0 by ``prior_bases``."""
    size = 4 ** (positions[1] - positions[0])
    sums, counts = np.zeros(size), np.zeros(size)
    for read, index, ok, shift, scale, drift, t in records:
        means = base_means(read)[ok]
        resid = (means - shift - drift * t) / scale - model.levels[index[ok]]
        good = np.abs(resid) < 4 * robust_sd(resid)
        context = context_of(index[ok][good], model.k, positions)
        np.add.at(sums, context, resid[good])
        np.add.at(counts, context, 1)
    return sums / (counts + prior_bases)


# --- noise -------------------------------------------------------------------------------

def noise_fit(reads, spread: np.ndarray | None = None, model: KmerModel | None = None) -> dict:
    """AR(1) core from trimmed within-base variograms at lags 1 and 2, spikes from the rest.

    With a per-k-mer ``spread``, differences are divided by their base's spread first.
    """
    lags = {1: [], 2: []}
    for read in reads:
        rel = None
        if spread is not None:
            index = model_index(read.sequence, model)
            rel = np.where(index >= 0, spread[np.maximum(index, 0)], 1.0)
        for lag in lags:
            diffs, base = within_base_lag(read, lag)
            lags[lag].append(diffs / rel[base] if rel is not None else diffs)
    d1, d2 = np.concatenate(lags[1]), np.concatenate(lags[2])
    g1, g2 = trimmed_var(d1) / 2, trimmed_var(d2) / 2
    rho = float(np.clip(g2 / g1 - 1, 0.0, 0.95))
    sd = float(np.sqrt(g1 / (1 - rho)))
    s_d = np.sqrt(2 * g1)
    # Spikes: a spike moves two differences by N(0, spike_sd); a moved difference passes
    # 4 s_d with probability erfc(4 s_d / sqrt(2 (s_d^2 + spike_sd^2))). Solve the observed
    # excess rate and the excess variance together (a few fixed-point steps).
    seen = max(float(np.mean(np.abs(d1) > 4 * s_d)) - math.erfc(4 / math.sqrt(2)), 0.0) / 2
    extra = max(float(np.var(d1)) - 2 * g1, 0.0)
    tail, spike_sd = 0.0, 0.0
    if seen > 0 and extra > 0:
        grid = np.geomspace(seen, 0.2, 400)  # the smallest rate that explains what is seen
        spike = np.sqrt(extra / (2 * grid))
        detect = np.array([math.erfc(4 * s_d / math.sqrt(2 * (s_d**2 + v**2))) for v in spike])
        hit = np.flatnonzero(grid * detect >= seen)
        best = int(hit[0]) if hit.size else int(np.argmax(grid * detect))
        tail, spike_sd = float(grid[best]), float(spike[best])
    return {"sd": sd, "ar1": rho, "outlier_fraction": float(tail), "outlier_sd": spike_sd,
            "outlier_sd_rel": spike_sd / sd, "variogram_lag1": g1, "variogram_lag2": g2}


def lag1_autocorrelation(reads, min_dwell: int = 6) -> float:
    """Lag-1 autocorrelation of within-base residuals (per-base mean removed), pooled."""
    num = den_a = den_b = 0.0
    for read in reads:
        dwell = read.dwell
        base = np.repeat(np.arange(dwell.size), dwell)
        resid = read.strand_pa - base_means(read)[base]
        ok = (base[1:] == base[:-1]) & (dwell[base[1:]] >= min_dwell)
        a, b = resid[:-1][ok], resid[1:][ok]
        num, den_a, den_b = num + a @ b, den_a + a @ a, den_b + b @ b
    return float(num / np.sqrt(den_a * den_b))


# --- dwell -------------------------------------------------------------------------------

def speed_factors(reads) -> tuple[np.ndarray, float]:
    """Per-read mean dwell over the pooled mean (trimmed at the pooled 99th percentile), and
    the sd of its log across reads with the sampling noise taken out."""
    pooled = np.concatenate([r.dwell[1:-1] for r in reads])
    cap = np.quantile(pooled, 0.99)
    means, noise_var = [], []
    for read in reads:
        d = np.minimum(read.dwell[1:-1], cap)
        means.append(d.mean())
        noise_var.append(d.var() / d.size / d.mean() ** 2)
    means = np.array(means)
    log = np.log(means / np.mean(means))
    speed_sd = float(np.sqrt(max(np.var(log) - np.mean(noise_var), 0.0)))
    return means / np.mean(means), speed_sd


def fit_dwell_mixture(dwell: np.ndarray, quantum: int, floor: int, max_shift: float) -> dict:
    """Shifted gamma body + gamma tail by maximum likelihood on quantised, floored dwells.

    Quantum 1: an observed ``j`` is a true dwell in ``(j - 0.5, j + 0.5]``. A move table's
    stride ``q`` rounds both base boundaries, so an observed ``q j`` collects true dwells
    with triangular weight ``max(0, 1 - |d - q j| / q)``. Everything at or below ``floor``
    is censored, everything from ``DWELL_CAP`` up as well.
    """
    from scipy.optimize import minimize
    from scipy.stats import gamma

    dwell = np.minimum(dwell, DWELL_CAP)
    values, counts = np.unique(np.maximum(dwell, floor), return_counts=True)
    grid = np.arange(0, DWELL_CAP + 2 * quantum, 0.05 if quantum > 1 else 0.5) \
        if quantum > 1 else None
    if quantum > 1:
        centres = (grid[1:] + grid[:-1]) / 2
        weights = np.maximum(0, 1 - np.abs(centres[None, :] - values[:, None]) / quantum)
        weights[0, centres < values[0]] = 1.0
        weights[-1, centres > values[-1]] = 1.0

    def cdf(x, theta):
        shift, k, s, p, kt, st = theta[0], *np.exp(theta[1:3]), 1 / (1 + np.exp(-theta[3])), \
            *np.exp(theta[4:6])
        x = x - shift
        return (1 - p) * gamma.cdf(x, k, scale=s) + p * gamma.cdf(x, kt, scale=st)

    def nll(theta):
        if quantum > 1:
            probs = weights @ np.diff(cdf(grid, theta))
        else:
            upper = np.where(values >= DWELL_CAP, np.inf, values + 0.5)
            lower = np.where(values <= floor, -np.inf, values - 0.5)
            probs = cdf(upper, theta) - cdf(lower, theta)
        return -float(np.sum(counts * np.log(np.maximum(probs, 1e-300))))

    mean = float(np.mean(dwell))
    bounds = [(0.0, max_shift), (-3.0, 5.0), (-3.0, 6.0), (-9.0, 0.0), (-3.0, 3.0), (1.0, 7.0)]
    starts = [[shift, np.log(2), np.log(mean / 2), -4.0, 0.0, np.log(5 * mean)]
              for shift in np.linspace(0, max_shift, 3)]
    fits = [minimize(nll, start, method="L-BFGS-B", bounds=bounds) for start in starts]
    best = min(fits, key=lambda fit: fit.fun)
    shift, lk, ls, lp, lkt, lst = best.x
    return {"shift": float(shift), "shape": float(np.exp(lk)), "scale": float(np.exp(ls)),
            "tail": {"fraction": float(1 / (1 + np.exp(-lp))), "shape": float(np.exp(lkt)),
                     "scale": float(np.exp(lst))},
            "neg_log_likelihood": float(best.fun)}


# --- lead-in -----------------------------------------------------------------------------

def stall_length(read: LabelledRead, n_open: int = 0) -> int:
    """Samples of adapter stall after the first ``n_open`` (open-pore) samples, as the prefix
    caller's detector finds it, never past the first labelled base; 0 for none. Any object
    with ``signal_pa`` and ``base_starts`` (a simulated read too) will do."""
    cut = adapter_stall_trim(read.signal_pa, flat_spread=STALL_SPREAD_PA)
    return max(min(cut, int(read.base_starts[0])) - n_open, 0)


SPIKE_MIN_PA = 20.0  # a peak this far above the strand's median, right after a stall, is its end spike


def spike_after(lead: np.ndarray, start: int, strand_median: float, search: int = 200):
    """The current spike that ends a stall, looked for in ``lead[start : start + search]``:
    (samples from ``start`` to the spike, its length, its median level above the strand's
    median), the spike being the run around the peak above half the peak's height; None if the
    peak is under ``SPIKE_MIN_PA``."""
    segment = lead[start : start + search]
    if segment.size < 10:
        return None
    peak = int(np.argmax(segment))
    height = float(segment[peak]) - strand_median
    if height < SPIKE_MIN_PA:
        return None
    above = segment > strand_median + height / 2
    low = peak - int(np.argmin(above[peak::-1])) + 1 if not above[: peak + 1].all() else 0
    after = above[peak:]
    high = peak + (int(np.argmin(after)) if not after.all() else after.size)
    return low, high - low, float(np.median(segment[low:high])) - strand_median


def _stretch(name: str, lengths: list[int], offsets: list[float]) -> dict:
    """Log-normal length and (mean, sd) level offset of a lead-in stretch; zeros if none seen."""
    log = np.log(lengths) if lengths else np.zeros(1)
    level = np.array(offsets) if offsets else np.zeros(1)
    return {f"{name}_log_mean": float(log.mean()), f"{name}_log_sd": float(log.std()),
            f"{name}_offset_pa": [float(level.mean()), float(level.std())]}


def lead_in_fit(reads, open_pore_pa: float, noise_sd: float, rho: float) -> dict:
    """Open pore, adapter stall and adapter, from the raw signal before the first labelled base."""
    n_open, open_levels, adapter_len, offsets, spreads = [], [], [], [], []
    stall_len, stall_offsets, leads = [], [], 0
    spike_len, spike_offsets = [], []
    lags = np.array([1, 2, 4, 8, 16, 32, 64, 128])
    gamma_sums, gamma_counts = np.zeros(lags.size), np.zeros(lags.size)
    for read in reads:
        lead = read.signal_pa[: read.base_starts[0]]
        if lead.size < 20:
            continue
        strand_median = float(np.median(read.strand_pa))
        threshold = strand_median + 0.5 * (open_pore_pa - strand_median)
        below = np.flatnonzero(lead < threshold)
        n = int(below[0]) if below.size else lead.size
        n_open.append(n)
        if n:
            open_levels.append(float(np.median(lead[:n])))
        leads += 1
        stall = stall_length(read, n)
        spike = None
        if stall:
            # the detector cuts at a 40-sample window: the stall reaches the spike's start
            spike = spike_after(lead, max(n + stall - 40, n), strand_median)
            if spike:
                stall = max(stall - 40, 0) + spike[0]
                spike_len.append(spike[1])
                spike_offsets.append(spike[2])
            stall_len.append(stall)
            stall_offsets.append(float(np.median(lead[n : n + stall])) - strand_median)
        adapter = lead[n + stall + (spike[1] if spike else 0) :]
        if adapter.size < 20:
            continue
        adapter_len.append(adapter.size)
        offsets.append(float(np.median(adapter)) - strand_median)
        spreads.append(robust_sd(adapter))
        for i, lag in enumerate(lags):
            if adapter.size > lag:
                diffs = adapter[lag:] - adapter[:-lag]
                diffs = diffs[np.abs(diffs) < 100]
                gamma_sums[i] += np.sum(diffs**2) / 2
                gamma_counts[i] += diffs.size
    n_open = np.array(n_open)
    gam = gamma_sums / np.maximum(gamma_counts, 1)
    noise_part = noise_sd**2 * (1 - rho**lags)
    best = None
    for step in np.geomspace(2, 2000, 120):  # exponential steps: s^2 (1 - exp(-h / D))
        shape = 1 - np.exp(-lags / step)
        s2 = max(float(np.dot(shape, gam - noise_part) / np.dot(shape, shape)), 0.0)
        err = float(np.sum((gam - noise_part - s2 * shape) ** 2))
        if best is None or err < best[0]:
            best = (err, step, s2)
    log_len = np.log(adapter_len)
    return {
        "open_zero_fraction": float(np.mean(n_open == 0)),
        "open_mean_samples": float(n_open[n_open > 0].mean()) if np.any(n_open > 0) else 1.0,
        "open_pa": float(np.median(open_levels)) if open_levels else open_pore_pa,
        "open_sd_pa": float(np.std(open_levels)) if len(open_levels) > 1 else 0.0,
        "adapter_log_mean": float(log_len.mean()), "adapter_log_sd": float(log_len.std()),
        "adapter_offset_pa": [float(np.mean(offsets)), float(np.std(offsets))],
        "adapter_level_sd_pa": float(np.sqrt(best[2])),
        "adapter_step_samples": float(best[1]),
        "stall_fraction": len(stall_len) / max(leads, 1),
        **_stretch("stall", stall_len, stall_offsets),
        "spike_fraction": len(spike_len) / max(len(stall_len), 1),
        **_stretch("spike", spike_len, spike_offsets),
        "reads": int(len(adapter_len)),
        "median_length": float(np.median([read.base_starts[0] for read in reads])),
    }


# --- one chemistry -----------------------------------------------------------------------

def fit_chemistry(chemistry: str, reads: list[LabelledRead], model: KmerModel | None = None,
                  open_pore_pa: float | None = None, borrow: dict | None = None,
                  calibrate: bool = True, context_table: bool = False) -> dict:
    """Everything ``params_from_dict`` reads, fitted to ``reads``.

    ``borrow`` (a fitted R9.4.1 dict) supplies what a move-table segmentation cannot
    resolve: level jitter relative to the level spread and the spike model relative to the
    noise core. ``context_table`` (move tables only, off by default) adds level corrections
    per k-mer context from the reads resquiggled against the k-mer model (``resquiggle``).
    It is off because a model trained on real R10.4.1 reads calls the simulation worse with
    it (identity 0.655 against 0.694, ``benchmarks/real_model_on_sim.py``): the offsets also
    learn the blur that the resquiggle leaves. Jitter, noise and dwell from resquiggled reads
    were worse still (per-base mean KS 0.086 against 0.066; adapter stalls in 7 of 10
    simulated reads against 3 of 10 real ones).
    """
    model = model or load_kmer_model(chemistry)
    move_table = borrow is not None
    min_r = MIN_LEVEL_R["move_table" if move_table else "segmentation"]
    fits, records = level_fits(reads, model, move_table)
    good = {id(rec[0]) for fit, rec in zip(fits, records) if fit[3] >= min_r}
    records = [rec for rec in records if id(rec[0]) in good]
    kept = [read for read in reads if id(read) in good]
    fits = np.array([fit[:4] for fit in fits if fit[3] >= min_r])
    out: dict = {"sample_rate_hz": 4000}
    tables = {}
    if not move_table:
        offsets, covered = kmer_level_offsets(records, model)
        if covered >= 0.9 * model.levels.size:
            tables["level_offset"] = offsets
    elif context_table:
        _, sharp = level_fits([resquiggle(read, model) for read in kept], model, False)
        tables["level_offset_context"] = {"k": model.k, "positions": list(CONTEXT_POSITIONS),
                                          "table": encode_table(context_level_offsets(sharp, model))}
    levels_fit = model.levels + (tables["level_offset"] if "level_offset" in tables else 0)
    # noise: first without, then with the per-k-mer spread
    noise = noise_fit(kept)
    if not move_table:
        fitted_model = KmerModel(model.chemistry, levels_fit.astype(np.float32), None, model.path)
        _, records = level_fits(kept, fitted_model, False)
        spread = kmer_noise_spread(records, model, noise["sd"])
        tables["noise_rel"] = spread
        noise = noise_fit(kept, spread, model)
    else:
        noise["outlier_fraction"] = borrow["noise_pa"]["outlier_fraction"]
        noise["outlier_sd_rel"] = borrow["noise_pa"]["outlier_sd_rel"]
        noise["outlier_sd"] = noise["outlier_sd_rel"] * noise["sd"]
    # level jitter: residual variance of per-base means not explained by noise / dwell
    scale_mean = float(fits[:, 1].mean())
    if move_table:
        jitter_rel = borrow["level_pa"]["jitter_rel"]
    else:
        resid_var, inv_dwell = [], []
        for read, index, ok, shift, scale, drift, t in records:
            means = base_means(read)[ok]
            resid = means - shift - drift * t - scale * levels_fit[index[ok]]
            resid_var.append(trimmed_var(resid))
            inv_dwell.append(np.mean(1 / read.dwell[ok]))
        total_noise = noise["sd"] ** 2 * (1 + 2 * noise["ar1"])  # var of a mean ~ /dwell
        jitter_var = max(float(np.median(resid_var)) - total_noise * float(np.median(inv_dwell)),
                         0.0)
        jitter_rel = float(np.sqrt(jitter_var) / (scale_mean * np.std(model.levels)))
    # dwell
    factors, speed_sd = speed_factors(kept)
    quantum, floor = (5, 5) if move_table else (1, MIN_DWELL)
    scaled = np.concatenate([np.rint(r.dwell[1:-1] / f) for r, f in zip(kept, factors)])
    dwell_fit = fit_dwell_mixture(scaled.astype(np.int64), quantum, floor,
                                  2.0 if move_table else MIN_DWELL - 0.01)
    dwell_fit.update(min_samples=1, speed_sd=speed_sd)
    # digitiser and lead-in
    offsets_dac = np.array([r.offset_dac for r in kept])
    scale_pa_per_dac = float(np.median([r.scale_pa_per_dac for r in kept]))
    digitisation = 8192.0 if chemistry == "r9.4.1" else 2048.0
    open_pa = open_pore_pa if open_pore_pa is not None else 220.0
    out.update({
        "dwell_samples": dwell_fit,
        "level_pa": {
            "shift": [float(fits[:, 0].mean()), float(fits[:, 0].std())],
            "scale": [scale_mean, float(fits[:, 1].std())],
            "jitter_sd": float(jitter_rel * scale_mean * np.std(model.levels)),
            "jitter_rel": jitter_rel,
        },
        "drift_pa_per_s": [float(fits[:, 2].mean()), float(fits[:, 2].std())],
        "noise_pa": noise,
        "digitiser": {
            "digitisation": digitisation, "range_pa": scale_pa_per_dac * digitisation,
            "adc_range": [-4096, 4095] if chemistry == "r9.4.1" else [0, 2047],
            "offset_dac": [float(offsets_dac.mean()), float(offsets_dac.std())],
            "open_pore_pa": open_pa,
        },
        "lead_in": lead_in_fit(kept, open_pa, noise["sd"], noise["ar1"]),
        "fitted_from": {
            "reads": len(kept), "bases": int(sum(r.dwell.size for r in kept)),
            "per_source": {name: sum(r.source == name for r in kept)
                           for name in sorted({r.source for r in kept})},
            "left_out_level_r_below": min_r,
            "left_out": len(reads) - len(kept),
            "held_out_intervals": [f"{c}:{s + 1}-{e}" for c, s, e in HOLDOUT],
        },
    })
    if tables:
        out["kmer_tables"] = {"model_file": Path(model.path).name,
                              **{name: values if isinstance(values, dict) else encode_table(values)
                                 for name, values in tables.items()}}
    if calibrate:
        calibrate_noise(out, chemistry, kept, model, tables.get("noise_rel"))
        calibrate_levels(out, chemistry, kept, model)
    return out


def calibrate_levels(fitted: dict, chemistry: str, reads: list[LabelledRead],
                     model: KmerModel) -> None:
    """One correction of the mean level shift and scale by simulation: simulate the reads'
    own sequences and move the simulated per-read strand median and spread onto the real."""
    from basecaller.simulate.params import params_from_dict
    from basecaller.simulate.simulator import simulate_reads

    params = params_from_dict(fitted)
    sims = list(simulate_reads([r.sequence for r in reads], chemistry=chemistry, n_reads=None,
                               per_read_variation=False, params=params, seed=0, lead_in=False,
                               kmer_model=model))
    noise_var = fitted["noise_pa"]["sd"] ** 2
    ratios = [np.sqrt(max(robust_sd(r.strand_pa) ** 2 - noise_var, 1e-6)
                      / max(robust_sd(s.signal_pa) ** 2 - noise_var, 1e-6))
              for r, s in zip(reads, sims)]
    shift, scale = fitted["level_pa"]["shift"][0], fitted["level_pa"]["scale"][0]
    factor = float(np.median(ratios))
    moved = [np.median(r.strand_pa) - (shift + factor * (np.median(s.signal_pa) - shift))
             for r, s in zip(reads, sims)]
    level = fitted["level_pa"]
    level["calibration"] = {"scale_factor": factor, "shift_pa": float(np.median(moved))}
    level["scale"][0] = scale * factor
    level["shift"][0] = shift + float(np.median(moved))
    level["jitter_sd"] *= factor


def calibrate_noise(fitted: dict, chemistry: str, reads: list[LabelledRead], model: KmerModel,
                    spread: np.ndarray | None, rounds: int = 3) -> None:
    """Simulated moments: the estimator is biased (spikes inside the trimming, spikes missed
    by the threshold), so simulate the reads' own sequences, measure the simulation with the
    same estimator and move sd, ar1 and the spike rate until it measures what the real reads
    measured (stored as ``noise_pa.measured``)."""
    from basecaller.simulate.params import params_from_dict
    from basecaller.simulate.simulator import simulate_reads

    noise = fitted["noise_pa"]
    target = {key: noise[key] for key in ("sd", "ar1", "outlier_fraction")}
    noise["measured"] = dict(target)
    for _ in range(rounds):
        sims = simulate_reads([r.sequence for r in reads], chemistry=chemistry, n_reads=None,
                              per_read_variation=False, params=params_from_dict(fitted),
                              seed=1, lead_in=False, kmer_model=model)
        seen = noise_fit([LabelledRead(s.signal_pa, s.base_starts, s.sequence, "sim")
                          for s in sims], spread, model if spread is not None else None)
        noise["sd"] *= target["sd"] / seen["sd"]
        noise["ar1"] = float(np.clip(noise["ar1"] + target["ar1"] - seen["ar1"], 0.0, 0.95))
        if seen["outlier_fraction"] > 0:
            noise["outlier_fraction"] *= target["outlier_fraction"] / seen["outlier_fraction"]
        noise["outlier_sd"] = noise["outlier_sd_rel"] * noise["sd"]
