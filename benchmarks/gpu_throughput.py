"""End-to-end GPU basecalling throughput (pod5 in, FASTQ out) of a model over batch sizes.

    python benchmarks/gpu_throughput.py [--model hac] [--repeats 200] [--batch-sizes 64,128,256,512,1024]
    python benchmarks/gpu_throughput.py --device cpu --repeats 1 --batch-sizes 16   # smoke test, no GPU

``--model hac`` (the default) times the untrained ``hac`` preset for R9.4.1: its weights do not
change the amount of work, so the figure holds for a trained hac model too (greedy decoding of
untrained posteriors emits more bases, so it is if anything pessimistic); pass a model
directory or a shipped name to time that instead. The input is the lambda sample of
data_samples repeated ``--repeats`` times with fresh read ids (200 repeats: 39 M samples).
Each setting runs in a fresh process, model loading included; prints a Markdown table
(samples/s, peak GPU memory) and the batch size that maximised throughput.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from basecall_throughput import make_input, run_job  # noqa: E402


def untrained_preset(folder: Path, kind: str) -> Path:
    """A model directory holding the preset's architecture with fresh weights."""
    import torch

    from basecaller.models.config import preset
    from basecaller.models.ctc import CTCModel
    from basecaller.models.directory import save_model_dir

    torch.manual_seed(0)
    return save_model_dir(folder / f"r941_4khz_{kind}", CTCModel(preset(kind, "r9.4.1", 4000)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="hac", help="a preset (fast, hac: untrained), a shipped name or a directory")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--batch-sizes", default="64,128,256,512,1024")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = str(untrained_preset(tmp, args.model)) if args.model in ("fast", "hac") else args.model
        inputs = make_input(tmp, args.repeats)
        print(f"model {args.model}, device {args.device}\n")
        print("| batch | samples | seconds | samples/s | peak GPU memory |\n|---:|---:|---:|---:|---:|")
        best = (0.0, 0)
        for batch in (int(b) for b in args.batch_sizes.split(",")):
            stats = run_job(inputs, tmp / "out.fastq", model=model, device=args.device, batch_size=batch)
            rate = stats["samples"] / stats["seconds"]
            best = max(best, (rate, batch))
            print(f"| {batch} | {stats['samples']:,} | {stats['seconds']:.1f} | {rate:,.0f} | "
                  f"{stats['gpu_mb']:,.0f} MB |", flush=True)
        print(f"\nbest: batch {best[1]}, {best[0]:,.0f} samples/s")


if __name__ == "__main__":
    main()
