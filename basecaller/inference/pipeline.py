"""The basecalling pipeline: reads -> windows -> batches -> model -> stitched, decoded calls.

Each stage is a generator; reading and the model run in background threads with bounded
queues (``basecaller.inference.stream.background``), so memory stays flat for any input size.
"""

from __future__ import annotations

import itertools
import os
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from basecaller.ctc.decode import QscoreCalibration
from basecaller.errors import InputError, SkipLog
from basecaller.inference.stream import background, ordered_map
from basecaller.io.chemistry import detect_chemistry
from basecaller.io.read import Read
from basecaller.io.records import CalledRead
from basecaller.models.config import ModelConfig
from basecaller.models.contract import BasecallModel, decode_scores
from basecaller.models.directory import find_model_dir
from basecaller.precision import resolve_precision
from basecaller.signal.batch import batchify, unbatchify
from basecaller.signal.chunk import stitch_windows, window_signal
from basecaller.signal.normalise import normalise_read
from basecaller.signal.resample import resample
from basecaller.signal.trim import open_pore_trim

if TYPE_CHECKING:
    import torch

__all__ = ["BACKENDS", "Basecaller", "choose_backend", "make_runner", "prepare_for_inference"]

BACKENDS = ("auto", "torch", "onnx", "openvino")
_RUNNER_PACKAGES = {"onnx": "onnxruntime and onnx: pip install onnxruntime onnx",
                    "openvino": "openvino and onnx: pip install openvino onnx"}


def _runner_available(backend: str) -> bool:
    from basecaller.inference.onnx import onnx_available
    from basecaller.inference.openvino import openvino_available

    return {"onnx": onnx_available, "openvino": openvino_available}[backend]()


def _device_type(device) -> str:
    return getattr(device, "type", None) or str(device).split(":")[0]


def _precision_name(precision) -> str | None:
    """"bf16", "fp16" or None (float32) from a name or a torch dtype."""
    if precision is None or isinstance(precision, str):
        return precision
    return {"torch.bfloat16": "bf16", "torch.float16": "fp16"}.get(str(precision))


def choose_backend(backend: str, device, precision, int8: bool) -> str:
    """``torch``, ``onnx`` or ``openvino`` for a device (type name or torch.device) and the
    arithmetic it runs in ("bf16"/"fp16"/None, or the torch dtype). ``auto``: on a CPU, OpenVINO
    where installed (float32 without native bf16 units, bfloat16 with them: faster than torch in
    both), else ONNX Runtime where torch would run float32; torch with ``int8`` and on GPUs."""
    if backend not in BACKENDS:
        raise InputError(f"unknown backend {backend!r}; expected one of {', '.join(BACKENDS)}")
    on_cpu, precision = _device_type(device) == "cpu" and not int8, _precision_name(precision)
    plain_cpu, bf16_cpu = on_cpu and precision is None, on_cpu and precision == "bf16"
    if backend == "onnx" and not plain_cpu:
        raise InputError("the onnx backend runs float32 on the CPU only (not with --int8, bf16/fp16 or a GPU)")
    if backend == "openvino" and not (plain_cpu or bf16_cpu):
        raise InputError("the openvino backend runs float32 or bfloat16 on the CPU only (not with --int8, fp16 or a GPU)")
    if backend in _RUNNER_PACKAGES:
        if not _runner_available(backend):
            raise InputError(f"the {backend} backend needs {_RUNNER_PACKAGES[backend]}")
        return backend
    if backend == "auto" and plain_cpu:
        return next((name for name in ("openvino", "onnx") if _runner_available(name)), "torch")
    if backend == "auto" and bf16_cpu and _runner_available("openvino"):
        return "openvino"
    return "torch"


def make_runner(backend: str, model: BasecallModel | None, workers: int = 1, precision=None,
                directory: str | os.PathLike | None = None):
    """The runner of a chosen backend other than torch: a callable from (B, T) float32 windows to
    (B, T', C) scores that ``workers`` threads may call at once (OpenVINO in bfloat16 when
    ``precision`` says bf16). With ``directory`` instead of ``model`` the model's cached ONNX
    export is used, and torch is imported only to make it."""
    path = None
    if directory is not None:
        from basecaller.inference.onnx import cached_onnx_for_directory

        path = cached_onnx_for_directory(directory)
        if path is None:  # no writable cache: export from the loaded model into a temporary file
            from basecaller.models.directory import load_model

            model = load_model(directory)
    if backend == "onnx":
        from basecaller.inference.onnx import OnnxRunner

        return OnnxRunner(model, path=path)
    from basecaller.inference.openvino import OpenVinoRunner

    return OpenVinoRunner(model, threads=workers, path=path,
                          precision="bf16" if _precision_name(precision) == "bf16" else "f32")


def prepare_for_inference(model: BasecallModel, device: torch.device, int8: bool = False):
    """``basecaller.inference.prepare.prepare_for_inference`` (imported here on first use: torch)."""
    from basecaller.inference.prepare import prepare_for_inference as prepare

    return prepare(model, device, int8)


@dataclass
class _Pending:
    read: Read
    trimmed: int
    starts: np.ndarray
    num_samples: int  # after trimming (and resampling)
    read_group: str


