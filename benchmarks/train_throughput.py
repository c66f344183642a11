"""Benchmark: CTC training speed of the fast preset on the CPU, one process with 1 or N torch
threads against N data-parallel single-threaded workers (``basecaller train --workers N``).

Each run trains the shipped R9.4.1 fast model for ``--steps`` optimiser steps on simulated
chunks (``data_samples/simulated_r941``, 3000 samples), batch ``--batch-size`` per process,
bf16 autocast where the CPU has it; the figure is training chunks (and signal samples) per
second of the whole run, model load and process start included. Run it with nothing else busy.

    python benchmarks/train_throughput.py --workers 2 --steps 60
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import torch

from basecaller.data.chunks import ChunkDataset, ChunkSpec, build_chunks
from basecaller.data.segmented import simulated_reads
from basecaller.models.config import ModelConfig
from basecaller.models.directory import find_model_dir
from basecaller.training.basecaller import train_basecaller
from basecaller.training.fit import basecaller_fit

SAMPLES = Path(__file__).resolve().parent.parent / "data_samples" / "simulated_r941"


def _run(dataset, folder: Path, steps: int, batch_size: int, workers: int, threads: int) -> dict:
    torch.set_num_threads(threads)
    config = ModelConfig.load(find_model_dir("r941_4khz_fast") / "config.toml")
    options = basecaller_fit(steps=steps, batch_size=batch_size, warmup_steps=0, progress=False,
                           workers=workers, checkpoint_every=steps, validate_every=0)
    started = time.monotonic()
    train_basecaller(config, [dataset], folder, options=options, init_from="r941_4khz_fast")
    seconds = time.monotonic() - started
    chunks = steps * batch_size * workers
    return {"workers": workers, "threads": threads, "steps": steps, "batch_per_step": batch_size * workers,
            "seconds": round(seconds, 1), "chunks_per_s": round(chunks / seconds, 2),
            "samples_per_s": round(chunks * dataset.chunks.shape[1] / seconds)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_train_") as folder:
        folder = Path(folder)
        built = build_chunks(simulated_reads(SAMPLES), ChunkSpec(chunk_len=3000, min_samples_per_base=4))
        dataset = ChunkDataset.load(built.save(folder / "chunks"))
        runs = [_run(dataset, folder / "one", args.steps, args.batch_size, 1, 1),
                _run(dataset, folder / "threads", args.steps, args.batch_size, 1, args.workers),
                _run(dataset, folder / "workers", args.steps, args.batch_size, args.workers, 1)]
    base = runs[0]["chunks_per_s"]
    for run in runs:
        run["speedup"] = round(run["chunks_per_s"] / base, 2)
    print(json.dumps({"hardware": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
                      "chunks": len(dataset), "runs": runs}, indent=1))


if __name__ == "__main__":
    main()
