"""``basecall_files``: the whole basecall job (find inputs, pick the model, write outputs)."""

from __future__ import annotations

import itertools
import os
import sys
import time
from dataclasses import dataclass, field

import torch

from basecaller.basecall import Basecaller, chemistry_of
from basecaller.errors import InputError, SkipLog
from basecaller.io.open import find_signal_files, load_read_ids, open_reads, scan_runs
from basecaller.io.read import Read
from basecaller.io.writers import open_writers, read_group, read_ids_in_output
from basecaller.models.config import default_model_name, find_model_dir, shipped_models
from basecaller.train_ctc import load_model
from basecaller.training.device import select_device

__all__ = ["BasecallRequest", "BasecallReport", "basecall_files", "choose_model"]


@dataclass
class BasecallRequest:
    inputs: list[str]
    output: str
    model: str = "auto"
    device: str = "auto"
    batch_size: int | None = None
    window: int | None = None
    overlap: int | None = None
    beam_size: int = 0
    read_ids_file: str | None = None
    min_qscore: float = 0.0
    min_samples: int = 200
    emit_moves: bool = False
    summary: str | None = None
    resume: bool = False
    int8: bool = False
    precision: str = "auto"
    threads: int | None = None
    check_chemistry: bool = True
    progress: bool = True


@dataclass
class BasecallReport:
    model: str = ""
    reads_written: int = 0
    reads_already_done: int = 0
    reads_below_qscore: int = 0
    bases: int = 0
    samples: int = 0
    seconds: float = 0.0
    skips: SkipLog = field(default_factory=SkipLog)

    def line(self) -> str:
        rate = self.samples / self.seconds if self.seconds else 0.0
        return (f"basecalled {self.reads_written} reads ({self.bases:,} bases, {self.samples:,} samples) with "
                f"{self.model} in {self.seconds:.1f} s = {rate:,.0f} samples/s; {self.reads_below_qscore} below "
                f"min qscore; {self.reads_already_done} already done; {self.skips.summary()}")


def choose_model(name: str, first_read: Read | None) -> str:
    """The model directory to use: ``name``, or for "auto" the shipped model matching the
    first read's chemistry and sample rate (any rate of that chemistry as a fallback)."""
    if name != "auto":
        return str(find_model_dir(name))
    if first_read is None:
        raise InputError("no readable reads in the inputs")
    chemistry = chemistry_of(first_read) or "r9.4.1"
    exact = default_model_name(chemistry, first_read.sample_rate_hz)
    candidates = [exact] + [m for m in shipped_models() if m.startswith(chemistry.replace(".", "")) and m != exact]
    for candidate in candidates:
        if candidate in shipped_models():
            return str(find_model_dir(candidate))
    raise InputError(f"no shipped model for {chemistry} at {first_read.sample_rate_hz:g} Hz "
                     f"(shipped: {', '.join(shipped_models()) or 'none'}); pass --model")


def _peek(reads):
    first = next(reads, None)
    return first, (itertools.chain([first], reads) if first is not None else iter(()))


def cpu_model_workers(threads: int | None) -> int:
    """Model worker threads on CPU: ``threads``, or every core this process may use."""
    if threads:
        return threads
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def basecall_files(request: BasecallRequest) -> BasecallReport:
    """Basecall every readable read of the inputs into ``request.output`` (atomically)."""
    device = select_device(request.device)
    workers = cpu_model_workers(request.threads) if device.type == "cpu" else 1
    if device.type == "cpu":
        torch.set_num_threads(1)  # one thread per model worker: faster than intra-op threads here
    elif request.threads:
        torch.set_num_threads(request.threads)
    report = BasecallReport()
    files = find_signal_files(request.inputs, report.skips)
    if not files:
        raise InputError("no pod5/fast5/slow5 files found in the inputs")
    done = read_ids_in_output(request.output) if request.resume else set()
    wanted = load_read_ids(request.read_ids_file) if request.read_ids_file else None
    reads = (r for r in open_reads(files, read_ids=wanted, skips=report.skips) if r.read_id not in done)
    report.reads_already_done = len(done)
    first, reads = _peek(reads)
    model_dir = choose_model(request.model, first)
    model = load_model(model_dir)
    report.model = model.config.name
    groups = {run_id: read_group(run_id, model.config.name, info["flow_cell_id"])
              for run_id, info in scan_runs(files).items()}
    caller = Basecaller(model, device=device, batch_size=request.batch_size, model_workers=workers,
                        window=request.window, overlap=request.overlap, beam_size=request.beam_size,
                        int8=request.int8, precision=request.precision, min_samples=request.min_samples, emit_moves=request.emit_moves,
                        skips=report.skips, read_groups={run: rg for run, (rg, _) in groups.items()},
                        check_chemistry=request.check_chemistry)
    with open_writers(request.output, dict(groups.values()), request.emit_moves, request.summary,
                      resume=request.resume and bool(done)) as writers:
        _write_calls(caller, reads, writers, request, report)
    return report


def _write_calls(caller: Basecaller, reads, writers, request: BasecallRequest, report: BasecallReport) -> None:
    from tqdm import tqdm

    start = time.perf_counter()
    with tqdm(unit=" reads", disable=not request.progress, file=sys.stderr) as bar:
        for call in caller.call(reads):
            report.samples += call.num_samples
            if call.mean_qscore < request.min_qscore:
                report.reads_below_qscore += 1
            else:
                writers.write(call)
                report.reads_written += 1
                report.bases += len(call.sequence)
            elapsed = time.perf_counter() - start
            bar.update(1)
            bar.set_postfix_str(f"{report.samples / max(elapsed, 1e-9):,.0f} samples/s")
    report.seconds = time.perf_counter() - start
