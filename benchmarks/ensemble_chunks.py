"""Held-out chunk identity of model ensembles and of checkpoint weight averages.

    python benchmarks/ensemble_chunks.py --valid /work/runs/lambda/valid \\
        --models r941_4khz_crf r941_4khz_lite_crf r941_4khz_crf+r941_4khz_lite_crf
    python benchmarks/ensemble_chunks.py --valid /work/runs/r1041_remora_can/valid \\
        --config RUN/checkpoints/config.toml --checkpoints RUN/checkpoints/best.pt,RUN/checkpoints/last.pt

``A+B+...``: the members' output scores averaged step by step (models with the same head,
``state_len`` and stride), then decoded as one model (greedy CTC or Viterbi CRF, as training
validates). ``--checkpoints a.pt,b.pt``: one model with the checkpoints' weights averaged.
Prints the mean and median identity of the first ``--chunks`` chunks (one thread, bf16 on CPUs
with bf16 units).
"""

from __future__ import annotations

import argparse

import numpy as np
import torch


class Ensemble(torch.nn.Module):
    """The mean of the members' output scores; ``config`` is the first member's."""

    def __init__(self, members):
        super().__init__()
        self.members = torch.nn.ModuleList(members)
        self.config = members[0].config
        heads = {(m.config.head_type, m.config.head.get("state_len"), m.config.stride) for m in members}
        if len(heads) > 1:
            raise SystemExit(f"members differ in head, state_len or stride: {sorted(map(str, heads))}")

    def forward(self, signal):
        return sum(member(signal) for member in self.members) / len(self.members)


def averaged_checkpoints(config_path: str, paths: list[str]):
    from basecaller.models.config import ModelConfig
    from basecaller.models.crf import build_model
    from basecaller.training.checkpoint import load_checkpoint

    states = [load_checkpoint(p, map_location="cpu")["model"] for p in paths]
    mean = {k: (sum(s[k].float() for s in states) / len(states)).to(states[0][k].dtype) for k in states[0]}
    model = build_model(ModelConfig.load(config_path))
    model.load_state_dict(mean)
    return model.for_inference()


def main() -> None:
    from basecaller.data.chunks import ChunkDataset
    from basecaller.models.directory import load_model
    from basecaller.precision import autocast, autocast_dtype
    from basecaller.training.basecaller import chunk_identities

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--valid", required=True, help="held-out chunk dataset folder")
    parser.add_argument("--models", nargs="*", default=[], help="model names/directories, members joined by +")
    parser.add_argument("--config", help="config.toml for --checkpoints")
    parser.add_argument("--checkpoints", nargs="*", default=[], help="comma-separated checkpoints to average")
    parser.add_argument("--chunks", type=int, default=512)
    args = parser.parse_args()
    torch.set_num_threads(1)
    valid = ChunkDataset.load(args.valid)
    dtype = autocast_dtype("auto", torch.device("cpu"))
    loaded: dict[str, torch.nn.Module] = {}
    cases = [(spec, None) for spec in args.models] + [(spec, "checkpoints") for spec in args.checkpoints]
    print("| model | chunks | mean identity | median |\n|---|---:|---:|---:|")
    for spec, kind in cases:
        if kind == "checkpoints":
            model = averaged_checkpoints(args.config, spec.split(","))
        else:
            for name in spec.split("+"):
                loaded.setdefault(name, load_model(name).for_inference().eval())
            model = Ensemble([loaded[name] for name in spec.split("+")])
        with autocast("cpu", dtype):
            scores = chunk_identities(model, valid, args.chunks)
        print(f"| {spec} | {len(scores)} | {scores.mean():.4f} | {np.median(scores):.4f} |", flush=True)


if __name__ == "__main__":
    main()
