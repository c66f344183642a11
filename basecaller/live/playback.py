"""Replay recorded reads as a live run delivers them, for tests and benchmarks.

``Playback(paths, chunk_s=0.4).rounds()`` replays pod5 files per channel, in each read's own
time order (its ``start_sample``): every round advances the run clock by one chunk and hands
over, for each channel, the read sequencing on it at that moment with the signal seen so far
(``accumulate=True``, as readfish's read-until cache does) or only the new piece. With
``speed=1.0`` rounds come at the real rate, ``speed=10`` ten times faster, ``speed=None`` as
fast as the consumer takes them.

``FileWriter`` writes reads into a folder as pod5 files over time (at a given samples-per-second
rate or file interval), each written to a hidden temporary file and renamed, or with
``grow=True`` copied into place a piece at a time, like a file still being written, to drive
``basecaller live``.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from basecaller.live.prefix import SignalChunk

__all__ = ["MINION_SAMPLES_PER_S", "FileWriter", "LiveRead", "Playback", "grow_copy", "load_live_reads"]

#: A MinION flow cell: 512 channels at 4 kHz, every channel sequencing.
MINION_SAMPLES_PER_S = 512 * 4000


@dataclass
class LiveRead:
    read_id: str
    channel: int
    read_number: int
    start_sample: int  # on the run clock, in samples
    signal: np.ndarray  # raw int16 DAC
    offset: float
    scale: float
    sample_rate_hz: float

    @property
    def end_sample(self) -> int:
        return self.start_sample + len(self.signal)


def load_live_reads(paths: Iterable[str | os.PathLike]) -> list[LiveRead]:
    """Every read of the pod5 files, with the channel, read number and start the run recorded."""
    import pod5

    reads = []
    for path in paths:
        with pod5.Reader(path) as reader:
            for record in reader.reads():
                reads.append(LiveRead(str(record.read_id), int(record.pore.channel), int(record.read_number),
                                      int(record.start_sample), np.asarray(record.signal, dtype=np.int16).copy(),
                                      float(record.calibration.offset), float(record.calibration.scale),
                                      float(record.run_info.sample_rate)))
    return reads


class Playback:
    """Per-channel rounds of live chunks from recorded reads (see the module docstring).

    ``align_channels``: shift each channel's clock so that its first read starts at 0 (dense
    playback of sparse recordings). ``max_read_s``: stop sending a read after this much signal
    (as readfish stops after ``max_chunks``).
    """

    def __init__(self, reads: Sequence[LiveRead] | Iterable[str | os.PathLike], *, chunk_s: float = 0.4,
                 speed: float | None = None, accumulate: bool = True, align_channels: bool = False,
                 max_read_s: float | None = None):
        reads = list(reads)
        if reads and not isinstance(reads[0], LiveRead):
            reads = load_live_reads(reads)
        self.rate = reads[0].sample_rate_hz if reads else 4000.0
        self.chunk = max(1, int(round(chunk_s * self.rate)))
        self.speed, self.accumulate = speed, accumulate
        self.max_samples = None if max_read_s is None else int(max_read_s * self.rate)
        self.channels: dict[int, list[LiveRead]] = {}
        for read in sorted(reads, key=lambda r: (r.channel, r.start_sample)):
            self.channels.setdefault(read.channel, []).append(read)
        self.shift = {ch: (rs[0].start_sample if align_channels else 0) for ch, rs in self.channels.items()}

    def _span(self, read: LiveRead) -> tuple[int, int]:
        start = read.start_sample - self.shift[read.channel]
        length = len(read.signal) if self.max_samples is None else min(len(read.signal), self.max_samples)
        return start, start + length

    def rounds(self) -> Iterator[list[SignalChunk]]:
        """Yield one list of chunks per round with data (empty stretches are skipped, and slept
        through at a real rate)."""
        spans = [(self._span(r), r) for rs in self.channels.values() for r in rs]
        if not spans:
            return
        t0 = min(s for (s, _), _ in spans)
        t_end = max(e for (_, e), _ in spans)
        starts = sorted(s for (s, _), _ in spans)
        sent: dict[str, int] = {}
        wall0 = time.perf_counter()
        t = t0 + self.chunk
        index = {ch: 0 for ch in self.channels}
        while t - self.chunk < t_end:
            round_chunks = []
            for channel, reads in self.channels.items():
                i = index[channel]
                while i + 1 < len(reads) and self._span(reads[i + 1])[0] <= t:  # newest read started by t
                    i += 1
                index[channel] = i
                read = reads[i]
                start, end = self._span(read)
                upto = min(t, end) - start
                done = sent.get(read.read_id, 0)
                if start > t or upto <= done:
                    continue
                piece = read.signal[:upto] if self.accumulate else read.signal[done:upto]
                sent[read.read_id] = upto
                round_chunks.append(SignalChunk(channel, read.read_number, read.read_id, piece, read.offset,
                                                read.scale, read.sample_rate_hz))
            if round_chunks:
                if self.speed:
                    delay = (t - t0) / self.rate / self.speed - (time.perf_counter() - wall0)
                    if delay > 0:
                        time.sleep(delay)
                yield round_chunks
                t += self.chunk
            else:  # nothing sequencing now: jump to the next read's first chunk
                upcoming = [s for s in starts if s > t - self.chunk]
                if not upcoming:
                    return
                t = max(t + self.chunk, upcoming[0] + self.chunk)


def grow_copy(source: str | os.PathLike, target: str | os.PathLike, pieces: int = 4, interval_s: float = 0.5,
              stop: threading.Event | None = None) -> None:
    """Copy ``source`` to ``target`` a piece at a time, ``interval_s`` apart: a file that is
    visibly still being written (truncated, growing) until the last piece lands."""
    data = Path(source).read_bytes()
    step = -(-len(data) // pieces)
    with open(target, "wb") as out:
        for k in range(pieces):
            out.write(data[k * step:(k + 1) * step])
            out.flush()
            os.fsync(out.fileno())
            if k + 1 < pieces and (stop is None or not stop.is_set()):
                time.sleep(interval_s)


class FileWriter:
    """Write reads into ``out_dir`` as pod5 files over time, in a background thread.

    Files hold ``reads_per_file`` reads (in run-time order) and are named
    ``<prefix>_<n>.pod5``. Pace: ``samples_per_s`` (a file is written when the run clock at
    that rate reaches the end of its reads' samples) or ``interval_s`` between files. With
    ``grow=True`` each file appears in place and grows in ``grow_pieces`` pieces. ``written``
    lists ``(path, completion wall time)``.
    """

    def __init__(self, reads, out_dir: str | os.PathLike, *, reads_per_file: int = 4, samples_per_s: float | None = None,
                 interval_s: float = 0.5, grow: bool = False, grow_pieces: int = 4, grow_interval_s: float = 0.3,
                 prefix: str = "batch", repeat: int = 1):
        from basecaller.io.read import Read

        self.reads = [r for r in reads if isinstance(r, Read)] or list(self._open(reads))
        self.reads.sort(key=lambda r: (r.start_sample, r.read_id))
        self.out_dir = Path(out_dir)
        self.reads_per_file, self.samples_per_s, self.interval_s = reads_per_file, samples_per_s, interval_s
        self.grow, self.grow_pieces, self.grow_interval_s = grow, grow_pieces, grow_interval_s
        self.prefix, self.repeat = prefix, repeat
        self.written: list[tuple[str, float]] = []
        self.stop_event = threading.Event()
        self.thread: threading.Thread | None = None
        self.error: BaseException | None = None

    @staticmethod
    def _open(paths):
        from basecaller.io.open import open_reads

        return open_reads(list(paths))

    def batches(self) -> list[list]:
        import dataclasses
        import uuid

        out = []
        for copy in range(self.repeat):
            reads = self.reads if copy == 0 else [
                dataclasses.replace(r, read_id=str(uuid.uuid5(uuid.NAMESPACE_OID, f"{r.read_id}/{copy}")))
                for r in self.reads]
            out += [reads[i:i + self.reads_per_file] for i in range(0, len(reads), self.reads_per_file)]
        return out

    def _write(self, index: int, batch: list) -> str:
        from basecaller.io.pod5 import write_pod5

        self.out_dir.mkdir(parents=True, exist_ok=True)
        final = self.out_dir / f"{self.prefix}_{index:04d}.pod5"
        if not self.grow:
            write_pod5(str(final), batch)
        else:
            hidden = self.out_dir / f".{final.name}.whole"
            write_pod5(str(hidden), batch)
            try:
                grow_copy(hidden, final, self.grow_pieces, self.grow_interval_s, self.stop_event)
            finally:
                hidden.unlink(missing_ok=True)
        return str(final)

    def run(self) -> None:
        """Write every file (blocking)."""
        start = time.perf_counter()
        samples = 0
        for index, batch in enumerate(self.batches()):
            if self.stop_event.is_set():
                return
            samples += sum(r.num_samples for r in batch)
            due = samples / self.samples_per_s if self.samples_per_s else index * self.interval_s
            delay = due - (time.perf_counter() - start)
            if delay > 0 and self.stop_event.wait(delay):
                return
            path = self._write(index, batch)
            self.written.append((path, time.time()))

    def start(self) -> FileWriter:
        def target():
            try:
                self.run()
            except BaseException as error:  # reported by join()
                self.error = error

        self.thread = threading.Thread(target=target, daemon=True, name="playback-writer")
        self.thread.start()
        return self

    def join(self, timeout: float | None = None) -> None:
        if self.thread is not None:
            self.thread.join(timeout)
        if self.error is not None:
            raise self.error

    def stop(self) -> None:
        self.stop_event.set()
