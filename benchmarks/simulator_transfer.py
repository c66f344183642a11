"""Does the simulator train basecallers? Three models of the ``fast`` preset, same steps, same
held-out real chunks:

    python benchmarks/simulator_transfer.py --sim SIM_CHUNKS... --real REAL_CHUNKS... \
        --valid VALID_CHUNKS... [--steps 1200] [--seed 1] [--batch-size 16] [--valid-chunks 256]
        [--head ctc|crf] [--state-len 3] [--runs sim real pre]

1. simulated only: ``--steps`` steps on the simulated chunk folders;
2. real only: ``--steps`` steps on the real chunk folders;
3. simulated pre-training, then real fine-tuning: ``--steps / 2`` on simulated chunks, then
   ``--steps / 2`` on the real ones, starting from the first half's weights.
Each is scored on every ``--valid`` folder (chunks of held-out genome intervals): mean decoded
identity (greedy) of the first ``--valid-chunks`` chunks. Build the folders with
`basecaller simulate --fasta GENOME --exclude HELD-OUT-INTERVAL` + `basecaller chunks --source
simulated`, and `basecaller chunks ... --holdout INTERVAL` for the real reads (README: "Shipped
models and accuracy"). Runs single-threaded; about 1 s per step per model on one core.
``--runs`` picks which of the three to train (e.g. one per core, in separate processes);
``--head crf`` trains the preset's stem and core with a CRF head of ``--state-len``.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path


def _train(chunks: list[str], out: Path, steps: int, args, init_from: str | None = None):
    from basecaller.data.chunks import ChunkDataset
    from basecaller.models.config import preset
    from basecaller.training.basecaller import train_basecaller
    from basecaller.training.fit import basecaller_fit

    options = basecaller_fit(steps=steps, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                             warmup_steps=min(100, steps // 10), validate_every=10**9, checkpoint_every=200,
                             progress=False, device="cpu")
    config = preset("fast")
    config.head = {"type": "crf", "state_len": args.state_len} if args.head == "crf" else {"type": "ctc"}
    return train_basecaller(config, [ChunkDataset.load(c) for c in chunks], out, options=options,
                            init_from=init_from)


def _scores(model, valid: list[str], count: int) -> list[float]:
    from basecaller.data.chunks import ChunkDataset
    from basecaller.training.basecaller import chunk_identities

    return [float(chunk_identities(model, ChunkDataset.load(v), count).mean()) for v in valid]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sim", nargs="+", required=True)
    parser.add_argument("--real", nargs="+", required=True)
    parser.add_argument("--valid", nargs="+", required=True)
    parser.add_argument("--steps", type=int, default=1200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--valid-chunks", type=int, default=256)
    parser.add_argument("--head", choices=["ctc", "crf"], default="ctc")
    parser.add_argument("--state-len", type=int, default=3)
    parser.add_argument("--runs", nargs="+", choices=["sim", "real", "pre"], default=["sim", "real", "pre"])
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if "sim" in args.runs:
            rows.append(("simulated only", _train(args.sim, work / "sim", args.steps, args)))
        if "real" in args.runs:
            rows.append(("real only", _train(args.real, work / "real", args.steps, args)))
        if "pre" in args.runs:
            _train(args.sim, work / "pre", args.steps // 2, args)
            rows.append(("simulated, then real", _train(args.real, work / "fine", args.steps - args.steps // 2,
                                                        args, init_from=str(work / "pre"))))
        table = [(name, _scores(model, args.valid, args.valid_chunks)) for name, model in rows]
    print(f"| training ({args.head}, {args.steps} steps, seed {args.seed}) | " + " | ".join(Path(v).parent.name + "/"
                                                                              + Path(v).name for v in args.valid) + " |")
    print("|---|" + "---:|" * len(args.valid))
    for name, scores in table:
        print(f"| {name} | " + " | ".join(f"{s:.3f}" for s in scores) + " |")


if __name__ == "__main__":
    main()
