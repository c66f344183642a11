"""Fit the signal simulator to the labelled real reads and rewrite its parameter file.

    python benchmarks/fit_simulator.py                 # writes basecaller/simulate/fitted_params.json
    python benchmarks/fit_simulator.py -o other.json   # somewhere else
    python benchmarks/fit_simulator.py --only lead_in  # refit one section, keep the rest of the file
    python benchmarks/fit_simulator.py --chemistry r10.4.1  # refit one chemistry, keep the other

R9.4.1: the Tombo lambda reads, the nanopolish-segmented E. coli reads (taiyaki layout) and
the taiyaki walkthrough reads; R10.4.1: the remora canonical reads with move tables. All read
at run time from ../shared/data (or $BASECALLER_SHARED_DATA), never copied. Reads that overlap
Lambda_NEB:14001-26000, NC_000913.3:514001-531000 or chr13:52314001-52318100 (the
validation intervals) are not used. Deterministic: the same data, code and libraries give the
same file.
Needs scipy.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from basecaller.simulate.fit import default_data_dir, fit_chemistry, load_labelled  # noqa: E402
from basecaller.simulate.params import PARAMS_FILE  # noqa: E402

CHEMISTRIES = ("r9.4.1", "r10.4.1")


def open_pore_pa(chemistry: str, data: Path) -> float:
    """Median over reads of the file's own open-pore estimate (``median_before``)."""
    import numpy as np

    values = []
    if chemistry == "r9.4.1":
        import h5py

        for path in sorted((data / "r941_lambda_tombo" / "fast5").glob("*.fast5")):
            with h5py.File(path, "r") as handle:
                raw = next(iter(handle["Raw/Reads"].values()))
                values.append(float(raw.attrs["median_before"]))  # already in pA
    else:
        import pod5

        with pod5.Reader(data / "r1041_remora_4khz" / "can_reads.pod5") as reader:
            values = [float(read.median_before) for read in reader.reads()]
    return float(np.median(values))


def merge_sections(existing: dict, fitted: dict, sections: list[str]) -> dict:
    """``existing`` with ``sections`` of every chemistry taken from ``fitted``."""
    for chemistry, values in fitted.items():
        for section in sections:
            target = existing.setdefault(chemistry, {})
            if section in values:
                target[section] = values[section]
            else:  # the refit has none (e.g. no k-mer tables): drop the old one
                target.pop(section, None)
    return existing


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", default=str(PARAMS_FILE))
    parser.add_argument("--data", default=None, help="shared data folder")
    parser.add_argument("--only", nargs="+", metavar="SECTION",
                        help="replace only these top-level sections (e.g. lead_in) of each "
                             "chemistry in the existing output file")
    parser.add_argument("--chemistry", nargs="+", choices=CHEMISTRIES, default=list(CHEMISTRIES),
                        help="refit only these; the others stay as they are in the output file "
                             "(R10.4.1 then borrows from the file's R9.4.1 section)")
    parser.add_argument("--r1041-context-table", action="store_true",
                        help="add R10.4.1 level offsets per 4-mer context from resquiggled reads "
                             "(session 18: makes the simulation less like real reads; off)")
    args = parser.parse_args(argv)
    data = Path(args.data) if args.data else default_data_dir()
    if not data.is_dir():
        print(f"needs {data}", file=sys.stderr)
        return 1
    start = time.perf_counter()
    existing = json.loads(Path(args.output).read_text()) if Path(args.output).exists() else {}
    fitted = {}
    for chemistry in args.chemistry:
        reads = load_labelled(chemistry, data)
        borrow = fitted.get("r9.4.1", existing.get("r9.4.1")) if chemistry == "r10.4.1" else None
        fitted[chemistry] = fit_chemistry(chemistry, reads, open_pore_pa=open_pore_pa(chemistry, data),
                                          borrow=borrow, context_table=args.r1041_context_table)
        fitted[chemistry]["source"] = (
            "r941_lambda_tombo (Tombo), r94_ecoli_f5c (nanopolish), r941_taiyaki_mapped: "
            "per-base segmentations and raw signal" if chemistry == "r9.4.1" else
            "r1041_remora_4khz can_*: move tables (stride 5) and pod5 signal; level jitter "
            "and spikes relative to R9.4.1's")
        summary = {k: v for k, v in fitted[chemistry].items() if k != "kmer_tables"}
        print(chemistry, json.dumps(summary, indent=1))
    if args.only:
        fitted = merge_sections(existing, fitted, args.only)
    else:
        fitted = {chemistry: fitted.get(chemistry, existing.get(chemistry))
                  for chemistry in CHEMISTRIES if chemistry in fitted or chemistry in existing}
    Path(args.output).write_text(json.dumps(fitted, indent=1) + "\n")
    print(f"wrote {args.output} in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
