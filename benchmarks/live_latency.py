"""`basecaller live` latency and throughput while playback writes pod5 files into a folder.

    OMP_NUM_THREADS=1 taskset -c 0 python benchmarks/live_latency.py [--files 8] [--rate 40000]
        [--minion-seconds 30] [--threads 1] [--settle 0.5] [--model r941_4khz_fast]

1. Latency: the playback writer writes ``--files`` pod5 files (the 7 lambda reads of
   data_samples, 197,019 samples each, new read ids per copy) at ``--rate`` samples/s, below
   what one core calls, while a watcher runs in a thread. Per file: seconds from the file's
   completion (its rename into the folder) to its calls being on disk (its journal line).
2. Steady throughput at MinION rate: the writer writes at 512 channels x 4 kHz (2,048,000
   samples/s) for ``--minion-seconds``; reported are the samples per second the watcher calls
   and the backlog left when writing stops.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
POD5 = REPO / "data_samples" / "lambda_r941" / "reads.pod5"


def run_phase(rate: float, files: int, threads: int, settle: float, duration: float | None = None,
              model: str = "r941_4khz_fast", backend: str = "auto") -> dict:
    from basecaller.live.playback import FileWriter
    from basecaller.live.watch import JOURNAL, LiveOptions, LiveWatcher

    with tempfile.TemporaryDirectory() as tmp:
        watch, out = Path(tmp) / "pod5", Path(tmp) / "out"
        writer = FileWriter([POD5], watch, reads_per_file=7, samples_per_s=rate, repeat=files)
        watcher = LiveWatcher(LiveOptions(str(watch), str(out), model=model, threads=threads, backend=backend,
                                          poll_interval_s=0.1, settle_s=settle, progress=False),
                              log=lambda line: None)
        FileWriter([POD5], watch, reads_per_file=7, prefix="warmup").run()  # loads the model first
        thread = threading.Thread(target=watcher.run)
        thread.start()
        while len(watcher._done) < 1:
            time.sleep(0.1)
        done_before = dict(watcher._done)
        samples_before = watcher.report.samples
        start = time.time()
        writer.start()
        if duration is not None:
            time.sleep(duration)
            writer.stop()
        writer.join()
        written_at_stop = len(writer.written)
        stop_time = time.time()
        called_at_stop = len(watcher._done) - len(done_before)
        samples_at_stop = watcher.report.samples - samples_before
        if duration is None:
            while len(watcher._done) - len(done_before) < len(writer.written):
                time.sleep(0.05)
        watcher.request_stop(abort_current=True)
        thread.join()
        entries = {Path(e["file"]).name: e for e in
                   (json.loads(line) for line in (out / JOURNAL).read_text().splitlines())}
        latencies = [entries[Path(p).name]["time"] - t for p, t in writer.written if Path(p).name in entries]
        return {"written": written_at_stop, "called": called_at_stop, "latencies": latencies,
                "called_rate": samples_at_stop / (stop_time - start), "written_rate":
                written_at_stop * 197019 / (stop_time - start)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--rate", type=float, default=40000)
    parser.add_argument("--minion-seconds", type=float, default=30)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--model", default="r941_4khz_fast")
    parser.add_argument("--settle", type=float, default=0.5)
    parser.add_argument("--backend", default="auto", choices=["auto", "torch", "onnx", "openvino"])
    args = parser.parse_args()
    from basecaller.live.playback import MINION_SAMPLES_PER_S

    print(f"# live_latency: {args.model} ({args.backend} backend), {args.threads} model thread(s), settle {args.settle} s, poll 0.1 s")
    a = run_phase(args.rate, args.files, args.threads, args.settle, model=args.model, backend=args.backend)
    lat = a["latencies"]
    print(f"latency at {args.rate:,.0f} samples/s written ({len(lat)} files of 197,019 samples): file complete -> "
          f"calls on disk median {statistics.median(lat):.2f} s, p95 {np.percentile(lat, 95):.2f} s, "
          f"max {max(lat):.2f} s")
    b = run_phase(MINION_SAMPLES_PER_S, 10000, args.threads, args.settle, duration=args.minion_seconds, model=args.model,
                  backend=args.backend)
    print(f"MinION rate ({MINION_SAMPLES_PER_S:,} samples/s offered) for {args.minion_seconds:g} s: written "
          f"{b['written']} files ({b['written_rate']:,.0f} samples/s actually written), called {b['called']} "
          f"files = {b['called_rate']:,.0f} samples/s; backlog when writing stopped: {b['written'] - b['called']} files")


if __name__ == "__main__":
    main()