class Basecaller:
    """A loaded model and its settings; ``call(reads)`` streams CalledRead records.

    Bad reads (too short, wrong chemistry) are counted in ``skips`` and passed over.
    """

    def __init__(self, model: BasecallModel | str | os.PathLike, *, device: str | torch.device = "cpu",
                 batch_size: int | None = None, window: int | None = None, overlap: int | None = None,
                 beam_size: int = 0, int8: bool = False, precision: str = "auto", model_workers: int = 1,
                 min_samples: int = 200, emit_moves: bool = True, skips: SkipLog | None = None,
                 read_groups: dict[str, str] | None = None, check_chemistry: bool = True, backend: str = "auto",
                 move_bias: float | None = None):
        directory = None if hasattr(model, "config") else find_model_dir(model)
        self.config: ModelConfig = model.config if directory is None else ModelConfig.load(directory / "config.toml")
        if move_bias is not None:  # instead of the model's own
            self.config = replace(self.config, move_bias=move_bias)
        self.precision = None if int8 else resolve_precision(precision, _device_type(device))
        self.backend = choose_backend(backend, device, self.precision, int8)
        self.model_workers = max(1, model_workers)
        self.runner = self.model = self.autocast = None
        self.device = device
        if self.backend == "torch":  # the only path that imports torch (a model directory is loaded here)
            import torch

            from basecaller.models.directory import load_model

            self.device = torch.device(device)
            self.autocast = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.precision)
            self.model = prepare_for_inference(load_model(directory) if directory else model, self.device, int8)
        else:
            self.runner = make_runner(self.backend, None if directory else model, self.model_workers,
                                      self.precision, directory)
        self.stride = self.config.stride
        self.window = window or self.config.window
        self.overlap = self.config.overlap if overlap is None else overlap
        self.batch_size = batch_size or self.config.batch_size
        self.beam_size, self.min_samples, self.emit_moves = beam_size, min_samples, emit_moves
        self.calibration = QscoreCalibration(self.config.qscore_scale, self.config.qscore_shift)
        self.skips = skips if skips is not None else SkipLog()
        self.read_groups = read_groups or {}
        self.check_chemistry = check_chemistry
        self._chemistry_noted = False
        if self.window % self.stride or self.overlap % self.stride:
            raise InputError(f"window ({self.window}) and overlap ({self.overlap}) must be multiples of the "
                             f"model stride ({self.stride})")

    # --- stages ---------------------------------------------------------------------------

    def _usable(self, read: Read) -> bool:
        chemistry = detect_chemistry(read)
        if self.check_chemistry and chemistry.known and chemistry.name != self.config.chemistry:
            self.skips.skip(InputError(f"{chemistry.name} read ({', '.join(chemistry.evidence)}) but the model "
                                       f"{self.config.name!r} is for {self.config.chemistry}", read.source_path,
                                       read.read_id), "wrong chemistry")
            return False
        if not chemistry.known and not self._chemistry_noted:
            self._chemistry_noted = True
            what = "ambiguous (" + ", ".join(chemistry.evidence) + ")" if chemistry.evidence else "not recorded"
            print(f"note: the chemistry of read {read.read_id} ({read.source_path}) is {what}; calling such reads "
                  f"with {self.config.name} ({self.config.chemistry})", file=sys.stderr)
        if read.num_samples < self.min_samples:
            self.skips.skip(InputError(f"only {read.num_samples} samples (< {self.min_samples})", read.source_path,
                                       read.read_id), "too short")
            return False
        return True

    def _signal(self, read: Read) -> tuple[np.ndarray, int]:
        signal = normalise_read(read, self.config.normalisation)
        if read.sample_rate_hz != self.config.sample_rate_hz:
            signal = resample(signal, read.sample_rate_hz, self.config.sample_rate_hz)
        trimmed = open_pore_trim(signal) if self.config.trim else 0
        return signal[trimmed:], trimmed

    def _windows(self, reads: Iterable[Read], pending: dict) -> Iterator[tuple[int, np.ndarray]]:
        for key, read in zip(itertools.count(), reads):
            if not self._usable(read):
                continue
            signal, trimmed = self._signal(read)
            windows, starts = window_signal(signal, self.window, self.overlap, self.stride)
            pending[key] = _Pending(read, trimmed, starts, len(signal), self.read_groups.get(read.run_id, ""))
            yield key, windows

    def _run_model(self, windows: np.ndarray) -> np.ndarray:
        if self.runner is not None:
            return self.runner(windows)
        import torch

        from basecaller.precision import autocast

        with torch.inference_mode(), autocast(self.device, self.autocast):
            return self.model(torch.from_numpy(windows).to(self.device)).float().cpu().numpy()  # (B, T', C)

    def _decode(self, item: _Pending, outputs: np.ndarray) -> CalledRead:
        log_probs = stitch_windows(outputs, item.starts, item.num_samples, self.window, self.stride)
        decoded = decode_scores(log_probs, self.config, beam_size=self.beam_size, calibration=self.calibration)
        call = CalledRead.from_decoded(item.read, decoded, self.stride, trimmed_samples=item.trimmed,
                                       read_group=item.read_group)
        if not self.emit_moves:
            call.moves = None
        return call

    # --- the chain ------------------------------------------------------------------------

    def call(self, reads: Iterable[Read]) -> Iterator[CalledRead]:
        """Basecall reads in input order (each yielded once all its windows are through)."""
        pending: dict[int, _Pending] = {}
        batches = background(batchify(self._windows(reads, pending), self.batch_size), maxsize=4)
        results = ordered_map(lambda batch: (batch, self._run_model(batch.windows)), batches, self.model_workers)
        # decoding (numpy, numba kernels without the GIL) runs in its own threads too
        yield from ordered_map(lambda done: self._decode(pending.pop(done[0]), done[1]), unbatchify(results),
                               self.model_workers, name="decode")
