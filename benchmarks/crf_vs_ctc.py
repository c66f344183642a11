"""CTC versus CRF output heads on the same encoder, data, steps and held-out chunks.

    python benchmarks/crf_vs_ctc.py TRAIN_CHUNKS VALID_CHUNKS [--steps 300] [--seeds 0 1]
        [--state-len 3] [--batch-size 16] [--valid-chunks 256] [--repeats 2]

For each seed, trains the ``fast`` preset's stem and recurrent core with a CTC head and with a
CRF head (same seed, so the same stem/core initialisation and the same batches), then scores
decoded identity on the first ``--valid-chunks`` held-out chunks (greedy for CTC, Viterbi for
CRF, each against the whole label). Prints identity per head and seed, mean and spread, and
the end-to-end basecall throughput (samples/s) of the last model of each head on the lambda
sample (``--repeats`` copies), through ``benchmarks/basecall_throughput.py``'s job runner.
Run single-threaded (``OMP_NUM_THREADS=1``) for comparable timings.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))


def train_one(head: str, seed: int, args, train, valid, out: Path) -> tuple[float, float, float]:
    from basecaller.models.config import preset
    from basecaller.training.basecaller import chunk_identities, train_basecaller
    from basecaller.training.fit import basecaller_fit

    config = preset("fast")
    config.head = {"type": "crf", "state_len": args.state_len} if head == "crf" else {"type": "ctc"}
    options = basecaller_fit(steps=args.steps, batch_size=args.batch_size, lr=args.lr, seed=seed,
                           warmup_steps=min(100, args.steps // 10), validate_every=10**9,
                           checkpoint_every=10**9, progress=False, device="cpu", amp=not args.fp32)
    torch.manual_seed(seed)
    start = time.perf_counter()
    model = train_basecaller(config, [train], out, options=options)
    seconds = time.perf_counter() - start
    scores = chunk_identities(model, valid, args.valid_chunks)
    return float(scores.mean()), float(np.median(scores)), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("train", help="training chunk folder")
    parser.add_argument("valid", help="held-out chunk folder")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--state-len", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--valid-chunks", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=2, help="lambda sample copies for throughput (0: skip)")
    parser.add_argument("--fp32", action="store_true", help="no bf16 autocast while training")
    parser.add_argument("--keep", help="write the models here instead of a temporary folder")
    args = parser.parse_args()

    from basecaller.data.chunks import ChunkDataset

    torch.set_num_threads(1)
    train, valid = ChunkDataset.load(args.train), ChunkDataset.load(args.valid)
    print(f"train {args.train}: {len(train)} chunks; valid {args.valid}: {len(valid)} chunks "
          f"(scoring {min(args.valid_chunks, len(valid))}); {args.steps} steps x batch {args.batch_size}; "
          f"CRF state_len {args.state_len}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.keep or tmp)
        results: dict[str, list[float]] = {"ctc": [], "crf": []}
        print("| head | seed | mean identity | median identity | train s |\n|---|---:|---:|---:|---:|")
        for seed in args.seeds:
            for head in ("ctc", "crf"):
                mean, median, seconds = train_one(head, seed, args, train, valid, root / f"{head}_seed{seed}")
                results[head].append(mean)
                print(f"| {head} | {seed} | {mean:.4f} | {median:.4f} | {seconds:.0f} |", flush=True)
        print("\n| head | seeds | mean identity (mean over seeds) | spread (max - min) | std |\n|---|---:|---:|---:|---:|")
        for head, values in results.items():
            values = np.array(values)
            print(f"| {head} | {len(values)} | {values.mean():.4f} | {np.ptp(values):.4f} | {values.std():.4f} |")
        if args.repeats > 0:
            from basecall_throughput import make_input, run_job

            big = make_input(root, args.repeats)
            print("\n| head | samples | seconds | samples/s |\n|---|---:|---:|---:|")
            for head in ("ctc", "crf"):
                stats = run_job(big, root / f"{head}.fastq", model=str(root / f"{head}_seed{args.seeds[-1]}"),
                                threads=1, batch_size=32, device="cpu", precision="fp32")
                print(f"| {head} (fp32, 1 thread) | {stats['samples']:,} | {stats['seconds']:.1f} | "
                      f"{stats['samples'] / stats['seconds']:,.0f} |", flush=True)


if __name__ == "__main__":
    main()
