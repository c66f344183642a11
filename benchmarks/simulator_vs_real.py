"""Compare simulated with real signal per chemistry, and refit the simulator's parameters.

    python benchmarks/simulator_vs_real.py            # numbers (Markdown) + figures
    python benchmarks/simulator_vs_real.py --refit    # rewrite basecaller/simulate/fitted_params.json

Real data (read at run time from ../shared/data, never copied):
R9.4.1: Tombo-resquiggled lambda reads (per-base segmentation from the Events table).
R10.4.1: remora canonical reads, segmented by their basecaller move tables (stride 5).
Needs scipy (fitting only).
"""

from __future__ import annotations

import argparse
import glob
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from basecaller.simulate import (  # noqa: E402
    load_kmer_model,
    reverse_complement,
    simulate_reads,
)
from basecaller.simulate.kmer_model import encode, kmer_indices  # noqa: E402
from basecaller.simulate.params import PARAMS_FILE  # noqa: E402

DATA = REPO.parent / "shared" / "data"
FIGURES = REPO / "benchmarks" / "figures"
STRIDE = 5
TOMBO_MIN_DWELL = 3


@dataclass
class RealRead:
    signal_pa: np.ndarray  # the labelled stretch only
    base_starts: np.ndarray  # relative to signal_pa, len(sequence) + 1
    sequence: str  # read order
    offset_dac: float
    scale_pa_per_dac: float
    median_before: float


# --- real data --------------------------------------------------------------------------

def load_r941() -> list[RealRead]:
    import h5py

    reads = []
    for path in sorted(glob.glob(str(DATA / "r941_lambda_tombo" / "fast5" / "*.fast5"))):
        with h5py.File(path, "r") as f5:
            channel = dict(f5["UniqueGlobalKey/channel_id"].attrs)
            raw = next(iter(f5["Raw/Reads"].values()))
            median_before = float(raw.attrs["median_before"])
            scale = channel["range"] / channel["digitisation"]
            signal_pa = (raw["Signal"][:] + channel["offset"]) * scale
            events = f5["Analyses/RawGenomeCorrected_000/BaseCalled_template/Events"]
            table, origin = events[:], int(events.attrs["read_start_rel_to_raw"])
        starts = np.append(table["start"], table["start"][-1] + table["length"][-1]).astype(np.int64)
        first = origin + starts[0]
        reads.append(RealRead(
            signal_pa[first : origin + starts[-1]].astype(np.float32), starts - starts[0],
            b"".join(table["base"]).decode(), float(channel["offset"]), float(scale),
            median_before,
        ))
    return reads


def load_r1041() -> list[RealRead]:
    import pod5
    import pysam

    folder = DATA / "r1041_remora_4khz"
    with pod5.Reader(folder / "can_reads.pod5") as reader:
        records = {str(r.read_id): (r.signal_pa, r.calibration, r.median_before)
                   for r in reader.reads()}
    reads = []
    with pysam.AlignmentFile(str(folder / "can_mappings.bam"), check_sq=False) as bam:
        for aln in bam:
            if aln.is_secondary or aln.is_supplementary or aln.query_name not in records:
                continue
            signal_pa, calibration, median_before = records[aln.query_name]
            moves = np.asarray(aln.get_tag("mv"))
            stride, trim = int(moves[0]), int(aln.get_tag("ts"))
            starts = np.append(np.flatnonzero(moves[1:]) * stride, (moves.size - 1) * stride)
            sequence = aln.query_sequence
            if aln.is_reverse:
                sequence = reverse_complement(sequence)
            reads.append(RealRead(
                signal_pa[trim : trim + starts[-1]].astype(np.float32), starts.astype(np.int64),
                sequence, calibration.offset, calibration.scale, median_before,
            ))
    return reads


# --- statistics -------------------------------------------------------------------------

def robust_sd(values: np.ndarray) -> float:
    return float(1.4826 * np.median(np.abs(values - np.median(values))))


