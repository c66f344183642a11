"""Call the first part of many reads at once, as adaptive sampling needs it.

``PrefixCaller.call(chunks)`` takes one signal chunk per channel (raw DAC samples plus the
channel's calibration), normalises, trims the open-pore/adapter start, pads every prefix to a
common length and runs **one** forward pass for the whole round, then decodes each read. It
returns one ``PrefixCall`` per chunk, in input order: a sequence with qualities, or an empty
sequence and a ``reason`` (no samples, NaN calibration, prefix too short, superseded by a newer
read on the same channel, deferred to meet the round's deadline).

State between rounds: none by default (readfish's read-until cache hands over the whole
signal seen so far on every round). With ``accumulate=True`` chunks are pieces, which the
caller joins per channel; a channel that sends a new read number drops its old read.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from basecaller.errors import SkipLog
from basecaller.signal.normalise import median_mad, median_mad_dac, normalise
from basecaller.signal.resample import resample
from basecaller.signal.trim import STALL_SPREAD_PA, adapter_stall_trim, open_pore_trim

__all__ = ["PrefixCall", "PrefixCaller", "RoundStats", "SignalChunk"]


@dataclass
class SignalChunk:
    """Signal of one read on one channel, as the sequencer delivers it.

    ``signal``: raw int16 DAC samples (float arrays are accepted too); picoamps are
    ``(signal + offset) * scale``. ``sample_rate_hz`` None means the model's rate.
    """

    channel: int
    read_number: int
    read_id: str
    signal: np.ndarray
    offset: float
    scale: float
    sample_rate_hz: float | None = None


@dataclass
class PrefixCall:
    """The call of one read's prefix; ``reason`` says why there is no sequence."""

    channel: int
    read_number: int
    read_id: str
    sequence: str = ""
    qualities: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.uint8))
    mean_qscore: float = 0.0
    num_samples: int = 0
    trimmed_samples: int = 0
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.reason is None

    @property
    def qstring(self) -> str:
        return (np.asarray(self.qualities, dtype=np.uint8) + 33).tobytes().decode()


@dataclass
class RoundStats:
    """What the last ``call`` did: reads in, reads called, padded length, timings."""

    chunks: int = 0
    called: int = 0
    skipped: int = 0
    deferred: int = 0
    padded_samples: int = 0
    seconds: float = 0.0
    model_seconds: float = 0.0


@dataclass
class _Ready:
    index: int
    chunk: SignalChunk
    signal: np.ndarray  # normalised and trimmed, float32
    trimmed: int
    num_samples: int  # raw samples in the prefix


