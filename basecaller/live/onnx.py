"""Run a basecaller model with ONNX Runtime (``pip install onnxruntime onnx``), for the prefix
caller on CPUs where it is faster than torch: ``PrefixCaller(..., runner=OnnxRunner(model))``."""

from __future__ import annotations

import os
import tempfile

import numpy as np

__all__ = ["OnnxRunner", "export_onnx"]


def export_onnx(model, path: str | os.PathLike, example_samples: int = 4000) -> str:
    """Export a CTCModel (its recurrent core made plain torch modules first) to ``path``, with
    dynamic batch and time axes."""
    import torch

    from basecaller.inference.pipeline import prepare_for_inference

    module = prepare_for_inference(model, torch.device("cpu"))
    example = torch.zeros(2, example_samples)
    with torch.inference_mode(False), torch.no_grad():
        torch.onnx.export(module, (example,), str(path), input_names=["signal"], output_names=["log_probs"],
                          dynamic_axes={"signal": {0: "batch", 1: "samples"}, "log_probs": {0: "batch", 1: "steps"}},
                          opset_version=17, dynamo=False)
    return str(path)


class OnnxRunner:
    """``(B, T) float32 -> (B, T // stride, 5)`` through an ONNX Runtime session."""

    def __init__(self, model, threads: int = 1, path: str | os.PathLike | None = None):
        import onnxruntime as ort

        if path is None:
            path = os.path.join(tempfile.mkdtemp(prefix="basecaller-onnx-"), "model.onnx")
            export_onnx(model, path)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run(None, {"signal": np.ascontiguousarray(batch, dtype=np.float32)})[0]
