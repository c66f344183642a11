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
import threading

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
        core = ov.Core()
        path = path if path is not None else cached_onnx(model)
        if path is None:
            with tempfile.TemporaryDirectory(prefix="basecaller-openvino-") as folder:
                self._shapes_model = core.read_model(export_onnx(model, os.path.join(folder, "model.onnx")))
        else:
            self._shapes_model = core.read_model(str(path))
        # the compiled model keeps its dynamic shapes when _shapes_model is reshaped later
        self.compiled = core.compile_model(self._shapes_model, "CPU", settings)
        self._idle: queue.SimpleQueue = queue.SimpleQueue()  # infer requests no thread is using
        self._output_shapes: dict[int, tuple[int, ...] | None] = {}  # input length -> (T', C)
        self._shapes_lock = threading.Lock()

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        try:  # reuse an idle request: making one per thread cost live mode a third of its speed,
            request = self._idle.get_nowait()  # as every file's call starts new worker threads
        except queue.Empty:
            request = self.compiled.create_infer_request()
        try:
            return self._infer(request, np.ascontiguousarray(batch, dtype=np.float32))
        finally:
            self._idle.put(request)

    def _infer(self, request, signal: np.ndarray) -> np.ndarray:
        """Scores for one batch, written by OpenVINO straight into a fresh array: copying the
        request's own output buffer (which it reuses) cost a CRF model's 320 scores per step a
        quarter of its forward time. Every call sets its own output, so that no request keeps
        an array of another call."""
        import openvino as ov

        shape = self._output_shape(signal.shape[1])
        if shape is None:  # no static shape from shape inference: a request of its own, and a copy
            return np.array(self.compiled.create_infer_request().infer({0: signal})[0], copy=True)
        out = np.empty((signal.shape[0], *shape), dtype=np.float32)
        request.set_output_tensor(0, ov.Tensor(out, shared_memory=True))
        request.infer({0: signal})
        return out

    def _output_shape(self, length: int) -> tuple[int, ...] | None:
        """(T', C) for inputs of ``length`` samples, by OpenVINO's shape inference (about 3 ms,
        once per length)."""
        if length not in self._output_shapes:
            import openvino as ov

            with self._shapes_lock:
                self._shapes_model.reshape({0: ov.PartialShape([ov.Dimension(), length])})
                shape = self._shapes_model.output(0).get_partial_shape()
            static = all(dim.is_static for dim in list(shape)[1:])
            self._output_shapes[length] = tuple(dim.get_length() for dim in list(shape)[1:]) if static else None
        return self._output_shapes[length]
