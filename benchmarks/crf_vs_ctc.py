"""CTC versus CRF output heads on the same encoder, data, steps and held-out chunks.

    python benchmarks/crf_vs_ctc.py --train DIR... [--mix W,...] --valid DIR... [--steps 300]
        [--seeds 0 1] [--state-len 3] [--batch-size 16] [--valid-chunks 256] [--repeats 2]
        [--keep ROOT]

For each seed, trains the ``fast`` preset's stem and recurrent core with a CTC head and with a
CRF head (same seed, so the same stem/core initialisation and the same batches), then scores
decoded identity on the first ``--valid-chunks`` chunks of each held-out folder (greedy for CTC, Viterbi for
CRF, each against the whole label). Prints identity per head and seed, mean and spread, and
the end-to-end basecall throughput (samples/s) of the last model of each head on the lambda
sample (``--repeats`` copies), through ``benchmarks/basecall_throughput.py``'s job runner.
Run single-threaded (``OMP_NUM_THREADS=1``) for comparable timings. With ``--keep ROOT`` the
models stay in ROOT and a rerun resumes: finished models are scored again without training, an
interrupted one continues from its last checkpoint (every 250 steps).
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


def train_one(head: str, seed: int, args, train, valid, out: Path) -> tuple[list[float], list[float], float]:
    from basecaller.models.config import preset
    from basecaller.models.directory import load_model
    from basecaller.training.basecaller import chunk_identities, train_basecaller
    from basecaller.training.fit import basecaller_fit

    seconds = 0.0
    if (out / "DONE").exists():
        model = load_model(str(out))
    else:
        config = preset("fast")
        config.head = {"type": "crf", "state_len": args.state_len} if head == "crf" else {"type": "ctc"}
        options = basecaller_fit(steps=args.steps, batch_size=args.batch_size, lr=args.lr, seed=seed,
                                 warmup_steps=min(200, args.steps // 10), validate_every=10**9,
                                 checkpoint_every=250, progress=False, device="cpu", amp=not args.fp32,
                                 resume=(out / "checkpoints" / "last.pt").exists())
        torch.manual_seed(seed)
        start = time.perf_counter()
        model = train_basecaller(config, train, out, weights=args.weights, options=options)
        seconds = time.perf_counter() - start
        (out / "DONE").write_text(f"{seconds:.0f}\n")
    scores = [chunk_identities(model, folder, args.valid_chunks) for folder in valid]
    return [float(s.mean()) for s in scores], [float(np.median(s)) for s in scores], seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", nargs="+", required=True, help="training chunk folders")
    parser.add_argument("--mix", help="comma-separated sampling weights, one per --train folder")
    parser.add_argument("--valid", nargs="+", required=True, help="held-out chunk folders (scored apart)")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--state-len", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--valid-chunks", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=2, help="lambda sample copies for throughput (0: skip)")
    parser.add_argument("--fp32", action="store_true", help="no bf16 autocast while training")
    parser.add_argument("--keep", help="keep the models here (a rerun resumes) instead of a temporary folder")
    args = parser.parse_args()

    from basecaller.data.chunks import ChunkDataset

    torch.set_num_threads(1)
    train = [ChunkDataset.load(folder) for folder in args.train]
    valid = [ChunkDataset.load(folder) for folder in args.valid]
    args.weights = [float(w) for w in args.mix.split(",")] if args.mix else None
    if args.weights is not None and len(args.weights) != len(train):
        parser.error("--mix needs one weight per --train folder")
    print(f"train {', '.join(f'{f} ({len(d)})' for f, d in zip(args.train, train))}; mix {args.mix or 'by size'}")
    print(f"valid {', '.join(f'{f} ({len(d)}, scoring {min(args.valid_chunks, len(d))})' for f, d in zip(args.valid, valid))}")
    print(f"{args.steps} steps x batch {args.batch_size}, lr {args.lr}; CRF state_len {args.state_len}\n")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.keep or tmp)
        names = [Path(f).parent.name if Path(f).name in ("valid", "train") else Path(f).name for f in args.valid]
        results: dict[str, list[list[float]]] = {"ctc": [], "crf": []}
        print("| head | seed | " + " | ".join(f"{n} mean (median)" for n in names) + " | train s |")
        print("|---|---:|" + "---:|" * len(names) + "---:|")
        for seed in args.seeds:
            for head in ("ctc", "crf"):
                means, medians, seconds = train_one(head, seed, args, train, valid, root / f"{head}_seed{seed}")
                results[head].append(means)
                cells = " | ".join(f"{m:.4f} ({md:.4f})" for m, md in zip(means, medians))
                print(f"| {head} | {seed} | {cells} | {seconds:.0f} |", flush=True)
        print("\n| head | seeds | " + " | ".join(f"{n}: mean over seeds, spread, std" for n in names) + " |")
        print("|---|---:|" + "---|" * len(names))
        for head, rows in results.items():
            values = np.array(rows)
            cells = " | ".join(f"{values[:, i].mean():.4f}, {np.ptp(values[:, i]):.4f}, {values[:, i].std():.4f}"
                               for i in range(len(names)))
            print(f"| {head} | {len(values)} | {cells} |")
        gain = np.array(results["crf"]) - np.array(results["ctc"])
        print("\nCRF - CTC per seed (" + ", ".join(names) + "): "
              + "; ".join(", ".join(f"{g:+.4f}" for g in row) for row in gain))
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
