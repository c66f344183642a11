"""Run a basecaller model with OpenVINO (``pip install openvino``, the ``openvino`` extra): in
float32 on CPUs without native bfloat16 units, where it is faster than ONNX Runtime and torch,
and in bfloat16 on CPUs with them (AVX512-BF16, AMX), where it was 1.1-1.3x faster than torch's
bf16 autocast on a Zen 4 EPYC. It compiles the same cached ONNX export as
``basecaller.inference.onnx``."""

from __future__ import annotations

import importlib.util
import json
import os
import queue
import tempfile

import numpy as np

from basecaller.inference.onnx import cached_onnx, export_onnx

__all__ = ["PRECISIONS", "OpenVinoRunner", "openvino_available"]

PRECISIONS = ("f32", "bf16")


def openvino_available() -> bool:
    """Whether OpenVINO and the ONNX exporter's package are installed."""
    return importlib.util.find_spec("openvino") is not None and importlib.util.find_spec("onnx") is not None


class OpenVinoRunner:
    """``(B, T) float32 -> (B, T // stride, C)`` model scores through one compiled OpenVINO model.

    ``threads`` streams of one CPU thread each: each call takes an idle infer request (or makes
    one) and gives it back, and OpenVINO releases the GIL while it runs, so ``threads`` model
    workers run in parallel.
    ``precision``: ``f32``, or ``bf16`` (inputs and outputs stay float32) on CPUs with bf16 units."""

    name = "openvino"

    def __init__(self, model, threads: int = 1, path: str | os.PathLike | None = None, precision: str = "f32"):
        import openvino as ov

        if precision not in PRECISIONS:
            raise ValueError(f"OpenVINO precision {precision!r}: expected one of {', '.join(PRECISIONS)}")
        self.precision = precision
        threads = max(1, threads)
        settings = {"INFERENCE_PRECISION_HINT": precision, "NUM_STREAMS": threads, "INFERENCE_NUM_THREADS": threads,
                    **json.loads(os.environ.get("BASECALLER_OPENVINO_CONFIG") or "{}")}
        path = path if path is not None else cached_onnx(model)
        if path is None:
            with tempfile.TemporaryDirectory(prefix="basecaller-openvino-") as folder:
                path = export_onnx(model, os.path.join(folder, "model.onnx"))
                self.compiled = ov.Core().compile_model(path, "CPU", settings)
        else:
            self.compiled = ov.Core().compile_model(str(path), "CPU", settings)
        self._idle: queue.SimpleQueue = queue.SimpleQueue()  # infer requests no thread is using

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        try:  # reuse an idle request: making one per thread cost live mode a third of its speed,
            request = self._idle.get_nowait()  # as every file's call starts new worker threads
        except queue.Empty:
            request = self.compiled.create_infer_request()
        try:
            signal = np.ascontiguousarray(batch, dtype=np.float32)
            return np.array(request.infer({0: signal})[0], copy=True)  # the request reuses its output buffer
        finally:
            self._idle.put(request)