def within_base_diffs(signal: np.ndarray, base_starts: np.ndarray) -> np.ndarray:
    """Sample-to-sample differences that do not cross a base boundary."""
    base = np.repeat(np.arange(base_starts.size - 1), np.diff(base_starts))
    same = base[1:] == base[:-1]
    return np.diff(signal[: base.size])[same]


def noise_stats(reads) -> dict[str, float]:
    """Gaussian core sd (robust), total sd, and a spike model fitted to the tails."""
    diffs = np.concatenate([within_base_diffs(r.signal_pa, r.base_starts) for r in reads])
    core = robust_sd(diffs) / np.sqrt(2)
    total_var = float(np.var(diffs)) / 2
    tail = float(np.mean(np.abs(diffs) > 4 * np.sqrt(2) * core)) / 2  # a spike hits 2 diffs
    spike_sd = np.sqrt(max(total_var - core**2, 0.0) / tail) if tail > 0 else 0.0
    return {"core_sd": core, "total_sd": np.sqrt(total_var), "outlier_fraction": tail,
            "outlier_sd": float(spike_sd)}


def model_levels(sequence: str, model) -> np.ndarray:
    """Per-base model level, NaN where the k-mer runs off the read."""
    k, centre = model.k, model.chemistry.centre
    levels = np.full(len(sequence), np.nan)
    clean = sequence.upper()
    if set(clean) - set("ACGT"):
        return levels
    index = kmer_indices(encode(clean), k)
    levels[centre : centre + index.size] = model.levels[index]
    return levels


def per_base_means(read) -> np.ndarray:
    dwell = np.diff(read.base_starts)
    base = np.repeat(np.arange(dwell.size), dwell)
    return np.bincount(base, read.signal_pa[: base.size], minlength=dwell.size) / np.maximum(dwell, 1)


def level_fit(read, model, noise_var: float, jitter_rel: float) -> tuple[float, float]:
    """Per-read (shift, scale) with pA = shift + scale * level, from median and MAD only."""
    levels = model_levels(read.sequence, model)
    dwell = np.diff(read.base_starts)
    ok = np.isfinite(levels)
    weighted = np.repeat(levels[ok], dwell[ok])
    spread = max(robust_sd(read.signal_pa) ** 2 - noise_var, 1e-6) / (1 + jitter_rel**2)
    scale = np.sqrt(spread) / robust_sd(weighted)
    return float(np.median(read.signal_pa) - scale * np.median(weighted)), float(scale)


def level_regression(reads, model) -> dict[str, float]:
    """Per-base mean vs model level: correlation and residual sd (bases with dwell >= 3)."""
    rs, slopes, resid_var, inv_dwell = [], [], [], []
    for read in reads:
        levels, means = model_levels(read.sequence, model), per_base_means(read)
        dwell = np.diff(read.base_starts)
        ok = np.isfinite(levels) & (dwell >= 3)
        if ok.sum() < 50:
            continue
        slope, intercept = np.polyfit(levels[ok], means[ok], 1)
        rs.append(np.corrcoef(levels[ok], means[ok])[0, 1])
        slopes.append(slope)
        resid_var.append(np.var(means[ok] - intercept - slope * levels[ok]))
        inv_dwell.append(np.mean(1 / dwell[ok]))
    return {"r": float(np.median(rs)), "slope": float(np.median(slopes)),
            "resid_var": float(np.median(resid_var)), "inv_dwell": float(np.median(inv_dwell))}


# --- dwell fits -------------------------------------------------------------------------

