"""Benchmark: SST-2 sentiment and UCI splice junctions with the many-to-one classifier.

    python benchmarks/tasks_classify.py --task splice --threads 1
    python benchmarks/tasks_classify.py --task sst2 --threads 1 --steps 3000

Prints dev/test accuracy, test accuracy per class, steps, wall time and threads.
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

from basecaller.tasks.classify import (
    ClassifierOptions,
    evaluate_ensemble,
    load_classification,
    load_classifier,
    train_classifier,
)
from basecaller.training.fit import FitOptions

SHARED = Path(os.environ.get("BASECALLER_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))

PRESETS = {
    "splice": dict(kmer=3, options=dict(hidden_size=64, embedding_dim=32, dropout=0.1, positions=60),
                   fit=dict(steps=2000, batch_size=32, lr=3e-3, validate_every=100)),
    "sst2": dict(options=dict(hidden_size=128, embedding_dim=128, dropout=0.5, token_dropout=0.1),
                 fit=dict(steps=2000, batch_size=32, lr=2e-3, validate_every=100, weight_decay=0.01)),
}


def score_ensemble(task: str, directories: list[str]) -> dict:
    """Dev and test accuracy of trained model directories, alone and with averaged probabilities."""
    loaded = [load_classifier(directory) for directory in directories]
    data = load_classification(task, SHARED / "text", loaded[0][3].get("kmer", 1))
    classifiers = [(model, vocab) for model, vocab, *_ in loaded]
    dev, test = (evaluate_ensemble(classifiers, data, split) for split in ("dev", "test"))
    each = [round(100 * evaluate_ensemble([member], data)["accuracy"], 2) for member in classifiers]
    return {"task": task, "models": directories, "test_accuracy_each": each,
            "ensemble_dev_accuracy": round(100 * dev["accuracy"], 2),
            "ensemble_test_accuracy": round(100 * test["accuracy"], 2),
            "ensemble_test_per_class": {k: round(100 * v, 2) for k, v in test["per_class"].items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=sorted(PRESETS), required=True)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--output", help="model directory (default: a temporary one)")
    parser.add_argument("--set", nargs="*", default=[], help="override options, e.g. cell=gru steps=500")
    parser.add_argument("--ensemble", nargs="+", metavar="MODEL", help="only score these trained models together")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.ensemble:
        print(json.dumps(score_ensemble(args.task, args.ensemble)))
        return
    preset = PRESETS[args.task]
    options, fit = dict(preset["options"]), dict(preset["fit"])
    for item in args.set:
        key, value = item.split("=", 1)
        defaults, target = (FitOptions(), fit) if hasattr(FitOptions, key) else (ClassifierOptions(), options)
        target[key] = type(getattr(defaults, key))(value)
    data = load_classification(args.task, SHARED / "text", kmer=preset.get("kmer", 1))
    output = args.output or tempfile.mkdtemp(prefix=f"bench_{args.task}_")
    started = time.monotonic()
    _, record = train_classifier(data, output, ClassifierOptions(**options), FitOptions(**fit))
    record["wall_seconds"] = round(time.monotonic() - started, 1)
    record["hardware"] = f"{platform.processor() or platform.machine()}, {args.threads} thread(s)"
    print(json.dumps({"task": args.task, "kmer": data.kmer, "options": options, **record}))


if __name__ == "__main__":
    main()