class PrefixCaller:
    """Batched prefix basecalling for read-until / adaptive sampling.

    ``model``: a loaded ``CTCModel``, a shipped model name or a model directory (default
    ``r941_4khz_prefix``, the model made for prefixes, as in the readfish plugin).
    ``min_samples``: prefixes shorter than this after trimming are skipped with a reason.
    ``max_samples``: only the first ``max_samples`` of a read are called.
    ``deadline_s``: if set, a round calls only as many reads as the measured model speed says
    fit in this time (the others are returned with reason "deferred ..."; send them again).
    ``workers``: forward threads (one core each with torch at one thread:
    ``torch.set_num_threads(1)``). ``groups_per_worker``: the round's reads are sorted by length
    and batched in this many groups per worker, each padded only to its own longest read.
    ``qualities``: False skips a CRF model's forward-backward pass (most of its decoding time
    on a short prefix); calls then carry no qualities and a NaN mean qscore.
    ``runner``: an optional replacement for the torch forward pass, ``(B, T) float32 ->
    (B, T // stride, 5) log-probabilities`` (``basecaller.inference.onnx.OnnxRunner`` is one).
    ``backend``: without a ``runner``, ``auto`` runs OpenVINO on a CPU where it is installed (bf16
    on CPUs with bf16 units, else float32; else ONNX Runtime where torch would run float32);
    ``torch``, ``onnx`` or ``openvino`` force one.
    """

    def __init__(self, model="r941_4khz_prefix", *, device: str = "cpu", precision: str = "auto",
                 min_samples: int = 800, max_samples: int = 40000, trim: bool | None = None,
                 trim_max_fraction: float = 0.5, accumulate: bool = False, deadline_s: float | None = None,
                 beam_size: int = 0, runner: Callable[[np.ndarray], np.ndarray] | None = None,
                 skips: SkipLog | None = None, warmup: bool = True, workers: int = 1,
                 backend: str = "auto", groups_per_worker: int = 2, qualities: bool = True,
                 adapter_trim: bool = True):
        from basecaller.ctc.decode import QscoreCalibration
        from basecaller.inference.pipeline import choose_backend, make_runner
        from basecaller.models.config import ModelConfig
        from basecaller.models.directory import find_model_dir
        from basecaller.precision import resolve_precision

        directory = None if hasattr(model, "config") else find_model_dir(model)
        self.config = model.config if directory is None else ModelConfig.load(directory / "config.toml")
        self.precision = resolve_precision(precision, str(device).split(":")[0])
        if runner is None:
            chosen = choose_backend(backend, device, self.precision, False)
            if chosen != "torch":  # a model name or directory then runs from its cached ONNX, without torch
                runner = make_runner(chosen, None if directory else model, max(1, workers), self.precision, directory)
        self.runner = runner
        self.device, self.autocast, self.model = device, None, None
        if runner is None:
            self._load_torch_model(model, directory, device)
        self.backend = "torch" if runner is None else getattr(runner, "name", "custom")
        self.stride = self.config.stride
        self.sample_rate_hz = float(self.config.sample_rate_hz)
        self.min_samples, self.max_samples = int(min_samples), int(max_samples)
        self.trim = self.config.trim if trim is None else trim
        self.trim_max_fraction = trim_max_fraction
        self.adapter_trim = bool(adapter_trim)
        self.accumulate = accumulate
        self.deadline_s = deadline_s
        self.beam_size = beam_size
        self.calibration = QscoreCalibration(self.config.qscore_scale, self.config.qscore_shift)
        self.skips = skips if skips is not None else SkipLog()
        self.last_round = RoundStats()
        self._samples_per_s: float | None = None  # padded samples the model gets through per second
        self._pieces: dict[int, tuple[int, str, list[np.ndarray]]] = {}  # accumulate=True only
        self.workers = max(1, int(workers))
        self.groups_per_worker = max(1, int(groups_per_worker))
        self.qualities = bool(qualities)
        self._pool = None
        if self.workers > 1:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="prefix-forward")
        if warmup:
            self._forward(np.zeros((2, 4000), dtype=np.float32))

    def _load_torch_model(self, model, directory, device) -> None:
        """The torch path (the only one that imports torch): the model on its device, in autocast."""
        import torch

        from basecaller.inference.pipeline import prepare_for_inference
        from basecaller.models.directory import load_model

        self.device = torch.device(device)
        self.autocast = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.precision)
        self.model = prepare_for_inference(load_model(directory) if directory else model, self.device)

    # --- the round ---------------------------------------------------------------------------

    def call(self, chunks: Iterable[SignalChunk]) -> list[PrefixCall]:
        """Call one round of chunks (any number of channels) in one forward pass."""
        start = time.perf_counter()
        chunks = list(chunks)
        results: list[PrefixCall | None] = [None] * len(chunks)
        stats = RoundStats(chunks=len(chunks))
        ready: list[_Ready] = []
        newest = self._newest_per_channel(chunks)
        for index, chunk in enumerate(chunks):
            if newest[chunk.channel] != index:
                results[index] = self._skip(chunk, f"superseded by read {chunks[newest[chunk.channel]].read_number} "
                                                   "on the same channel", "superseded")
                continue
            item = self._prepare(index, chunk)
            if isinstance(item, PrefixCall):
                results[index] = item
            else:
                ready.append(item)
        ready, deferred = self._fit_deadline(ready, start)
        for item in deferred:
            results[item.index] = PrefixCall(item.chunk.channel, item.chunk.read_number, item.chunk.read_id,
                                             num_samples=item.num_samples,
                                             reason=f"deferred to meet the {self.deadline_s:g} s round deadline")
        if ready:
            groups = self._length_groups(ready)
            batches = [self._padded(group) for group in groups]
            calls, stats.model_seconds = self._call_groups(groups, batches)
            stats.padded_samples = sum(batch.size for batch in batches)
            rate = stats.padded_samples / max(stats.model_seconds, 1e-9)
            self._samples_per_s = rate if self._samples_per_s is None else 0.5 * (self._samples_per_s + rate)
            for item, call in calls:
                results[item.index] = call
        stats.called = len(ready)
        stats.deferred = len(deferred)
        stats.skipped = len(chunks) - stats.called - stats.deferred
        stats.seconds = time.perf_counter() - start
        self.last_round = stats
        return results  # type: ignore[return-value]

    def forget(self, channel: int) -> None:
        """Drop what ``accumulate=True`` holds for ``channel`` (e.g. once a decision is made)."""
        self._pieces.pop(channel, None)

    # --- steps -------------------------------------------------------------------------------

    @staticmethod
    def _newest_per_channel(chunks: list[SignalChunk]) -> dict[int, int]:
        newest: dict[int, int] = {}
        for index, chunk in enumerate(chunks):
            old = newest.get(chunk.channel)
            if old is None or chunk.read_number >= chunks[old].read_number:
                newest[chunk.channel] = index
        return newest

    def _skip(self, chunk: SignalChunk, message: str, reason: str, num_samples: int = 0) -> PrefixCall:
        self.skips.skip(f"channel {chunk.channel}, read {chunk.read_id}: {message}", reason)
        return PrefixCall(chunk.channel, chunk.read_number, chunk.read_id, num_samples=num_samples, reason=message)

    def _joined(self, chunk: SignalChunk, raw: np.ndarray) -> np.ndarray:
        if not self.accumulate:
            return raw
        number, read_id, pieces = self._pieces.get(chunk.channel, (None, None, []))
        if number != chunk.read_number or read_id != chunk.read_id:  # a new read on this channel
            pieces = []
        if len(raw):
            pieces = [*pieces, raw]
        self._pieces[chunk.channel] = (chunk.read_number, chunk.read_id, pieces)
        return np.concatenate(pieces) if pieces else raw

    def _prepare(self, index: int, chunk: SignalChunk) -> _Ready | PrefixCall:
        raw = self._joined(chunk, np.asarray(chunk.signal).ravel())
        if len(raw) == 0:
            return self._skip(chunk, "chunk has no samples", "no samples")
        if not (math.isfinite(chunk.offset) and math.isfinite(chunk.scale)) or chunk.scale == 0:
            return self._skip(chunk, f"calibration is not finite (offset {chunk.offset}, scale {chunk.scale})",
                              "bad calibration", len(raw))
        rate = float(chunk.sample_rate_hz or self.sample_rate_hz)
        raw = raw[: int(self.max_samples * rate / self.sample_rate_hz)]
        num_samples = len(raw)
        signal = (raw.astype(np.float32) + np.float32(chunk.offset)) * np.float32(chunk.scale)
        if signal.dtype.kind == "f" and not np.isfinite(signal).all():
            return self._skip(chunk, "signal holds NaN or infinite samples", "bad signal", num_samples)
        stall = self._stall(signal)
        raw, signal = raw[stall:], signal[stall:]
        stall = round(stall * self.sample_rate_hz / rate)
        if len(signal) * self.sample_rate_hz / rate < self.min_samples:
            return self._too_short(chunk, len(signal), stall, num_samples)
        signal = self._normalised(raw, signal, chunk, rate)
        # the open pore before a stall goes with it; the spike that ends a stall comes next
        limit = {"max_samples": 400} if stall else {}
        trimmed = open_pore_trim(signal, max_fraction=self.trim_max_fraction, **limit) if self.trim else 0
        signal = signal[trimmed:]
        if len(signal) < self.min_samples:
            return self._too_short(chunk, len(signal), stall + trimmed, num_samples)
        return _Ready(index, chunk, signal, stall + trimmed, num_samples)

    def _stall(self, signal: np.ndarray) -> int:
        """Samples of open pore and adapter stall to drop (0 with ``adapter_trim=False``)."""
        return adapter_stall_trim(signal, flat_spread=STALL_SPREAD_PA) if self.trim and self.adapter_trim else 0

    def _too_short(self, chunk: SignalChunk, length: int, trimmed: int, num_samples: int) -> PrefixCall:
        return self._skip(chunk, f"prefix too short: {length} samples after trimming {trimmed} "
                                 f"(minimum {self.min_samples})", "short prefix", num_samples)

    def _normalised(self, raw: np.ndarray, signal: np.ndarray, chunk: SignalChunk, rate: float) -> np.ndarray:
        """The prefix (after the stall) at the model's rate, scaled by its own median and MAD."""
        norm = self.config.normalisation
        if rate != self.sample_rate_hz:
            signal = resample(signal, rate, self.sample_rate_hz)
            shift, scale = median_mad(signal, norm.mad_factor)
        elif np.issubdtype(raw.dtype, np.integer):  # exact, from the DAC histogram: 8x faster than sorting
            shift, scale = median_mad_dac(raw, chunk.offset, chunk.scale, norm.mad_factor)
        else:
            shift, scale = median_mad(signal, norm.mad_factor)
        return normalise(signal, shift, scale, norm.clip)

    def _fit_deadline(self, ready: list[_Ready], start: float) -> tuple[list[_Ready], list[_Ready]]:
        if self.deadline_s is None or not ready or self._samples_per_s is None:
            return ready, []
        budget = (self.deadline_s - (time.perf_counter() - start)) * self._samples_per_s * 0.8  # decode margin
        longest, keep = 0, 0
        for item in ready:  # in input order: the reads that came first get called first
            longest = max(longest, len(item.signal))
            if (keep + 1) * longest > budget and keep > 0:
                break
            keep += 1
        return ready[:keep], ready[keep:]

    def _length_groups(self, ready: list[_Ready]) -> list[list[_Ready]]:
        """The round's reads sorted by length and cut into ``groups_per_worker`` groups per worker
        (of at least 16 reads): each group is padded only to its own longest read, which saved a
        sixth of the padded samples on real 0.8 s prefixes (trimmed adapters differ in length)."""
        if len(ready) < 2 * self.workers:
            return [ready]
        count = max(1, min(self.groups_per_worker * self.workers, len(ready) // 16))
        # longest first, so that the worker threads start on the long batches and end on short ones
        ordered = sorted(ready, key=lambda item: len(item.signal), reverse=True)
        return [list(part) for part in np.array_split(np.array(ordered, dtype=object), count) if len(part)]

    def _padded(self, group: list[_Ready]) -> np.ndarray:
        length = -(-max(len(item.signal) for item in group) // self.stride) * self.stride
        batch = np.zeros((len(group), length), dtype=np.float32)
        for row, item in enumerate(group):
            batch[row, : len(item.signal)] = item.signal
        return batch

    def _call_groups(self, groups: list[list[_Ready]], batches: list[np.ndarray]
                     ) -> tuple[list[tuple[_Ready, PrefixCall]], float]:
        """Every read's call, and the forward passes' wall time. With several groups each worker
        decodes a group as soon as its forward pass ends, while the other worker's pass runs."""
        if len(batches) == 1:
            start = time.perf_counter()
            scores = self._forward(batches[0])
            seconds = time.perf_counter() - start
            return list(zip(groups[0], self._decode_all(list(zip(groups[0], scores))), strict=True)), seconds

        def forward_and_decode(group: list[_Ready], batch: np.ndarray) -> tuple[list, float]:
            start = time.perf_counter()
            scores = self._forward_part(batch)
            seconds = time.perf_counter() - start
            return [(item, self._decode_row(item, scores[row])) for row, item in enumerate(group)], seconds

        parts = (list(self._pool.map(forward_and_decode, groups, batches)) if self._pool is not None
                 else [forward_and_decode(group, batch) for group, batch in zip(groups, batches, strict=True)])
        parallel = min(self.workers, len(batches))
        return [pair for calls, _ in parts for pair in calls], sum(seconds for _, seconds in parts) / parallel

    def _forward(self, batch: np.ndarray) -> np.ndarray:
        """The model's scores for a batch: split across the worker threads when there are several."""
        if self._pool is None or len(batch) < 2 * self.workers:
            return self._forward_part(batch)
        parts = np.array_split(batch, self.workers)
        return np.concatenate(list(self._pool.map(self._forward_part, parts)))

    def _forward_part(self, batch: np.ndarray) -> np.ndarray:
        if self.runner is not None:
            return np.asarray(self.runner(batch), dtype=np.float32)
        import torch

        from basecaller.precision import autocast

        with torch.inference_mode(), autocast(self.device, self.autocast):
            return self.model(torch.from_numpy(batch).to(self.device)).float().cpu().numpy()

    def _decode_all(self, rows: list[tuple[_Ready, np.ndarray]]) -> list[PrefixCall]:
        """Each read's call from its row of scores, in the worker threads when there are several
        (the CRF decoder's compiled kernels release the GIL)."""
        if self._pool is None or len(rows) < 2 * self.workers:
            return [self._decode_row(*pair) for pair in rows]
        return list(self._pool.map(lambda pair: self._decode_row(*pair), rows))

    def _decode_row(self, item: _Ready, scores: np.ndarray) -> PrefixCall:
        """A read's call from its row of a padded batch's scores (the padding cut off)."""
        return self._decode(item, scores[: -(-len(item.signal) // self.stride)])

    def _decode(self, item: _Ready, log_probs: np.ndarray) -> PrefixCall:
        from basecaller.ctc.decode import mean_qscore
        from basecaller.models.contract import decode_scores

        decoded = decode_scores(log_probs, self.config, beam_size=self.beam_size, calibration=self.calibration,
                                qualities=self.qualities)
        chunk = item.chunk
        score = mean_qscore(decoded.qualities) if len(decoded.qualities) else float("nan")
        return PrefixCall(chunk.channel, chunk.read_number, chunk.read_id, decoded.sequence, decoded.qualities,
                          score, item.num_samples, item.trimmed)