def fit_dwell(dwell: np.ndarray, quantum: int, floor: int, max_shift: float) -> dict[str, float]:
    """Shifted gamma by maximum likelihood on quantised, floored observations.

    An observed ``q * j`` collects true dwells d with weight max(0, 1 - |d - q j| / q) (base
    boundaries rounded to the quantum: a move table's stride, or one sample); everything
    below the floor is counted at the floor (Tombo's minimum of 3 samples, a move table's
    minimum of one stride). Probabilities come from CDF differences on a 0.05-sample grid,
    so a gamma shape below 1 is handled. The shift (a dead time) is bounded by
    ``max_shift``: a stride-5 table cannot resolve it, and left free it runs to the floor.
    """
    from scipy.optimize import minimize
    from scipy.stats import gamma

    values, counts = np.unique(dwell[dwell >= floor], return_counts=True)
    edges = np.arange(0, values.max() + 2 * quantum, 0.05)
    centres = (edges[1:] + edges[:-1]) / 2
    weights = np.maximum(0, 1 - np.abs(centres[None, :] - values[:, None]) / quantum)
    weights[0, centres < values[0]] = 1.0  # censored at the floor

    def nll(theta):
        cells = np.diff(gamma.cdf(edges - theta[0], np.exp(theta[1]), scale=np.exp(theta[2])))
        return -float(np.sum(counts * np.log(np.maximum(weights @ cells, 1e-300))))

    bounds = [(0.0, max_shift), (-3.0, 5.0), (-3.0, 7.0)]
    fits = [minimize(nll, [shift, np.log(2), np.log(dwell.mean() / 2)], method="L-BFGS-B",
                     bounds=bounds) for shift in np.linspace(0, max_shift, 3)]
    best = min(fits, key=lambda fit: fit.fun)
    return {"shift": float(best.x[0]), "shape": float(np.exp(best.x[1])),
            "scale": float(np.exp(best.x[2])), "neg_log_likelihood": float(best.fun)}


def quantise_like_moves(base_starts: np.ndarray) -> np.ndarray:
    """Dwell as a stride-5 move table would report it: boundaries rounded to the stride."""
    snapped = np.round(base_starts / STRIDE).astype(np.int64) * STRIDE
    return np.maximum(np.diff(snapped), STRIDE)


# --- refit ------------------------------------------------------------------------------

def fit_chemistry(name, reads, model, quantum, floor, max_shift, adc_range,
                  jitter_rel=None, spikes=None):
    dwell = np.concatenate([np.diff(r.base_starts)[1:-1] for r in reads])
    noise = noise_stats(reads)
    if spikes is not None:  # borrowed, relative to the Gaussian core
        noise["outlier_fraction"] = spikes["outlier_fraction"]
        noise["outlier_sd"] = spikes["outlier_sd_rel"] * noise["core_sd"]
        noise["total_sd"] = np.sqrt(noise["core_sd"] ** 2 * (1 + spikes["outlier_fraction"]
                                                              * spikes["outlier_sd_rel"] ** 2))
    noise_var = noise["total_sd"] ** 2
    regression = level_regression(reads, model)
    if jitter_rel is None:  # from a good (Tombo) segmentation: resid = jitter + noise / dwell
        jitter_var = max(regression["resid_var"] - noise_var * regression["inv_dwell"], 0)
        jitter_rel = np.sqrt(jitter_var) / (regression["slope"] * np.nanstd(model.levels))
    fits = np.array([level_fit(r, model, noise_var, jitter_rel) for r in reads])
    scale_mean = float(fits[:, 1].mean())
    offsets = np.array([r.offset_dac for r in reads])
    scale_pa_per_dac = float(np.median([r.scale_pa_per_dac for r in reads]))
    digitisation = 8192.0 if name == "r9.4.1" else 2048.0
    return {
        "sample_rate_hz": 4000,
        "dwell_samples": {**fit_dwell(dwell, quantum, floor, max_shift), "min_samples": 1},
        "level_pa": {
            "shift": [float(fits[:, 0].mean()), float(fits[:, 0].std())],
            "scale": [scale_mean, float(fits[:, 1].std())],
            "jitter_sd": float(jitter_rel * scale_mean * np.std(model.levels)),
            "jitter_rel": float(jitter_rel),
        },
        "noise_pa": {"sd": noise["core_sd"], "outlier_fraction": noise["outlier_fraction"],
                     "outlier_sd": noise["outlier_sd"],
                     "outlier_sd_rel": noise["outlier_sd"] / noise["core_sd"]},
        "digitiser": {
            "digitisation": digitisation, "range_pa": scale_pa_per_dac * digitisation,
            "adc_range": adc_range, "offset_dac": [float(offsets.mean()), float(offsets.std())],
            "open_pore_pa": float(np.median([r.median_before for r in reads])),
        },
        "fitted_from": {"reads": len(reads), "bases": int(dwell.size)},
    }


