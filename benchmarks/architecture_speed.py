"""Model-only CPU inference speed of candidate basecaller architectures, in one run.

    python benchmarks/architecture_speed.py [--threads 1] [--batch 32]
    OMP_NUM_THREADS=1 python benchmarks/architecture_speed.py --prefix-round [--workers 2]

Forward passes over (batch, 4000-sample) windows through the exported torch modules, float32,
bfloat16 autocast (native on CPUs with AVX512-BF16/AMX) and int8 (dynamic quantisation), best
of 3; prints samples/s. Compare ratios within one run.
``--prefix-round``: the candidates for read prefixes instead (session 14), each with its output
head (CTC, or CRF over 2- or 3-mers), through OpenVINO in bfloat16 on one prefix round (512
reads x 2,700 samples, split over ``--workers`` threads): the median seconds of 3 rounds.
Stride 10 is shown for its speed only: R9.4.1 at 4 kHz moves about 9 samples per base, so a
CTC model needs a stride of at most about 6 to emit every base.
"""

from __future__ import annotations

import argparse
import time

import torch

from basecaller.inference.pipeline import prepare_for_inference
from basecaller.models.config import preset
from basecaller.models.crf import build_model
from basecaller.models.ctc import CTCModel

CANDIDATES = {
    "fast (shipped): LSTM 96 x5 alternating, stride 5": ([4, 16, 96], [5, 5, 19], [1, 1, 5], "lstm", 96, 5),
    "LSTM 96 x5 alternating, stride 6": ([4, 16, 96], [5, 5, 19], [1, 1, 6], "lstm", 96, 5),
    "LSTM 96 x4 alternating, stride 5": ([4, 16, 96], [5, 5, 19], [1, 1, 5], "lstm", 96, 4),
    "LSTM 80 x5 alternating, stride 5": ([4, 16, 80], [5, 5, 19], [1, 1, 5], "lstm", 80, 5),
    "LSTM 64 x5 alternating, stride 5": ([4, 16, 64], [5, 5, 19], [1, 1, 5], "lstm", 64, 5),
    "LSTM 64 x5 alternating, stride 6": ([4, 16, 64], [5, 5, 19], [1, 1, 6], "lstm", 64, 5),
    "GRU 64 x4 alternating, stride 5": ([4, 16, 64], [5, 5, 19], [1, 1, 5], "gru", 64, 4),
    "LSTM 96 x5 alternating, stride 10": ([4, 16, 96], [5, 5, 19], [1, 2, 5], "lstm", 96, 5),
    "GRU 48 x3 alternating, stride 5": ([4, 16, 48], [5, 5, 19], [1, 1, 5], "gru", 48, 3),
    "GRU 48 x3 alternating, stride 10": ([4, 16, 48], [5, 5, 19], [1, 2, 5], "gru", 48, 3),
}


# (channels and units, LSTM layers, stem stride, CRF state_len or None for CTC)
PREFIX_CANDIDATES = {
    "lite (64 x5, stride 5), CTC": (64, 5, 5, None),
    "lite, CRF 3-mers (320 scores)": (64, 5, 5, 3),
    "lite, CRF 2-mers (80 scores)": (64, 5, 5, 2),
    "64 x5, stride 6, CTC": (64, 5, 6, None),
    "64 x4, stride 6, CTC": (64, 4, 6, None),
    "48 x5, stride 6, CTC": (48, 5, 6, None),
    "64 x4, stride 6, CRF 2-mers": (64, 4, 6, 2),
    "48 x5, stride 6, CRF 2-mers (the prefix preset)": (48, 5, 6, 2),
    "48 x5, stride 5, CRF 2-mers": (48, 5, 5, 2),
}


def prefix_round_seconds(units: int, layers: int, stride: int, state_len: int | None, workers: int) -> float:
    """Median seconds of one 512 x 2,700 round through OpenVINO bf16, split over ``workers``."""
    import statistics
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np

    from basecaller.inference.openvino import OpenVinoRunner

    model = model_for([4, 16, units], [5, 5, 19], [1, 1, stride], "lstm", units, layers, state_len)
    runner = OpenVinoRunner(model.eval(), threads=workers, precision="bf16")
    parts = np.array_split(np.random.default_rng(0).normal(size=(512, 2700)).astype(np.float32), workers)
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(runner, [part[:8] for part in parts]))
        times = []
        for _ in range(3):
            start = time.perf_counter()
            list(pool.map(runner, parts))
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def model_for(channels, kernels, strides, cell, hidden, layers, crf_state_len: int | None = None) -> CTCModel:
    """A candidate with a CTC head, or a CRF head over ``crf_state_len``-mers."""
    config = preset("fast")
    config.stem = {"channels": channels, "kernels": kernels, "strides": strides}
    config.encoder = {"type": cell, "hidden_size": hidden, "num_layers": layers, "direction": "alternating"}
    if crf_state_len:
        config.head = {"type": "crf", "state_len": crf_state_len}
    return build_model(config)


@torch.inference_mode()
def samples_per_second(model, batch: int, window: int = 4000, repeats: int = 3, bf16: bool = False) -> float:
    signal = torch.randn(batch, window)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        model(signal[:2])
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            model(signal)
            best = min(best, time.perf_counter() - start)
    return batch * window / best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--prefix-round", action="store_true", help="the prefix candidates through OpenVINO bf16")
    parser.add_argument("--workers", type=int, default=2, help="--prefix-round: forward threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.prefix_round:
        print(f"| candidate (OpenVINO bf16, {args.workers} threads) | 512 x 2,700 round, median of 3 (s) |\n|---|---:|")
        for name, spec in PREFIX_CANDIDATES.items():
            print(f"| {name} | {prefix_round_seconds(*spec, args.workers):.3f} |", flush=True)
        return
    print(f"| architecture ({args.threads} thread(s), batch {args.batch}) | float32 samples/s | "
          "bfloat16 samples/s | int8 samples/s |")
    print("|---|---:|---:|---:|")
    cpu = torch.device("cpu")
    for name, spec in CANDIDATES.items():
        rates = [samples_per_second(prepare_for_inference(model_for(*spec), cpu, int8), args.batch, bf16=bf16)
                 for int8, bf16 in ((False, False), (False, True), (True, False))]
        print(f"| {name} | {rates[0]:,.0f} | {rates[1]:,.0f} | {rates[2]:,.0f} |", flush=True)


if __name__ == "__main__":
    main()
