"""Simulated vs real signal per chemistry, BEFORE and AFTER the fit of issue 15.

    python benchmarks/simulator_vs_real.py    # a Markdown table + benchmarks/figures/simulator_*.png

BEFORE: the previous parameter file (benchmarks/simulator_params_before.json: one gamma
dwell, white noise, no lead-in, no per-k-mer tables). AFTER: basecaller/simulate/
fitted_params.json as written by benchmarks/fit_simulator.py. Real data (read at run time
from ../shared/data, never copied) is what the fit used: the R9.4.1/R9.4 labelled reads and
the R10.4.1 remora reads, minus the held-out intervals. Each real read's own sequence is
simulated (same bases), with per-read variation and the lead-in, so that spreads across reads
and the stretch before the first base can be compared.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from basecaller.simulate import load_kmer_model, load_params, simulate_reads  # noqa: E402
from basecaller.simulate.fit import (  # noqa: E402
    LabelledRead,
    base_means,
    default_data_dir,
    lag1_autocorrelation,
    load_labelled,
    robust_sd,
    stall_length,
    within_base_lag,
)

FIGURES = REPO / "benchmarks" / "figures"
BEFORE = REPO / "benchmarks" / "simulator_params_before.json"
STRIDE = 5


def simulate_like(reads, chemistry, params, seed):
    sims = simulate_reads([r.sequence for r in reads], chemistry=chemistry, n_reads=None,
                          params=params, seed=seed)
    return [LabelledRead(s.signal_pa, s.base_starts, s.sequence, "sim") for s in sims]


def observed_dwell(read, chemistry, simulated):
    dwell = read.dwell[1:-1]
    if not simulated:
        return dwell
    if chemistry == "r10.4.1":  # what a stride-5 move table would report
        snapped = np.round(read.base_starts / STRIDE).astype(np.int64) * STRIDE
        return np.maximum(np.diff(snapped), STRIDE)[1:-1]
    return np.maximum(dwell, 3)  # Tombo never reports less than 3


def observed_means(read, chemistry, simulated):
    """Per-base mean pA, for simulated R10.4.1 over the boundaries a stride-5 move table would
    report (the real reads' means are blurred the same way)."""
    if not (simulated and chemistry == "r10.4.1"):
        return base_means(read)
    snapped = np.round(read.base_starts / STRIDE).astype(np.int64) * STRIDE
    snapped = np.maximum.accumulate(snapped)
    keep = np.flatnonzero(np.diff(snapped) > 0)  # bases a move table can place
    cuts = np.add.reduceat(read.signal_pa.astype(np.float64), snapped[keep])
    return cuts[:-1] / np.diff(snapped[keep]) if keep.size > 1 else np.zeros(0)


def variogram(reads, lags=(1, 2, 3, 4, 6, 8)):
    """Within-base semivariance at each lag, normalised by lag 1 (1 + rho for AR(1))."""
    values = []
    for lag in lags:
        diffs = np.concatenate([within_base_lag(r, lag)[0] for r in reads])
        core = diffs[np.abs(diffs) < 4 * robust_sd(diffs)]
        values.append(np.mean(core**2) / 2)
    return np.array(lags), np.array(values) / values[0]


def stats(reads, chemistry, simulated):
    dwell = np.concatenate([observed_dwell(r, chemistry, simulated) for r in reads])
    lead = np.array([r.base_starts[0] for r in reads])
    first = np.array([r.signal_pa[: max(r.base_starts[0], 1)].max() for r in reads])
    d1 = np.concatenate([within_base_lag(r, 1)[0] for r in reads])
    means = np.concatenate([observed_means(r, chemistry, simulated) for r in reads])
    return {
        "dwell_mean": float(dwell.mean()), "dwell_q99": float(np.quantile(dwell, 0.99)),
        "dwell_q999": float(np.quantile(dwell, 0.999)),
        "level_median": float(np.median([np.median(r.strand_pa) for r in reads])),
        "level_read_sd": float(np.std([np.median(r.strand_pa) for r in reads])),
        "level_spread": float(np.median([robust_sd(r.strand_pa) for r in reads])),
        "noise_diff_sd": robust_sd(d1) / np.sqrt(2),
        "lag1_resid": lag1_autocorrelation(reads),
        "variogram_2": float(variogram(reads, (1, 2))[1][1]),
        "spike_rate": float(np.mean(np.abs(d1) > 4 * robust_sd(d1))),
        "lead_median": float(np.median(lead)), "lead_log_sd": float(np.std(np.log1p(lead))),
        "lead_max_pa": float(np.median(first)),
        **stall_stats(reads),
        "_dwell": dwell, "_means": means, "_lead": lead, "_variogram": variogram(reads),
    }


def stall_stats(reads) -> dict:
    """How often the prefix caller's detector finds an adapter stall, its median length, and
    the median height (pA above the strand's median) of the peak just after it."""
    lengths, heights = [], []
    for read in reads:
        cut = stall_length(read)
        if cut:
            lengths.append(cut)
            after = read.signal_pa[max(cut - 40, 0) : cut + 200]
            heights.append(float(after.max() - np.median(read.strand_pa)))
    return {"stall_fraction": len(lengths) / len(reads),
            "stall_median": float(np.median(lengths)) if lengths else 0.0,
            "stall_spike_pa": float(np.median(heights)) if heights else 0.0}


ROWS = [("mean dwell (samples/base, as the truth source reports it)", "dwell_mean", ".2f"),
        ("dwell 99th percentile", "dwell_q99", ".0f"),
        ("dwell 99.9th percentile", "dwell_q999", ".0f"),
        ("per-read median level (pA), median over reads", "level_median", ".1f"),
        ("sd across reads of the per-read median level (pA)", "level_read_sd", ".2f"),
        ("per-read level spread, 1.4826·MAD (pA)", "level_spread", ".2f"),
        ("noise: robust sd of within-base differences / √2 (pA)", "noise_diff_sd", ".2f"),
        ("noise: lag-1 autocorrelation of within-base residuals", "lag1_resid", ".3f"),
        ("noise: semivariance lag 2 / lag 1 (1 + ρ for AR(1))", "variogram_2", ".3f"),
        ("noise: fraction of within-base differences beyond 4 robust sd", "spike_rate", ".4f"),
        ("samples before the first base, median", "lead_median", ".0f"),
        ("sd of log(samples before the first base)", "lead_log_sd", ".2f"),
        ("highest current before the first base (pA), median", "lead_max_pa", ".0f"),
        ("reads with an adapter stall (adapter_stall_trim)", "stall_fraction", ".2f"),
        ("adapter stall, median samples", "stall_median", ".0f"),
        ("peak just after the stall, pA above the strand median", "stall_spike_pa", ".1f")]


def markdown(chemistry, real, before, after, n_reads) -> str:
    lines = [f"{chemistry} ({n_reads} real reads)", "",
             "| statistic | real | before | after |", "|---|---|---|---|"]
    for label, key, fmt in ROWS:
        lines.append(f"| {label} | {real[key]:{fmt}} | {before[key]:{fmt}} | {after[key]:{fmt}} |")
    for label, key in (("KS distance of dwell to real", "_dwell"),
                       ("KS distance of per-base mean level to real", "_means")):
        lines.append(f"| {label} | | {ks(real[key], before[key]):.3f} | "
                     f"{ks(real[key], after[key]):.3f} |")
    return "\n".join(lines)


def ks(a, b) -> float:
    grid = np.union1d(a, b)
    cdf_a = np.searchsorted(np.sort(a), grid, side="right") / a.size
    cdf_b = np.searchsorted(np.sort(b), grid, side="right") / b.size
    return float(np.max(np.abs(cdf_a - cdf_b)))


def plot(chemistry, real, before, after, traces, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(15, 7.5))
    runs = (("real", real, "k"), ("before", before, "C3"), ("after", after, "C0"))
    width = STRIDE if chemistry == "r10.4.1" else 1
    bins = np.arange(0, 200, width) + width / 2
    for label, s, colour in runs:
        axes[0, 0].hist(s["_dwell"], bins=bins, density=True, histtype="step", color=colour,
                        label=label)
        lo, hi = np.percentile(real["_means"], [0.5, 99.5])
        axes[0, 1].hist(s["_means"], bins=np.linspace(lo, hi, 80), density=True,
                        histtype="step", color=colour, label=label)
        lags, gamma = s["_variogram"]
        axes[0, 2].plot(lags, gamma, "o-", color=colour, label=label)
        axes[1, 0].hist(s["_lead"], bins=np.geomspace(10, 2e4, 40), histtype="step",
                        color=colour, label=label, density=True)
    axes[0, 0].set(title="dwell per base (as reported)", xlabel="samples", yscale="log")
    axes[0, 1].set(title="per-base mean current", xlabel="pA")
    axes[0, 2].set(title="within-base semivariance / lag 1 (white: flat)", xlabel="lag")
    axes[1, 0].set(title="samples before the first base", xscale="log")
    for ax, (label, read), colour in zip(axes[1, 1:], traces, ("k", "C0")):
        end = read.base_starts[0] + 600
        ax.plot(read.signal_pa[:end], lw=0.5, color=colour)
        ax.axvline(read.base_starts[0], color="0.5", ls="--")
        ax.set(title=f"{label}: start of a read (dashed: first base)", xlabel="sample",
               ylabel="pA")
    for ax in axes[0].tolist() + [axes[1, 0]]:
        ax.legend(fontsize=8)
    fig.suptitle(f"{chemistry}: real vs simulated before and after the fit")
    fig.tight_layout()
    fig.savefig(path, dpi=70)
    plt.close(fig)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-figures", action="store_true")
    parser.add_argument("--chemistry", nargs="+", default=["r9.4.1", "r10.4.1"])
    parser.add_argument("--before", default=str(BEFORE), help="parameter file of the BEFORE column")
    parser.add_argument("--after", default=None, help="parameter file of the AFTER column "
                                                      "(default: the shipped fitted_params.json)")
    args = parser.parse_args(argv)
    if not default_data_dir().is_dir():
        print(f"needs {default_data_dir()}", file=sys.stderr)
        return 1
    for chemistry in args.chemistry:
        reads = load_labelled(chemistry)
        model = load_kmer_model(chemistry)
        sims = {name: simulate_like(reads, chemistry, params, args.seed)
                for name, params in (("before", load_params(chemistry, args.before)),
                                     ("after", load_params(chemistry, args.after)))}
        del model
        real = stats(reads, chemistry, False)
        before = stats(sims["before"], chemistry, True)
        after = stats(sims["after"], chemistry, True)
        print(markdown(chemistry, real, before, after, len(reads)))
        print()
        if not args.no_figures:
            pick = int(np.argsort([len(r.sequence) for r in reads])[len(reads) // 2])
            plot(chemistry, real, before, after,
                 [("real", reads[pick]), ("simulated after", sims["after"][pick])],
                 FIGURES / f"simulator_{chemistry.replace('.', '')}.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
