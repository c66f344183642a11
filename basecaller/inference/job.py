"""``basecall_files``: the whole basecall job (find inputs, pick the model, write outputs)."""

from __future__ import annotations

import contextlib
import itertools
import os
import sys
import time
from dataclasses import dataclass, field

from basecaller.device import select_device, select_device_type
from basecaller.errors import InputError, SkipLog
from basecaller.inference.pipeline import Basecaller
from basecaller.io.journal import CallJournal
from basecaller.io.open import find_signal_files, load_read_ids, open_reads, scan_runs
from basecaller.io.writers import (
    check_output_path,
    open_writers,
    output_format,
    read_group,
    read_ids_in_output,
)
from basecaller.models.directory import choose_model

__all__ = ["BasecallRequest", "BasecallReport", "basecall_files", "cpu_model_workers", "job_device",
           "set_torch_threads"]


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
    move_bias: float | None = None  # None: the model's own (config.toml [basecall] move_bias)
    read_ids_file: str | None = None
    min_qscore: float = 0.0
    min_samples: int = 200
    emit_moves: bool = False
    summary: str | None = None
    resume: bool = False
    int8: bool = False
    precision: str = "auto"
    backend: str = "auto"
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


def _peek(reads):
    first = next(reads, None)
    return first, (itertools.chain([first], reads) if first is not None else iter(()))


def cpu_model_workers(threads: int | None) -> int:
    """Model worker threads on CPU: ``threads``, or every core this process may use."""
    if threads:
        return threads
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def check_outputs(request: BasecallRequest) -> None:
    """Every output path problem, found before any work starts (one line each)."""
    for path in (request.output, request.summary):
        if path:
            check_output_path(path)
    output_format(request.output)
    if request.summary and os.path.abspath(request.summary) == os.path.abspath(request.output):
        raise InputError("the summary and the calls cannot be the same file", request.output)


def basecall_files(request: BasecallRequest) -> BasecallReport:
    """Basecall every readable read of the inputs into ``request.output`` (atomically; each
    finished read is journaled as it goes, so ``resume`` after any interruption calls only
    what is missing)."""
    check_outputs(request)
    device = job_device(request.device)
    workers = cpu_model_workers(request.threads) if device == "cpu" else 1
    report = BasecallReport()
    files = find_signal_files(request.inputs, report.skips)
    if not files:
        raise InputError("no pod5/fast5/slow5 files found in the inputs")
    journal = CallJournal(request.output)
    recovered = _recover(journal, request)
    done = (read_ids_in_output(request.output) if request.resume else set()) | {c.read_id for c, _ in recovered}
    wanted = load_read_ids(request.read_ids_file) if request.read_ids_file else None
    reads = _unique((r for r in open_reads(files, read_ids=wanted, skips=report.skips) if r.read_id not in done),
                    report.skips)
    report.reads_already_done = len(done)
    first, reads = _peek(reads)
    resume_old = request.resume and os.path.exists(request.output)
    if first is None:  # nothing (left) to call: the outputs still appear, complete
        groups, caller = {}, None
    else:
        caller = _caller(choose_model(request.model, first, device_type_of(device)), device, workers, request,
                         report.skips)
        name = caller.config.name
        if request.model == "auto" and not name.endswith("_fast"):
            print(f"note: --model auto runs {name} on this CPU (no AMX), the model that keeps up with a MinION "
                  f"here; --model {name.rsplit('_', 1)[0]}_fast, the default on AMX CPUs and GPUs, is slower here "
                  "(README: \"Choosing an R9.4.1 model\")", file=sys.stderr)
        groups = {run_id: read_group(run_id, name, info["flow_cell_id"]) for run_id, info in scan_runs(files).items()}
        caller.read_groups.update({run: rg for run, (rg, _) in groups.items()})
        report.model = f"{name} ({caller.backend})"
        recovered = _same_model(recovered, name)
    with open_writers(request.output, dict(groups.values()), request.emit_moves, request.summary,
                      resume=resume_old) as writers, _journaling(journal):
        _replay(recovered, writers, read_ids_in_output(request.output) if resume_old else set())
        if caller is not None:
            _write_calls(caller, reads, writers, journal, request, report)
    journal.remove()  # the outputs are complete and in place
    return report


