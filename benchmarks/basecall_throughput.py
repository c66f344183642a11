"""End-to-end basecalling throughput (file in, FASTQ out) and peak memory versus input size.

    python benchmarks/basecall_throughput.py [--model r941_4khz_fast] [--repeats 16] [--default-only]

1. Throughput: the lambda reads of data_samples (for a model of another chemistry: reads the
   simulator makes at the model's chemistry and sample rate; or ``--input``) concatenated ``--repeats`` times into one pod5
   (distinct read ids), basecalled in a fresh process for each setting: 1 and 2 model worker
   threads (one core each, ``--threads``); float32 with torch, ONNX Runtime and OpenVINO, bfloat16
   autocast (native on CPUs with AVX512-BF16/AMX) and int8; two batch sizes. Prints samples/s of the whole run (model
   loading included) as a table.
2. Memory: peak RSS of the same job at 1x, 4x and 16x the input; it should stay flat.

``--default-only`` runs just the default setting (2 workers, batch 32, precision and backend
``auto``: OpenVINO where installed, bfloat16 on CPUs with bf16 units, else float32; then ONNX
Runtime or torch), once per ``--repeats`` value and ``--backends`` entry given (e.g. ``--repeats 16
64 --backends openvino torch``), and skips the memory table.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data_samples" / "lambda_r941" / "reads.pod5"

_JOB = """
import json, resource, sys, time
from basecaller.inference.job import BasecallRequest, basecall_files
args = json.loads(sys.argv[1])
start = time.perf_counter()
report = basecall_files(BasecallRequest(**args))
seconds = time.perf_counter() - start
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
torch = sys.modules.get("torch")  # not imported at all by the OpenVINO path
gpu_mb = torch.cuda.max_memory_allocated() / 2**20 if torch is not None and torch.cuda.is_available() else 0.0
print(json.dumps({"model": report.model, "samples": report.samples, "seconds": seconds, "peak_mb": peak_mb, "gpu_mb": gpu_mb}))
"""
MODES = {"float32": {"precision": "fp32", "backend": "torch"},
         "float32 ONNX Runtime": {"precision": "fp32", "backend": "onnx"},
         "float32 OpenVINO": {"precision": "fp32", "backend": "openvino"},
         "bfloat16": {"precision": "bf16", "backend": "torch"},
         "bfloat16 OpenVINO": {"precision": "bf16", "backend": "openvino"}, "int8": {"int8": True, "backend": "torch"}}


def sample_for(model: str, folder: Path) -> Path:
    """The lambda sample for an R9.4.1 model; for another chemistry, 8 simulated reads of 5 kb
    (200 k samples, as many as the lambda sample has) at the model's chemistry and sample rate."""
    from basecaller.models.config import ModelConfig
    from basecaller.models.directory import find_model_dir

    config = ModelConfig.load(find_model_dir(model) / "config.toml")
    if config.chemistry == "r9.4.1":
        return SAMPLE
    subprocess.run([sys.executable, "-m", "basecaller", "simulate", "--random-genome", "50000", "-n", "8",
                    "--length-mean", "5000", "--length-sd", "500", "--chemistry", config.chemistry,
                    "--sample-rate", str(config.sample_rate_hz), "--seed", "7", "-o", str(folder / "sim")],
                   check=True, capture_output=True)
    return folder / "sim" / "reads.pod5"


def make_input(folder: Path, repeats: int, sample: Path = SAMPLE) -> Path:
    """The sample's reads ``repeats`` times over, with fresh read ids, in one pod5 file."""
    from basecaller.io.open import open_reads
    from basecaller.io.pod5 import write_pod5

    reads = list(open_reads(sample))
    copies = (dataclasses.replace(read, read_id=str(uuid.UUID(int=i * 1000 + j)))
              for i in range(repeats) for j, read in enumerate(reads))
    path = folder / f"input_{repeats}x.pod5"
    write_pod5(str(path), copies)
    return path


