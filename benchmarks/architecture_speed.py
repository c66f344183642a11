"""Model-only CPU inference speed of candidate basecaller architectures, in one run.

    python benchmarks/architecture_speed.py [--threads 1] [--batch 32]

Forward passes over (batch, 4000-sample) windows through the exported torch modules, float32,
bfloat16 autocast (native on CPUs with AVX512-BF16/AMX) and int8 (dynamic quantisation), best
of 3; prints samples/s. Compare ratios within one run.
Stride 10 is shown for its speed only: R9.4.1 at 4 kHz moves about 9 samples per base, so a
CTC model needs a stride of at most about 6 to emit every base.
"""

from __future__ import annotations

import argparse
import time

import torch

from basecaller.inference.pipeline import prepare_for_inference
from basecaller.models.config import preset
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


def model_for(channels, kernels, strides, cell, hidden, layers) -> CTCModel:
    config = preset("fast")
    config.stem = {"channels": channels, "kernels": kernels, "strides": strides}
    config.encoder = {"type": cell, "hidden_size": hidden, "num_layers": layers, "direction": "alternating"}
    return CTCModel(config)


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
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
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