def refit() -> dict:
    r9_reads, r10_reads = load_r941(), load_r1041()
    r9 = fit_chemistry("r9.4.1", r9_reads, load_kmer_model("r9.4.1"), 1, TOMBO_MIN_DWELL,
                       TOMBO_MIN_DWELL - 0.01, [-4096, 4095])
    # Move tables are too coarse to separate level jitter and noise spikes from
    # segmentation error: reuse R9.4.1's, relative to the level spread and noise core.
    r10 = fit_chemistry("r10.4.1", r10_reads, load_kmer_model("r10.4.1"), STRIDE, STRIDE,
                        2.0, [0, 2047], jitter_rel=r9["level_pa"]["jitter_rel"],
                        spikes=r9["noise_pa"])
    r9["source"] = "r941_lambda_tombo: Tombo Events (dwell, levels), raw fast5 (noise)"
    r10["source"] = "r1041_remora_4khz can_*: move tables (dwell, stride 5), pod5 signal_pa"
    params = {"r9.4.1": r9, "r10.4.1": r10}
    PARAMS_FILE.write_text(json.dumps(params, indent=2) + "\n")
    for chemistry, reads in (("r9.4.1", r9_reads), ("r10.4.1", r10_reads)):
        calibrate_levels(params[chemistry], chemistry, reads)
    PARAMS_FILE.write_text(json.dumps(params, indent=2) + "\n")
    return params


def calibrate_levels(fitted: dict, chemistry: str, reads: list[RealRead]) -> None:
    """One correction of the level shift and scale by simulation.

    The median/MAD fit assumes spreads add like Gaussian variances; the level distribution
    is not Gaussian, so simulate the real reads' own sequences with the fitted values and
    move the simulated median and MAD onto the real ones.
    """
    from basecaller.simulate.params import load_params

    params = load_params(chemistry)
    sims = list(simulate_reads([r.sequence for r in reads], chemistry=chemistry, n_reads=None,
                               per_read_variation=False, params=params, seed=0))
    noise_var = fitted["noise_pa"]["sd"] ** 2
    shift, scale = fitted["level_pa"]["shift"][0], fitted["level_pa"]["scale"][0]
    spread = [np.sqrt(max(robust_sd(r.signal_pa) ** 2 - noise_var, 1e-6)
                      / max(robust_sd(s.signal_pa) ** 2 - noise_var, 1e-6))
              for r, s in zip(reads, sims)]
    factor = float(np.median(spread))
    moved = [np.median(r.signal_pa) - (shift + factor * (np.median(s.signal_pa) - shift))
             for r, s in zip(reads, sims)]
    level = fitted["level_pa"]
    level["calibration"] = {"scale_factor": factor, "shift_pa": float(np.median(moved))}
    level["scale"][0] = scale * factor
    level["shift"][0] = shift + float(np.median(moved))
    level["jitter_sd"] *= factor


# --- comparison -------------------------------------------------------------------------

def ks_distance(a: np.ndarray, b: np.ndarray) -> float:
    grid = np.union1d(a, b)
    cdf_a = np.searchsorted(np.sort(a), grid, side="right") / a.size
    cdf_b = np.searchsorted(np.sort(b), grid, side="right") / b.size
    return float(np.max(np.abs(cdf_a - cdf_b)))


def simulate_like(reads, chemistry, seed):
    """The real reads' own sequences, simulated whole (same bases, same lengths)."""
    sequences = [r.sequence for r in reads]
    return list(simulate_reads(sequences, chemistry=chemistry, n_reads=None, seed=seed))


