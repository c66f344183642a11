"""Parameters fitted to real reads (see benchmarks/simulator_vs_real.py --refit).

Only a handful of numbers computed by us are stored here, never ONT data.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

PARAMS_FILE = Path(__file__).with_name("fitted_params.json")


@dataclass(frozen=True)
class DwellDistribution:
    """Samples per base at ``sample_rate_hz``: ``shift + Gamma(shape, scale)``, rounded."""

    shift: float
    shape: float
    scale: float
    sample_rate_hz: float
    min_samples: int = 1

    def at_rate(self, sample_rate_hz: float) -> DwellDistribution:
        """The same translocation speed at another sample rate (dwell scales with the rate)."""
        factor = sample_rate_hz / self.sample_rate_hz
        return DwellDistribution(
            self.shift * factor, self.shape, self.scale * factor, sample_rate_hz, self.min_samples
        )

    @property
    def mean(self) -> float:
        return self.shift + self.shape * self.scale


@dataclass(frozen=True)
class ChemistryParams:
    """Everything fitted for one chemistry; pA = shift + scale * model level per read."""

    dwell: DwellDistribution
    level_shift_pa: tuple[float, float]  # (mean, sd) across reads
    level_scale: tuple[float, float]  # (mean, sd) across reads
    level_jitter_pa: float  # sd of a base's level around its k-mer level
    noise_sd_pa: float  # Gaussian core of the per-sample noise
    outlier_fraction: float  # samples with an extra spike (heavy tails of real noise)
    outlier_sd_pa: float
    digitisation: float
    range_pa: float
    adc_range: tuple[int, int]  # (min, max) DAC value the digitiser produces
    offset_dac: tuple[float, float]  # (mean, sd) across reads
    open_pore_pa: float

    @property
    def scale_pa_per_dac(self) -> float:
        return self.range_pa / self.digitisation


def load_params(chemistry: str, path: str | Path | None = None) -> ChemistryParams:
    with open(path or PARAMS_FILE) as handle:
        raw = json.load(handle)[chemistry]
    dwell = raw["dwell_samples"]
    return ChemistryParams(
        dwell=DwellDistribution(
            dwell["shift"], dwell["shape"], dwell["scale"], raw["sample_rate_hz"],
            dwell.get("min_samples", 1),
        ),
        level_shift_pa=tuple(raw["level_pa"]["shift"]),
        level_scale=tuple(raw["level_pa"]["scale"]),
        level_jitter_pa=raw["level_pa"]["jitter_sd"],
        noise_sd_pa=raw["noise_pa"]["sd"],
        outlier_fraction=raw["noise_pa"]["outlier_fraction"],
        outlier_sd_pa=raw["noise_pa"]["outlier_sd"],
        digitisation=raw["digitiser"]["digitisation"],
        range_pa=raw["digitiser"]["range_pa"],
        adc_range=tuple(raw["digitiser"]["adc_range"]),
        offset_dac=tuple(raw["digitiser"]["offset_dac"]),
        open_pore_pa=raw["digitiser"]["open_pore_pa"],
    )
