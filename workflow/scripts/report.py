"""A self-contained HTML report of a basecalling run: histograms, throughput, identity, settings.

Usable outside the workflow:

    python report.py --summary sequencing_summary.tsv [--benchmarks shard.tsv ...] \
        [--basecall-logs shard.log ...] [--per-read eval.per_read.tsv --evaluation eval.summary.json] \
        [--settings JSON] -o report.html

Figures are PNGs (matplotlib) embedded as base64, so the page is one file.
"""

from __future__ import annotations

import argparse
import base64
import csv
import html
import io
import json
import math
import os
import re
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

LOG_RATE = re.compile(r"([\d,]+) samples\) with (\S+)(?: \(\w+\))? in ([\d.]+) s")


def read_tsv(path: str) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def numbers(rows: list[dict[str, str]], column: str) -> list[float]:
    values = []
    for row in rows:
        try:
            value = float(row.get(column) or "nan")
        except ValueError:
            continue
        if math.isfinite(value):
            values.append(value)
    return values


def histogram_png(values: list[float], title: str, xlabel: str, bins: int = 30) -> str:
    """A histogram as a base64 PNG; a note in the plot when there are no values."""
    figure, axes = plt.subplots(figsize=(5, 3.2), dpi=100)
    if values:
        axes.hist(values, bins=bins, color="#3b75af", edgecolor="white")
    else:
        axes.text(0.5, 0.5, "no values", ha="center", va="center", transform=axes.transAxes)
    axes.set(title=title, xlabel=xlabel, ylabel="reads")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode()


def throughput(summary: list[dict], benchmarks: list[str], logs: list[str]) -> dict[str, str]:
    """Reads, bases and samples, with rates per second of job wall time and of basecalling."""
    samples = sum(numbers(summary, "num_samples"))
    bases = sum(numbers(summary, "sequence_length_template"))
    job_s = sum(sum(numbers(read_tsv(path), "s")) for path in benchmarks if os.path.exists(path))
    compute_s = sum(_log_seconds(path) for path in logs if os.path.exists(path))
    stats = {"reads": f"{len(summary):,}", "bases": f"{bases:,.0f}", "samples": f"{samples:,.0f}",
             "shards": str(len(benchmarks)), "shard job time (s, summed)": f"{job_s:.1f}"}
    if job_s:
        stats["samples/s per shard job (incl. start-up)"] = f"{samples / job_s:,.0f}"
    if compute_s:
        stats["basecalling time (s, summed)"] = f"{compute_s:.1f}"
        stats["samples/s while basecalling"] = f"{samples / compute_s:,.0f}"
        stats["bases/s while basecalling"] = f"{bases / compute_s:,.0f}"
    return stats


def _log_seconds(path: str) -> float:
    match = LOG_RATE.search(Path(path).read_text(errors="replace"))
    return float(match.group(3)) if match else 0.0


def table(rows: dict, css: str = "") -> str:
    cells = "".join(f"<tr><th>{html.escape(str(key))}</th><td>{html.escape(_fmt(value))}</td></tr>"
                    for key, value in rows.items())
    return f'<table class="{css}">{cells}</table>'


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    if value is None:
        return "n/a"
    return value if isinstance(value, str) else json.dumps(value)


def flatten(settings: dict, prefix: str = "") -> dict[str, object]:
    flat = {}
    for key, value in settings.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def figure(png: str, name: str, title: str) -> str:
    return (f'<figure id="{name}"><img alt="{html.escape(title)}" '
            f'src="data:image/png;base64,{png}"><figcaption>{html.escape(title)}</figcaption></figure>')


def build_page(args: argparse.Namespace) -> str:
    summary = read_tsv(args.summary)
    figures = [
        figure(histogram_png(numbers(summary, "sequence_length_template"), "Read length", "bases"),
               "read-length-histogram", "Read length histogram"),
        figure(histogram_png(numbers(summary, "mean_qscore_template"), "Mean qscore", "qscore"),
               "qscore-histogram", "Mean qscore histogram"),
    ]
    sections = [f"<h2>Throughput</h2>{table(throughput(summary, args.benchmarks, args.basecall_logs))}"]
    if args.evaluation:
        identity = numbers(read_tsv(args.per_read), "identity") if args.per_read else []
        figures.append(figure(histogram_png(identity, "Identity of mapped reads", "identity", bins=40),
                              "identity-histogram", "Identity histogram"))
        evaluation = json.loads(Path(args.evaluation).read_text())
        sections.append(f'<h2>Identity</h2>{table(evaluation, "identity-summary")}')
    settings = json.loads(args.settings) if args.settings else {}
    sections.append(f'<h2>Settings</h2>{table(flatten(settings), "settings")}')
    title = html.escape(args.title)
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title>"
            f"<style>{STYLE}</style></head><body><h1>{title}</h1>"
            f"<h2>Distributions</h2><div class='figures'>{''.join(figures)}</div>"
            f"{''.join(sections)}</body></html>\n")


STYLE = ("body{font-family:sans-serif;margin:2em;max-width:70em}table{border-collapse:collapse}"
         "th,td{border:1px solid #ccc;padding:.2em .6em;text-align:left}"
         ".figures{display:flex;flex-wrap:wrap;gap:1em}figure{margin:0}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--summary", required=True, help="sequencing summary TSV of the run")
    parser.add_argument("--benchmarks", nargs="*", default=[], help="snakemake benchmark TSVs of the shards")
    parser.add_argument("--basecall-logs", nargs="*", default=[], help="basecaller logs of the shards")
    parser.add_argument("--per-read", help="basecaller evaluate per-read TSV")
    parser.add_argument("--evaluation", help="basecaller evaluate summary JSON")
    parser.add_argument("--settings", help="the run's settings as a JSON object")
    parser.add_argument("--title", default="basecaller run report")
    parser.add_argument("-o", "--output", required=True)
    args = parser.parse_args(argv)
    page = build_page(args)
    from basecaller.io.writers import atomic_path

    with atomic_path(args.output) as tmp:
        tmp.write_text(page)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