def _caller(model_dir: str, device, workers: int, request: BasecallRequest, skips: SkipLog) -> Basecaller:
    caller = Basecaller(model_dir, device=device, batch_size=request.batch_size, model_workers=workers,
                      window=request.window, overlap=request.overlap, beam_size=request.beam_size,
                      int8=request.int8, precision=request.precision, backend=request.backend, min_samples=request.min_samples,
                      emit_moves=request.emit_moves, skips=skips, check_chemistry=request.check_chemistry,
                      move_bias=request.move_bias)
    set_torch_threads(caller, request.threads)
    return caller


def job_device(device: str):
    """"cpu" (without importing torch where no GPU driver exists), else the torch.device."""
    return "cpu" if select_device_type(device) == "cpu" else select_device(device)


def device_type_of(device) -> str:
    """"cpu", "cuda" or "mps" of a ``job_device`` answer."""
    return device if isinstance(device, str) else device.type


def set_torch_threads(caller: Basecaller, threads: int | None) -> None:
    """For the torch backend: one torch thread per model worker on a CPU (faster than intra-op
    threads here), ``threads`` on a GPU; other backends set their own threads."""
    if caller.backend != "torch":
        return
    import torch

    if caller.device.type == "cpu":
        torch.set_num_threads(1)
    elif threads:
        torch.set_num_threads(threads)


def _recover(journal: CallJournal, request: BasecallRequest) -> list:
    """The finished reads of an interrupted earlier run (with ``resume``); without it, an old
    journal is set aside, with a line saying so."""
    if not journal.exists():
        return []
    if request.resume:
        recovered = journal.recover()
        print(f"resuming: {len(recovered)} reads recovered from {journal.path}", file=sys.stderr)
        return recovered
    print(f"note: discarding {journal.path} of an interrupted earlier run (pass --resume to keep its reads)",
          file=sys.stderr)
    journal.remove()
    return []


@contextlib.contextmanager
def _journaling(journal: CallJournal):
    journal.open()
    try:
        yield journal
    except BaseException:
        journal.close()
        if journal.exists():
            print(f"interrupted: the reads called so far are kept in {journal.path}; run the same command with "
                  "--resume to call only the rest", file=sys.stderr)
        raise
    journal.close()


def _same_model(recovered: list, model_name: str) -> list:
    """The recovered calls, when ``model_name`` made them all (their read groups end in it);
    InputError when the earlier run used another model."""
    others = {c.read_group for c, _ in recovered if c.read_group and not c.read_group.endswith(f"_{model_name}")}
    if others:
        raise InputError(f"--resume: the interrupted run used another model (read group {sorted(others)[0]}); "
                         f"this run uses {model_name}. Rerun without --resume to start afresh")
    return recovered


def _replay(recovered: list, writers, already_in_output: set[str]) -> None:
    """Write the recovered calls (those that passed the filters) into the new outputs."""
    for call, written in recovered:
        if written and call.read_id not in already_in_output:
            writers.write(call)
            already_in_output.add(call.read_id)


def _unique(reads, skips: SkipLog):
    """Reads with a new id; a repeated read id (in the same or another file) is skipped and
    counted, keeping the first."""
    seen: dict[str, str] = {}
    for read in reads:
        if read.read_id in seen:
            skips.skip(InputError(f"duplicate read id (first seen in {seen[read.read_id]})", read.source_path,
                                  read.read_id), "duplicate read id")
            continue
        seen[read.read_id] = read.source_path
        yield read


def _write_calls(caller: Basecaller, reads, writers, journal: CallJournal, request: BasecallRequest,
                 report: BasecallReport) -> None:
    from tqdm import tqdm

    start = time.perf_counter()
    with tqdm(unit=" reads", disable=not request.progress, file=sys.stderr) as bar:
        for call in caller.call(reads):
            report.samples += call.num_samples
            passed = call.mean_qscore >= request.min_qscore
            if passed:
                writers.write(call)
                report.reads_written += 1
                report.bases += len(call.sequence)
            else:
                report.reads_below_qscore += 1
            journal.append(call, written=passed)
            elapsed = time.perf_counter() - start
            bar.update(1)
            bar.set_postfix_str(f"{report.samples / max(elapsed, 1e-9):,.0f} samples/s")
    report.seconds = time.perf_counter() - start