def run_job(inputs: Path, output: Path, **settings) -> dict:
    request = {"inputs": [str(inputs)], "output": str(output), "progress": False, "summary": None, **settings}
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", _JOB, json.dumps(request)], capture_output=True, text=True,
                            env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    wall = time.perf_counter() - start
    if result.returncode:
        raise SystemExit(result.stderr)
    stats = json.loads(result.stdout.strip().splitlines()[-1])
    if not stats["samples"]:
        raise SystemExit(f"{settings['model']} called none of the reads of {inputs} (another chemistry?)")
    return {**stats, "wall_seconds": wall}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="r941_4khz_fast")
    parser.add_argument("--repeats", type=int, nargs="+", default=[16])
    parser.add_argument("--input", type=Path, help="reads to repeat (default: see the module docstring)")
    parser.add_argument("--modes", nargs="+", choices=list(MODES), default=list(MODES),
                        help="settings of the full table (bfloat16 is emulated, 10x slower, on CPUs without bf16 units)")
    parser.add_argument("--batches", type=int, nargs="+", default=[32, 128])
    parser.add_argument("--default-only", action="store_true", help="only the default: 2 workers, batch 32, auto")
    parser.add_argument("--backends", nargs="+", default=["auto"], choices=["auto", "torch", "onnx", "openvino"],
                        help="with --default-only: each input is run once per backend, alternating")
    args = parser.parse_args()
    print(f"# {cpu_model()}, model {args.model}")
    if args.default_only:
        return default_only(args)
    args.repeats = args.repeats[0]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        sample = args.input or sample_for(args.model, tmp)
        big = make_input(tmp, args.repeats, sample)
        print("| setting | samples | seconds | samples/s | peak RSS |\n|---|---:|---:|---:|---:|")
        for threads in (1, 2):
            for mode in args.modes:
                settings = MODES[mode]
                for batch in args.batches:
                    stats = run_job(big, tmp / "out.fastq", model=args.model, threads=threads,
                                    batch_size=batch, device="cpu", **settings)
                    name = f"{threads} worker{'s' if threads > 1 else ''}, {mode}, batch {batch}"
                    print(f"| {name} | {stats['samples']:,} | {stats['seconds']:.1f} | "
                          f"{stats['samples'] / stats['seconds']:,.0f} | {stats['peak_mb']:.0f} MB |", flush=True)
        print("\n| input | samples | peak RSS |\n|---|---:|---:|")
        for repeats in (1, 4, 16):
            path = make_input(tmp, repeats, sample)
            stats = run_job(path, tmp / "mem.fastq", model=args.model, threads=1, device="cpu", precision="auto")
            print(f"| {repeats}x | {stats['samples']:,} | {stats['peak_mb']:.0f} MB |", flush=True)


def default_only(args) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        print("| input | samples | job seconds | samples/s (job: model load on) | process seconds | samples/s "
              "(process: Python and torch start-up on) | peak RSS |\n|---|---:|---:|---:|---:|---:|---:|")
        sample = args.input or sample_for(args.model, tmp)
        for repeats in args.repeats:
            path = make_input(tmp, repeats, sample)
            for backend in args.backends:
                stats = run_job(path, tmp / "out.fastq", model=args.model, threads=2,
                                batch_size=32, device="cpu", precision="auto", backend=backend)
                print(f"| {repeats}x, 2 workers, batch 32, {stats['model']} | {stats['samples']:,} | {stats['seconds']:.1f} | "
                      f"{stats['samples'] / stats['seconds']:,.0f} | {stats['wall_seconds']:.1f} | "
                      f"{stats['samples'] / stats['wall_seconds']:,.0f} | {stats['peak_mb']:.0f} MB |", flush=True)


def cpu_model() -> str:
    """The CPU's model name and its widest matrix/vector units (AMX, AVX512-BF16, AVX-512, AVX2)."""
    import platform

    name, flags = platform.processor() or "unknown CPU", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
            elif line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    units = [label for flag, label in (("amx_bf16", "AMX"), ("avx512_bf16", "AVX512-BF16"), ("avx512f", "AVX-512"),
                                       ("avx2", "AVX2")) if flag in flags]
    return f"{name} ({', '.join(units) or 'no AVX2'})"


if __name__ == "__main__":
    start = time.perf_counter()
    main()
    print(f"\n(total {time.perf_counter() - start:.0f} s)")
