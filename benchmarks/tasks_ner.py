"""Benchmark: NER tagger on CoNLL-2003 (or WNUT-17), entity F1 by seqeval, a wall-clock budget.

    python benchmarks/tasks_ner.py --data-set conll2003 --steps 6000 --lr 2e-3 --threads 1   # LSTM 200 + CRF
    python benchmarks/tasks_ner.py --data-set conll2003 --minutes 10 --threads 1
    python benchmarks/tasks_ner.py --compare --steps 400      # RNN vs GRU vs LSTM, equal budgets
    python benchmarks/tasks_ner.py --ensemble ner_s0 ner_s1 ner_s2   # score trained models together

The step count comes from timing a few training steps first, so the cosine schedule fits the
budget; a wall-clock limit stops training in any case.
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

from basecaller.precision import autocast, autocast_dtype
from basecaller.tasks.tagger import (
    Encoders,
    TaggerOptions,
    WordTagger,
    _loss,
    collate,
    evaluate_taggers,
    load_tagger,
    load_tagging,
    train_tagger,
)
from basecaller.training.fit import FitOptions, shuffled_batches

SHARED = Path(os.environ.get("BASECALLER_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def seconds_per_step(data, options: TaggerOptions, batch_size: int, steps: int = 6) -> float:
    encoders = Encoders.build(data.train, options.max_word_chars)
    train = [encoders.encode(w, t) for w, t in data.train[: batch_size * (steps + 1)]]
    model = WordTagger(len(encoders.words), len(encoders.chars), len(encoders.tags), options)
    optimizer = torch.optim.AdamW(model.parameters())
    batches = shuffled_batches(train, batch_size, collate, 0)(0)
    started = None
    amp = autocast_dtype("auto", torch.device("cpu"))  # as training runs
    for i, batch in enumerate(batches[: steps + 1]):
        if i == 1:
            started = time.monotonic()
        with autocast("cpu", amp):
            loss = _loss(model, batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return (time.monotonic() - started) / steps


def score_ensemble(directories: list[str]) -> dict:
    """Test and dev entity scores of trained model directories, alone and as one ensemble."""
    loaded = [load_tagger(directory) for directory in directories]
    data = load_tagging(loaded[0][2]["dataset"], SHARED / "text")
    taggers = [(model, encoders) for model, encoders, _ in loaded]
    alone = [round(evaluate_taggers([tagger], data.test, data.documents.get("test"))["f1"], 2) for tagger in taggers]
    test = evaluate_taggers(taggers, data.test, data.documents.get("test"))
    return {"data_set": data.name, "models": directories, "test_f1_each": alone,
            "ensemble_test_f1": round(test["f1"], 2), "ensemble_test_precision": round(test["precision"], 2),
            "ensemble_test_recall": round(test["recall"], 2), "ensemble_test_per_type_f1": test["per_type_f1"]}


def run(data, options: TaggerOptions, minutes: float, batch_size: int, lr: float, output: str,
        steps: int | None = None, train_on_dev: bool = False, seed: int = 0) -> dict:
    step_s = seconds_per_step(data, options, batch_size)
    budget_s = None if steps else 60 * minutes
    steps = steps or max(20, int(0.85 * budget_s / step_s))  # dev F1 five times costs ~15%
    fit = FitOptions(steps=steps, batch_size=batch_size, lr=lr, warmup_steps=min(50, steps // 10),
                     validate_every=max(10, steps // 5), time_limit_s=budget_s, seed=seed)
    started = time.monotonic()
    _, _, record = train_tagger(data, output, options, fit, train_on_dev=train_on_dev)
    record.update(wall_seconds=round(time.monotonic() - started, 1), cell=options.cell,
                  char_features=options.char_features, seconds_per_step_measured=round(step_s, 3))
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-set", default="conll2003", choices=["conll2003", "wnut17"])
    parser.add_argument("--cell", default="lstm")
    parser.add_argument("--hidden-size", type=int, default=200)
    parser.add_argument("--context", type=int, default=0, help="words of document context per example")
    parser.add_argument("--train-on-dev", action="store_true", help="train on train + dev, keep the last weights")
    parser.add_argument("--no-crf", dest="crf", action="store_false", help="per-word softmax instead of a CRF")
    parser.add_argument("--char-features", default="rnn", choices=["rnn", "cnn", "none"])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--minutes", type=float, default=10.0, help="training budget per model")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, help="a fixed step budget instead of --minutes")
    parser.add_argument("--compare", action="store_true", help="rnn, gru and lstm with the same budget")
    parser.add_argument("--output", help="model directory (default: temporary)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ensemble", nargs="+", metavar="MODEL", help="only score these trained models together")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.ensemble:
        print(json.dumps(score_ensemble(args.ensemble)))
        return
    data = load_tagging(args.data_set, SHARED / "text")
    for cell in ["rnn", "gru", "lstm"] if args.compare else [args.cell]:
        options = TaggerOptions(cell=cell, hidden_size=args.hidden_size, char_features=args.char_features,
                                crf=args.crf, context_tokens=args.context)
        output = args.output if args.output and not args.compare else tempfile.mkdtemp(prefix=f"ner_{cell}_")
        record = run(data, options, args.minutes, args.batch_size, args.lr, output, args.steps, args.train_on_dev,
                     args.seed)
        record.update(hardware=f"{platform.machine()} CPU, {args.threads} thread(s)", output=output)
        print(json.dumps(record), flush=True)


if __name__ == "__main__":
    main()