def compare(chemistry, reads, sims, model) -> dict:
    real_dwell = np.concatenate([np.diff(r.base_starts)[1:-1] for r in reads])
    sim_dwell = np.concatenate([np.diff(s.base_starts)[1:-1] for s in sims])
    if chemistry == "r9.4.1":
        sim_seen = np.maximum(sim_dwell, TOMBO_MIN_DWELL)  # Tombo never reports less
    else:
        sim_seen = np.concatenate([quantise_like_moves(s.base_starts)[1:-1] for s in sims])
    real_pa = np.concatenate([r.signal_pa for r in reads])
    sim_pa = np.concatenate([s.signal_pa for s in sims])
    real_noise, sim_noise = noise_stats(reads), noise_stats(_as_real(sims))
    real_reg, sim_reg = level_regression(reads, model), level_regression(_as_real(sims), model)
    return {
        "dwell_mean": (float(real_dwell.mean()), float(sim_dwell.mean())),
        "dwell_median": (float(np.median(real_dwell)), float(np.median(sim_dwell))),
        "ks_dwell_raw": ks_distance(real_dwell, sim_dwell),
        "ks_dwell_as_observed": ks_distance(real_dwell, sim_seen),
        "level_median": (_per_read(np.median, reads), _per_read(np.median, sims)),
        "level_robust_sd": (_per_read(robust_sd, reads), _per_read(robust_sd, sims)),
        "ks_level": ks_distance(real_pa[::7], sim_pa[::7]),
        "noise_core_sd": (real_noise["core_sd"], sim_noise["core_sd"]),
        "noise_total_sd": (real_noise["total_sd"], sim_noise["total_sd"]),
        "level_model_r": (real_reg["r"], sim_reg["r"]),
        "bases": int(real_dwell.size), "samples": (int(real_pa.size), int(sim_pa.size)),
        "_dwell": (real_dwell, sim_seen), "_pa": (real_pa, sim_pa),
    }


def _per_read(statistic, reads) -> float:
    """The median over reads of a per-read statistic of the signal in pA."""
    return float(np.median([statistic(read.signal_pa) for read in reads]))


def _as_real(sims):
    return [RealRead(s.signal_pa, s.base_starts, s.sequence, s.offset_dac, s.scale_pa_per_dac, 0)
            for s in sims]


def plot(chemistry, stats, real, sim, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(10, 6.4))
    real_dwell, sim_dwell = stats["_dwell"]
    top = int(np.percentile(real_dwell, 99)) + 2
    width = STRIDE if chemistry == "r10.4.1" else 1
    bins = np.arange(0, top, width) + width / 2
    axes[0, 0].hist([real_dwell, sim_dwell], bins=bins, density=True, label=["real", "simulated"],
                    histtype="step")
    axes[0, 0].set(title=f"dwell per base (KS {stats['ks_dwell_as_observed']:.3f})",
                   xlabel="samples")
    real_pa, sim_pa = stats["_pa"]
    lo, hi = np.percentile(real_pa, [0.2, 99.8])
    axes[0, 1].hist([real_pa, sim_pa], bins=np.linspace(lo, hi, 80), density=True,
                    histtype="step", label=["real", "simulated"])
    axes[0, 1].set(title=f"current level histogram (KS {stats['ks_level']:.3f})", xlabel="pA")
    diffs = [within_base_diffs(r.signal_pa, r.base_starts) / np.sqrt(2) for r in (real, sim)]
    axes[1, 0].hist(diffs, bins=np.linspace(-12, 12, 97), density=True, histtype="step",
                    label=["real", "simulated"])
    axes[1, 0].set(title="noise: within-base sample differences / sqrt 2", xlabel="pA",
                   yscale="log")
    _trace(axes[1, 1], real, sim)
    for ax in axes.flat:
        ax.legend(fontsize=8)
    fig.suptitle(f"{chemistry}: simulated vs real signal")
    fig.tight_layout()
    fig.savefig(path, dpi=72)
    plt.close(fig)


