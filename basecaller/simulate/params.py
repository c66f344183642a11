"""Parameters fitted to real reads (see ``basecaller/simulate/fit.py`` and
``benchmarks/fit_simulator.py``).

Only numbers computed by us are stored here, never ONT data. Every field added after the first
fit is optional and defaults to the old behaviour (white noise, one gamma dwell, no lead-in),
so an older parameter file still loads and simulates exactly as before.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

PARAMS_FILE = Path(__file__).with_name("fitted_params.json")


@dataclass(frozen=True)
class DwellDistribution:
    """Samples per base at ``sample_rate_hz``: ``shift + X``, rounded, where X is
    ``Gamma(shape, scale)`` with probability ``1 - tail_fraction`` and a long-tailed
    ``Gamma(tail_shape, tail_scale)`` (pauses, stalls) otherwise. Per read, every dwell is
    multiplied by a speed factor ``exp(speed_sd * N(0, 1))`` (translocation speed varies
    across reads)."""

    shift: float
    shape: float
    scale: float
    sample_rate_hz: float
    min_samples: int = 1
    tail_fraction: float = 0.0
    tail_shape: float = 1.0
    tail_scale: float = 1.0
    speed_sd: float = 0.0

    def at_rate(self, sample_rate_hz: float) -> DwellDistribution:
        """The same translocation speed at another sample rate (dwell scales with the rate)."""
        factor = sample_rate_hz / self.sample_rate_hz
        return DwellDistribution(
            self.shift * factor, self.shape, self.scale * factor, sample_rate_hz, self.min_samples,
            self.tail_fraction, self.tail_shape, self.tail_scale * factor, self.speed_sd,
        )

    @property
    def mean(self) -> float:
        body, tail = self.shape * self.scale, self.tail_shape * self.tail_scale
        return self.shift + (1 - self.tail_fraction) * body + self.tail_fraction * tail


@dataclass(frozen=True)
class LeadIn:
    """The signal before the first base: open-pore current, then the adapter.

    Open pore: ``0`` samples with probability ``open_zero_fraction``, else ``1 +`` a geometric
    count of mean ``open_mean_samples - 1``, at ``open_pa`` (per read ``+ open_sd_pa * N``).
    Stall (with probability ``stall_fraction``): the motor holds the adapter still, one flat
    level at ``strand median + stall_offset_pa`` for a log-normal number of samples
    (``stall_log_mean``, ``stall_log_sd``), plus the strand's noise; with probability
    ``spike_fraction`` it ends in a current spike at ``strand median + spike_offset_pa`` of
    log-normal length (``spike_log_mean``, ``spike_log_sd``). Then the adapter: log-normal length (``adapter_log_mean``, ``adapter_log_sd`` of the samples),
    piecewise constant steps of exponential duration ``adapter_step_samples`` whose levels are
    ``strand median + adapter_offset_pa + adapter_level_sd_pa * N``, plus the strand's noise.
    """

    open_zero_fraction: float
    open_mean_samples: float
    open_pa: float
    open_sd_pa: float
    adapter_log_mean: float
    adapter_log_sd: float
    adapter_offset_pa: tuple[float, float]  # (mean, sd) across reads
    adapter_level_sd_pa: float
    adapter_step_samples: float
    stall_fraction: float = 0.0
    stall_log_mean: float = 0.0
    stall_log_sd: float = 0.0
    stall_offset_pa: tuple[float, float] = (0.0, 0.0)  # (mean, sd) across reads
    spike_fraction: float = 0.0  # of the reads with a stall
    spike_log_mean: float = 0.0
    spike_log_sd: float = 0.0
    spike_offset_pa: tuple[float, float] = (0.0, 0.0)


@dataclass(frozen=True)
class ChemistryParams:
    """Everything fitted for one chemistry; pA = shift + scale * model level per read."""

    dwell: DwellDistribution
    level_shift_pa: tuple[float, float]  # (mean, sd) across reads
    level_scale: tuple[float, float]  # (mean, sd) across reads
    level_jitter_pa: float  # sd of a base's level around its k-mer level
    noise_sd_pa: float  # Gaussian core of the per-sample noise (marginal sd)
    outlier_fraction: float  # samples with an extra spike (heavy tails of real noise)
    outlier_sd_pa: float
    digitisation: float
    range_pa: float
    adc_range: tuple[int, int]  # (min, max) DAC value the digitiser produces
    offset_dac: tuple[float, float]  # (mean, sd) across reads
    open_pore_pa: float
    noise_ar1: float = 0.0  # lag-1 autocorrelation of the Gaussian core (AR(1))
    drift_pa_per_s: tuple[float, float] = (0.0, 0.0)  # per-read linear drift (mean, sd)
    lead_in: LeadIn | None = None
    #: fitted per-k-mer corrections (model units) and relative noise spreads, or None
    kmer_level_offset: np.ndarray | None = field(default=None, compare=False, repr=False)
    kmer_noise_rel: np.ndarray | None = field(default=None, compare=False, repr=False)
    kmer_model_file: str = ""  # the k-mer model file the tables were fitted against

    @property
    def scale_pa_per_dac(self) -> float:
        return self.range_pa / self.digitisation


def encode_table(values: np.ndarray) -> str:
    """A float table as base64 of little-endian float16 (compact enough for the JSON)."""
    return base64.b64encode(np.asarray(values, "<f2").tobytes()).decode()


def decode_table(text: str) -> np.ndarray:
    table = np.frombuffer(base64.b64decode(text), "<f2").astype(np.float32)
    table.setflags(write=False)
    return table


def load_params(chemistry: str, path: str | Path | None = None) -> ChemistryParams:
    with open(path or PARAMS_FILE) as handle:
        raw = json.load(handle)[chemistry]
    return params_from_dict(raw)


def params_from_dict(raw: dict) -> ChemistryParams:
    dwell = raw["dwell_samples"]
    tail = dwell.get("tail", {})
    noise = raw["noise_pa"]
    lead = raw.get("lead_in")
    tables = raw.get("kmer_tables", {})
    return ChemistryParams(
        dwell=DwellDistribution(
            dwell["shift"], dwell["shape"], dwell["scale"], raw["sample_rate_hz"],
            dwell.get("min_samples", 1), tail.get("fraction", 0.0), tail.get("shape", 1.0),
            tail.get("scale", 1.0), dwell.get("speed_sd", 0.0),
        ),
        level_shift_pa=tuple(raw["level_pa"]["shift"]),
        level_scale=tuple(raw["level_pa"]["scale"]),
        level_jitter_pa=raw["level_pa"]["jitter_sd"],
        noise_sd_pa=noise["sd"],
        outlier_fraction=noise["outlier_fraction"],
        outlier_sd_pa=noise["outlier_sd"],
        digitisation=raw["digitiser"]["digitisation"],
        range_pa=raw["digitiser"]["range_pa"],
        adc_range=tuple(raw["digitiser"]["adc_range"]),
        offset_dac=tuple(raw["digitiser"]["offset_dac"]),
        open_pore_pa=raw["digitiser"]["open_pore_pa"],
        noise_ar1=noise.get("ar1", 0.0),
        drift_pa_per_s=tuple(raw.get("drift_pa_per_s", (0.0, 0.0))),
        lead_in=None if lead is None else LeadIn(
            lead["open_zero_fraction"], lead["open_mean_samples"], lead["open_pa"],
            lead["open_sd_pa"], lead["adapter_log_mean"], lead["adapter_log_sd"],
            tuple(lead["adapter_offset_pa"]), lead["adapter_level_sd_pa"],
            lead["adapter_step_samples"], lead.get("stall_fraction", 0.0),
            lead.get("stall_log_mean", 0.0), lead.get("stall_log_sd", 0.0),
            tuple(lead.get("stall_offset_pa", (0.0, 0.0))), lead.get("spike_fraction", 0.0),
            lead.get("spike_log_mean", 0.0), lead.get("spike_log_sd", 0.0),
            tuple(lead.get("spike_offset_pa", (0.0, 0.0))),
        ),
        kmer_level_offset=_level_offset(tables),
        kmer_noise_rel=decode_table(tables["noise_rel"]) if "noise_rel" in tables else None,
        kmer_model_file=tables.get("model_file", ""),
    )


def _level_offset(tables: dict) -> np.ndarray | None:
    """The per-k-mer level correction: a table per k-mer, or one per sub-k-mer context
    (``level_offset_context``: k, positions [lo, hi), table) spread over every k-mer."""
    if "level_offset" in tables:
        return decode_table(tables["level_offset"])
    if "level_offset_context" not in tables:
        return None
    entry = tables["level_offset_context"]
    (lo, hi), k = entry["positions"], entry["k"]
    context = (np.arange(4 ** k) // 4 ** (k - hi)) % 4 ** (hi - lo)
    full = decode_table(entry["table"])[context]
    full.setflags(write=False)
    return full


def for_model(params: ChemistryParams, model_file: str) -> ChemistryParams:
    """``params`` without the per-k-mer tables unless they were fitted for ``model_file``
    (a file name): another k-mer table has its own levels and spreads."""
    if params.kmer_model_file and Path(model_file).name == params.kmer_model_file:
        return params
    return replace(params, kmer_level_offset=None, kmer_noise_rel=None)
