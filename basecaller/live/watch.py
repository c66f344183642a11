"""Watch a folder tree and basecall each signal file once it is complete.

``LiveWatcher(LiveOptions(watch_dir, out_dir)).run()`` watches ``watch_dir`` (recursively) for
pod5, fast5 and slow5/blow5 files: file-system events (``watchdog``: inotify, FSEvents, kqueue)
wake it as soon as something changes, and it scans at least every ``poll_interval_s`` for what
events miss (network file systems; without ``watchdog`` installed it only polls). A file is
called once its size and modification time have stayed the same for ``settle_s`` seconds *and*
it reads through without a file-level error (a pod5 or blow5 file still being written has no
end marker yet); otherwise it is retried when it changes. Each file is read and called in one pass, and its outputs are committed only if the
whole file was read and it did not change meanwhile, so nothing is ever called half-read.

Outputs, in ``out_dir``:

- ``calls/<relative input path>.fastq`` (or ``.fastq.gz`` / ``.bam``), one per input file,
  written to a temporary file and renamed into place;
- ``summaries/<relative input path>.summary.tsv``, the file's sequencing-summary rows;
- ``sequencing_summary.tsv``, all files' rows in the order they were called, rewritten
  atomically after each file;
- ``live_journal.jsonl``, one line per called file (written after its outputs are in place).

A restarted watcher reads the journal and calls only the files it does not list. A file whose
outputs were renamed into place but not yet journaled when the process died is called again
and its outputs are replaced, never appended to, so no read is lost or duplicated. A lock on
``out_dir/.live.lock`` keeps a second watcher off the same output folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from basecaller.errors import BasecallerError, InputError, SkipLog
from basecaller.io.open import FORMATS

__all__ = ["JOURNAL", "LiveOptions", "LiveReport", "LiveWatcher", "MERGED_SUMMARY", "watch_folder"]

JOURNAL = "live_journal.jsonl"
MIN_SCAN_GAP_S = 0.02
MERGED_SUMMARY = "sequencing_summary.tsv"
OUTPUT_SUFFIXES = {"fastq": ".fastq", "fastq.gz": ".fastq.gz", "bam": ".bam"}


@dataclass
class LiveOptions:
    watch_dir: str
    out_dir: str
    model: str = "auto"
    device: str = "cpu"
    batch_size: int | None = None
    threads: int | None = None
    precision: str = "auto"
    backend: str = "auto"
    min_samples: int = 200
    min_qscore: float = 0.0
    output_format: str = "fastq"  # fastq, fastq.gz or bam
    poll_interval_s: float = 1.0
    settle_s: float = 2.0
    idle_timeout_s: float | None = None
    stop_file: str | None = None
    check_chemistry: bool = True
    progress: bool = True
    heartbeat_s: float = 30.0
    events: bool = True  # wake on file-system events (watchdog) as well as polling


@dataclass
class LiveReport:
    files_called: int = 0
    files_already_done: int = 0
    reads: int = 0
    reads_below_qscore: int = 0
    bases: int = 0
    samples: int = 0
    calling_seconds: float = 0.0
    stop_reason: str = ""
    not_called: list[str] = field(default_factory=list)
    skips: SkipLog = field(default_factory=SkipLog)

    def line(self) -> str:
        rate = self.samples / self.calling_seconds if self.calling_seconds else 0.0
        pending = f"; not called: {', '.join(self.not_called)}" if self.not_called else ""
        return (f"live: stopped ({self.stop_reason}); called {self.files_called} files this run "
                f"({self.files_already_done} done before), {self.reads} reads, {self.bases:,} bases, "
                f"{self.samples:,} samples at {rate:,.0f} samples/s; {self.skips.summary()}{pending}")


@dataclass
class _Seen:
    size: int
    mtime_ns: int
    since: float  # monotonic time when this (size, mtime) was first seen
    failed: bool = False  # called at this (size, mtime) and failed: wait for a change


class _Retry(Exception):
    """The file is not (yet) complete: discard what was written, try again when it changes."""


class _Aborted(Exception):
    """A stop was requested while a file was being called."""


class _FileSkips(SkipLog):
    """Per-file skip log: file-level errors are kept (they mean "retry later"), read-level
    ones go on to the watcher's log."""

    def __init__(self, parent: SkipLog):
        super().__init__(quiet=True)
        self.parent = parent
        self.file_error: InputError | str | None = None

    def skip(self, error, reason: str = "bad input") -> None:
        file_level = reason in ("unreadable file", "unusable path") or (
            isinstance(error, InputError) and error.read_id is None)
        if file_level:
            self.file_error = self.file_error or error
        else:
            self.parent.skip(error, reason)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class LiveWatcher:
    """Poll, call complete files with one loaded model, journal, repeat until told to stop."""

    def __init__(self, options: LiveOptions, log: Callable[[str], None] | None = None):
        if options.output_format not in OUTPUT_SUFFIXES:
            raise InputError(f"unknown output format {options.output_format!r}; use one of "
                             f"{', '.join(OUTPUT_SUFFIXES)}")
        self.options = options
        self.watch_dir = Path(options.watch_dir)
        self.out_dir = Path(options.out_dir)
        self.log = log or (lambda line: print(line, file=sys.stderr, flush=True))
        self.report = LiveReport()
        self._stop = threading.Event()  # stop after (or, with _abort, during) the current file
        self._abort = threading.Event()
        self._wake = threading.Event()
        self._seen: dict[str, _Seen] = {}
        self._done: dict[str, dict] = {}  # relative path -> journal entry
        self._changed_after_done: set[str] = set()
        self._caller = None
        self._lock_handle = None
        self._merged_rows = 0
        self._observer = None

    # --- control -----------------------------------------------------------------------------

    def request_stop(self, abort_current: bool = True) -> None:
        """Stop soon (thread- and signal-safe). With ``abort_current`` the file being called is
        abandoned at the next read and left for the next run; otherwise it is finished."""
        if abort_current:
            self._abort.set()
        self._stop.set()
        self._wake.set()

    # --- the loop ----------------------------------------------------------------------------

    def run(self) -> LiveReport:
        if not self.watch_dir.is_dir():
            raise InputError("not a directory", str(self.watch_dir))
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self._take_lock()
        try:
            self._start_events()
            self._load_journal()
            self._rewrite_merged_summary()
            self.report.files_already_done = len(self._done)
            if self._done:
                self.log(f"live: resuming; {len(self._done)} files already called (from {JOURNAL})")
            self._loop()
        finally:
            self._stop_events()
            self._release_lock()
        self.report.not_called = sorted(rel for rel in self._seen if rel not in self._done)
        return self.report

    def _loop(self) -> None:
        options = self.options
        last_activity = time.monotonic()
        last_heartbeat = time.monotonic()
        while True:
            stop_file = bool(options.stop_file) and os.path.exists(options.stop_file)
            if self._stop.is_set():
                self.report.stop_reason = "signal" if self._abort.is_set() else "stop requested"
                return
            changed = self._scan()
            now = time.monotonic()
            if changed:
                last_activity = now
            ready = self._ready(now)
            for rel in ready:
                if self._stop.is_set():
                    break
                if self._call_file(rel):
                    last_activity = time.monotonic()
            if self._stop.is_set():
                continue
            if stop_file:
                self.report.stop_reason = f"stop file {options.stop_file}"
                return
            now = time.monotonic()
            if options.idle_timeout_s is not None and now - last_activity >= options.idle_timeout_s and not ready:
                self.report.stop_reason = f"idle for {options.idle_timeout_s:g} s"
                return
            if options.progress and now - last_heartbeat >= options.heartbeat_s:
                self.log(self._progress_line())
                last_heartbeat = now
            if not ready:
                self._wake.wait(self._wait_s(time.monotonic()))
                self._wake.clear()
                time.sleep(MIN_SCAN_GAP_S)  # a burst of write events makes one scan, not hundreds

    def _wait_s(self, now: float) -> float:
        """How long to sleep before the next scan: the poll interval; with events, also no later
        than the moment the next pending file may have settled (a file that stops changing sends
        no event)."""
        options = self.options
        if self._observer is None:
            return options.poll_interval_s
        settling = [seen.since + options.settle_s - now for rel, seen in self._seen.items()
                    if rel not in self._done and not seen.failed]
        return min([options.poll_interval_s, *(s for s in settling if s > 0)])  # past ones: nothing to wait for

    # --- file-system events --------------------------------------------------------------------

    def _start_events(self) -> None:
        if not self.options.events:
            return
        try:
            from watchdog.events import FileSystemEventHandler
            from watchdog.observers import Observer
        except ImportError:
            self.log(f"live: watchdog is not installed; polling every {self.options.poll_interval_s:g} s "
                     "(pip install watchdog for file-system events)")
            return
        wake = self._wake

        class _Wake(FileSystemEventHandler):
            def on_any_event(self, event) -> None:  # noqa: D102 - any change is worth a scan
                wake.set()

        observer = Observer()
        try:
            observer.schedule(_Wake(), str(self.watch_dir), recursive=True)
            observer.daemon = True
            observer.start()
        except (OSError, RuntimeError) as error:  # e.g. the inotify watch limit
            self.log(f"live: file-system events unavailable ({error}); polling every "
                     f"{self.options.poll_interval_s:g} s")
            return
        self._observer = observer

    def _stop_events(self) -> None:
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)
            self._observer = None

    # --- finding files -----------------------------------------------------------------------

    def _candidates(self) -> dict[str, os.stat_result]:
        found: dict[str, os.stat_result] = {}
        out_dir = self.out_dir.resolve()
        for root, dirs, files in os.walk(self.watch_dir):
            dirs[:] = sorted(d for d in dirs if not d.startswith(".") and Path(root, d).resolve() != out_dir)
            for name in files:
                if name.startswith(".") or ".tmp" in name or Path(name).suffix.lower() not in FORMATS:
                    continue
                path = Path(root, name)
                try:
                    found[path.relative_to(self.watch_dir).as_posix()] = path.stat()
                except OSError:  # vanished between listing and stat
                    continue
        return found

    def _scan(self) -> bool:
        """Update what is known about every file; True if anything appeared or changed."""
        now, wall = time.monotonic(), time.time()
        changed = False
        current = self._candidates()
        for rel, st in current.items():
            if rel in self._done:
                entry = self._done[rel]
                if (st.st_size, st.st_mtime_ns) != (entry["size"], entry["mtime_ns"]) \
                        and rel not in self._changed_after_done:
                    self._changed_after_done.add(rel)
                    self.log(f"live: file {rel}: changed after it was called; not called again")
                continue
            seen = self._seen.get(rel)
            if seen is None or (seen.size, seen.mtime_ns) != (st.st_size, st.st_mtime_ns):
                # a file already untouched for settle_s when first seen counts as settled
                since = now - (wall - st.st_mtime_ns / 1e9) if seen is None else now
                self._seen[rel] = _Seen(st.st_size, st.st_mtime_ns, min(since, now))
                changed = True
        for rel in [rel for rel in self._seen if rel not in current and rel not in self._done]:
            self.log(f"live: file {rel}: vanished before it was called")
            del self._seen[rel]
            changed = True
        return changed

    def _ready(self, now: float) -> list[str]:
        ready = [(seen.mtime_ns, rel) for rel, seen in self._seen.items()
                 if rel not in self._done and not seen.failed and seen.size > 0
                 and now - seen.since >= self.options.settle_s]
        return [rel for _, rel in sorted(ready)]

    # --- calling one file --------------------------------------------------------------------

    def _outputs(self, rel: str) -> tuple[Path, Path]:
        suffix = OUTPUT_SUFFIXES[self.options.output_format]
        return self.out_dir / "calls" / f"{rel}{suffix}", self.out_dir / "summaries" / f"{rel}.summary.tsv"

    def _call_file(self, rel: str) -> bool:
        """Call one file; True if its outputs were committed."""
        from basecaller.io.open import open_reads
        from basecaller.io.writers import open_writers

        path = self.watch_dir / rel
        seen = self._seen[rel]
        calls_path, summary_path = self._outputs(rel)
        calls_path.parent.mkdir(parents=True, exist_ok=True)
        summary_path.parent.mkdir(parents=True, exist_ok=True)
        file_skips = _FileSkips(self.report.skips)
        counts = {"reads": 0, "below": 0, "bases": 0, "samples": 0}
        start = time.perf_counter()
        try:
            reads = open_reads([str(path)], skips=file_skips)
            first = next(reads, None)
            if first is None:
                self._check_complete(path, seen, file_skips)
                caller, groups = None, {}
            else:
                loading = self._caller is None
                caller, groups = self._caller_for(first, str(path))
                if loading:  # model loading is not calling time
                    start = time.perf_counter()
            with open_writers(calls_path, groups, False, summary_path) as writers:
                if caller is not None:
                    import itertools

                    for call in caller.call(self._with_read_groups(itertools.chain([first], reads))):
                        if self._abort.is_set():
                            raise _Aborted
                        counts["samples"] += call.num_samples
                        if call.mean_qscore < self.options.min_qscore:
                            counts["below"] += 1
                            continue
                        writers.write(call)
                        counts["reads"] += 1
                        counts["bases"] += len(call.sequence)
                self._check_complete(path, seen, file_skips)
        except _Aborted:
            self.log(f"live: file {rel}: stopped while calling; it will be called by the next run")
            return False
        except _Retry as why:
            seen.failed = True
            if not path.exists():
                self.log(f"live: file {rel}: vanished before it was called")
                self._seen.pop(rel, None)
            else:
                self.log(f"live: file {rel}: not called yet ({why}); retrying when it changes")
            return False
        except BasecallerError as error:  # e.g. no model for this chemistry: the file is unusable as it is
            seen.failed = True
            self.log(f"live: file {rel}: cannot be called ({error}); retrying when it changes")
            return False
        seconds = time.perf_counter() - start
        self._journal(rel, seen, counts, calls_path, summary_path)
        self._append_merged(summary_path)
        report = self.report
        report.files_called += 1
        report.reads += counts["reads"]
        report.reads_below_qscore += counts["below"]
        report.bases += counts["bases"]
        report.samples += counts["samples"]
        report.calling_seconds += seconds
        if self.options.progress:
            self.log(self._progress_line(f"{rel}: {counts['reads']} reads in {seconds:.1f} s"))
        return True

    def _check_complete(self, path: Path, seen: _Seen, file_skips: _FileSkips) -> None:
        if file_skips.file_error is not None:
            message = getattr(file_skips.file_error, "message", None) or str(file_skips.file_error)
            raise _Retry(f"incomplete or unreadable: {message}")
        try:
            st = path.stat()
        except OSError:
            raise _Retry("vanished while it was being called") from None
        if (st.st_size, st.st_mtime_ns) != (seen.size, seen.mtime_ns):
            seen.size, seen.mtime_ns, seen.since = st.st_size, st.st_mtime_ns, time.monotonic()
            raise _Retry("it changed while it was being called")

    def _caller_for(self, first, path: str):
        """The one Basecaller (made for the first file's first read) and this file's read groups."""
        from basecaller.io.open import scan_runs
        from basecaller.io.writers import read_group

        if self._caller is None:
            from basecaller.inference.job import (
                cpu_model_workers,
                device_type_of,
                job_device,
                set_torch_threads,
            )
            from basecaller.inference.pipeline import Basecaller
            from basecaller.models.directory import choose_model

            options = self.options
            device = job_device(options.device)
            workers = cpu_model_workers(options.threads) if str(device) == "cpu" else 1
            self._caller = Basecaller(choose_model(options.model, first, device_type_of(device)), device=device,
                                      batch_size=options.batch_size, model_workers=workers,
                                      precision=options.precision, backend=options.backend,
                                      min_samples=options.min_samples,
                                      emit_moves=False, skips=self.report.skips, read_groups={},
                                      check_chemistry=options.check_chemistry)
            set_torch_threads(self._caller, options.threads)
            self.log(f"live: model {self._caller.config.name} on {device} ({self._caller.backend}), "
                     f"{workers} model worker(s)")
        name = self._caller.config.name
        groups = {first.run_id: read_group(first.run_id, name, first.flow_cell_id)}
        if self.options.output_format == "bam":  # the BAM header lists every run's read group up front
            groups.update({run_id: read_group(run_id, name, info["flow_cell_id"])
                           for run_id, info in scan_runs([path]).items()})
        self._caller.read_groups.update({run: rg for run, (rg, _) in groups.items()})
        return self._caller, dict(groups.values())

    def _with_read_groups(self, reads):
        """Pass reads on, registering the read group of any new run before its read is called
        (FASTQ headers need only the group id, so the file need not be scanned first)."""
        groups, name = self._caller.read_groups, self._caller.config.name
        for read in reads:
            if read.run_id not in groups:
                groups[read.run_id] = f"{read.run_id}_{name}"
            yield read

    # --- journal and merged summary ------------------------------------------------------------

    def _take_lock(self) -> None:
        handle = open(self.out_dir / ".live.lock", "a")
        try:
            import fcntl

            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except ImportError:  # no fcntl (Windows): no lock
            pass
        except OSError:
            handle.close()
            raise InputError("another `basecaller live` is writing to this output folder", str(self.out_dir)) from None
        self._lock_handle = handle

    def _release_lock(self) -> None:
        if self._lock_handle is not None:
            self._lock_handle.close()
            self._lock_handle = None

    def _load_journal(self) -> None:
        journal = self.out_dir / JOURNAL
        if not journal.exists():
            return
        with open(journal) as handle:
            for line in handle:
                try:
                    entry = json.loads(line)
                    rel = entry["file"]
                except (ValueError, KeyError, TypeError):  # a line cut short by a crash: that file is redone
                    continue
                calls_path, summary_path = self._outputs(rel)
                if calls_path.exists() and summary_path.exists():
                    self._done[rel] = entry
                else:
                    self.log(f"live: file {rel}: journaled but its outputs are missing; calling it again")

    def _journal(self, rel: str, seen: _Seen, counts: dict, calls_path: Path, summary_path: Path) -> None:
        entry = {"file": rel, "size": seen.size, "mtime_ns": seen.mtime_ns, "reads": counts["reads"],
                 "samples": counts["samples"], "calls": calls_path.relative_to(self.out_dir).as_posix(),
                 "summary": summary_path.relative_to(self.out_dir).as_posix(), "time": time.time()}
        _fsync_dir(calls_path.parent)
        with open(self.out_dir / JOURNAL, "a") as handle:
            handle.write(json.dumps(entry) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        self._done[rel] = entry

    def _summary_header(self) -> str:
        from basecaller.io.writers import SUMMARY_COLUMNS

        return "\t".join(SUMMARY_COLUMNS) + "\n"

    def _rewrite_merged_summary(self) -> None:
        """The merged summary from the per-file summaries of every journaled file, in order."""
        from basecaller.io.writers import atomic_path

        with atomic_path(self.out_dir / MERGED_SUMMARY) as tmp, open(tmp, "w") as out:
            out.write(self._summary_header())
            for rel in self._done:
                with open(self._outputs(rel)[1]) as part:
                    next(part, None)  # its header
                    shutil.copyfileobj(part, out)

    def _append_merged(self, summary_path: Path) -> None:
        """Rewrite the merged summary as the old one plus this file's rows (atomically)."""
        from basecaller.io.writers import atomic_path

        merged = self.out_dir / MERGED_SUMMARY
        with atomic_path(merged) as tmp:
            if merged.exists():
                shutil.copyfile(merged, tmp)
            else:
                tmp.write_text(self._summary_header())
            with open(tmp, "a") as out, open(summary_path) as part:
                next(part, None)
                shutil.copyfileobj(part, out)

    # --- progress ----------------------------------------------------------------------------

    def _progress_line(self, prefix: str = "") -> str:
        report = self.report
        rate = report.samples / report.calling_seconds if report.calling_seconds else 0.0
        now = time.monotonic()
        pending = [rel for rel in self._seen if rel not in self._done]
        settling = sum(1 for rel in pending if now - self._seen[rel].since < self.options.settle_s)
        failed = sum(1 for rel in pending if self._seen[rel].failed)
        head = f"live: {prefix}; " if prefix else "live: "
        return (f"{head}total {len(self._done)} files, {report.reads:,} reads, {rate:,.0f} samples/s; "
                f"backlog {len(pending)} files ({settling} being written, {failed} waiting for a change)")


def watch_folder(watch_dir: str, out_dir: str, **options) -> LiveReport:
    """Run a watcher until it stops (idle timeout, stop file); keyword arguments are LiveOptions."""
    return LiveWatcher(LiveOptions(watch_dir, out_dir, **options)).run()