def _trace(ax, real, sim, first_base=200, n_bases=30):
    """The same bases of the same sequence; time warped so that each base spans one unit."""
    for read, label, colour in ((real, "real", "C0"), (sim, "simulated", "C1")):
        starts = read.base_starts[first_base : first_base + n_bases + 1]
        dwell = np.diff(starts)
        base = np.repeat(np.arange(n_bases), dwell)
        within = np.arange(starts[0], starts[-1]) - np.repeat(starts[:-1], dwell)
        x = first_base + base + (within + 0.5) / np.repeat(dwell, dwell)
        ax.plot(x, read.signal_pa[starts[0] : starts[-1]], lw=0.8, color=colour, label=label)
    sequence = real.sequence[first_base : first_base + n_bases]
    ax.set_xticks(first_base + np.arange(n_bases) + 0.5, list(sequence), fontsize=6)
    ax.set(title="same bases, each base's samples spread over one unit", xlabel="base",
           ylabel="pA")


def markdown(all_stats) -> str:
    rows = [
        ("mean dwell (samples/base)", "dwell_mean", ".2f"),
        ("median dwell", "dwell_median", ".1f"),
        ("per-read median level (pA), median over reads", "level_median", ".1f"),
        ("per-read level spread, 1.4826·MAD (pA)", "level_robust_sd", ".2f"),
        ("noise, Gaussian core sd (pA)", "noise_core_sd", ".2f"),
        ("noise, total sd incl. spikes (pA)", "noise_total_sd", ".2f"),
        ("r(per-base mean, k-mer level)", "level_model_r", ".3f"),
    ]
    head = "| | " + " | ".join(f"{c} real | {c} sim" for c in all_stats) + " |"
    lines = [head, "|---" * (1 + 2 * len(all_stats)) + "|"]
    for label, key, fmt in rows:
        cells = [f"{v:{fmt}}" for c in all_stats for v in all_stats[c][key]]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    for label, key in (("KS dwell, as the truth reports it", "ks_dwell_as_observed"),
                       ("KS dwell, raw simulated", "ks_dwell_raw"),
                       ("KS level histogram (pooled pA)", "ks_level")):
        cells = []
        for chemistry in all_stats:
            values = all_stats[chemistry]["seeds"][key]
            cells.append(f"{np.mean(values):.3f} ({min(values):.3f}–{max(values):.3f}) | ")
        lines.append(f"| {label}, mean (range) over seeds | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--refit", action="store_true", help="refit and rewrite the JSON")
    parser.add_argument("--seed", type=int, default=1, help="seed of the figures")
    parser.add_argument("--seeds", type=int, default=5, help="seeds for the KS distances")
    args = parser.parse_args(argv)
    if not DATA.is_dir():
        print(f"needs {DATA}", file=sys.stderr)
        return 1
    if args.refit:
        print(json.dumps(refit(), indent=2))
        return 0
    all_stats = {}
    for chemistry, loader in (("r9.4.1", load_r941), ("r10.4.1", load_r1041)):
        reads, model = loader(), load_kmer_model(chemistry)
        sims = simulate_like(reads, chemistry, args.seed)
        stats = compare(chemistry, reads, sims, model)
        others = [compare(chemistry, reads, simulate_like(reads, chemistry, seed), model)
                  for seed in range(args.seed + 1, args.seed + args.seeds)]
        stats["seeds"] = {key: [s[key] for s in [stats, *others]]
                          for key in ("ks_dwell_as_observed", "ks_dwell_raw", "ks_level")}
        longest = int(np.argmax([len(r.sequence) for r in reads]))
        name = chemistry.replace(".", "")
        plot(chemistry, stats, reads[longest], _as_real([sims[longest]])[0],
             FIGURES / f"simulator_{name}.png")
        all_stats[chemistry] = stats
    print(markdown(all_stats))
    clean = {c: {k: v for k, v in s.items() if not k.startswith("_")} for c, s in all_stats.items()}
    print(json.dumps(clean, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
