"""Where a basecall job's CPU time goes, by thread: the model workers (forward passes), the
decoders, the readers (pod5 decompression, normalisation, windows) and the main thread
(stitching, writing). CPU seconds, not wall-clock, so it reads the same on a busy machine.

    OMP_NUM_THREADS=1 python benchmarks/cpu_by_thread.py [--model r941_4khz_lite] [--repeats 32]

The input is ``basecall_throughput.py``'s: the lambda sample ``--repeats`` times over in one pod5.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from basecall_throughput import cpu_model, make_input  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


class ThreadClock:
    """CPU seconds per OS thread of this process, with each thread's Python name, sampled in a
    background thread (threads that end between samples keep their last reading)."""

    def __init__(self, every: float = 0.25):
        self.names: dict[int, str] = {threading.get_native_id(): "main"}
        self.seconds: dict[int, float] = {}
        self.every, self._stop = every, threading.Event()
        self._thread = threading.Thread(target=self._run, name="clock", daemon=True)

    def sample(self) -> None:
        for thread in threading.enumerate():
            if thread.native_id and thread is not threading.main_thread():
                self.names[thread.native_id] = thread.name
        for tid in os.listdir("/proc/self/task"):
            try:
                fields = Path(f"/proc/self/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            self.seconds[int(tid)] = (int(fields[11]) + int(fields[12])) / TICK  # utime + stime

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.sample()

    def __enter__(self) -> ThreadClock:
        self.sample()
        self._start = dict(self.seconds)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()

    def by_role(self) -> dict[str, float]:
        """CPU seconds spent since ``__enter__``, summed per role."""
        roles: dict[str, float] = {}
        for tid, seconds in self.seconds.items():
            role = _role(self.names.get(tid, "other (torch, pod5)"))
            if role == "clock":
                continue
            roles[role] = roles.get(role, 0.0) + seconds - self._start.get(tid, 0.0)
        return roles


def _role(name: str) -> str:
    if name.startswith("model"):
        return "model workers (forward passes)"
    if name.startswith("decode"):
        return "decoders (decoding, qualities)"
    if "produce" in name:
        return "readers (background stages)"
    return name


def main() -> None:
    from basecaller.inference.job import BasecallRequest, basecall_files

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="r941_4khz_lite")
    parser.add_argument("--repeats", type=int, default=32)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = make_input(Path(tmp), args.repeats)
        request = BasecallRequest(inputs=[str(path)], output=f"{tmp}/calls.fastq", progress=False, summary=None,
                                  model=args.model, threads=2, batch_size=32, device="cpu", precision="auto",
                                  backend="auto")
        start = time.perf_counter()
        with ThreadClock() as clock:
            report = basecall_files(request)
        wall = time.perf_counter() - start
    roles = clock.by_role()
    total = sum(roles.values())
    print(f"# {cpu_model()}; {report.model}, {report.samples:,} samples, {wall:.1f} s wall, {total:.1f} CPU s\n")
    print("| thread | CPU seconds | share |\n|---|---:|---:|")
    for role, seconds in sorted(roles.items(), key=lambda item: -item[1]):
        print(f"| {role} | {seconds:.2f} | {100 * seconds / total:.1f} % |")


if __name__ == "__main__":
    main()
