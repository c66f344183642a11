"""Run a basecaller model with ONNX Runtime (``pip install onnxruntime onnx``) on CPUs where it
is faster than torch: those without native bfloat16 units (AVX2-only CPUs), where torch runs in
float32. Used by ``Basecaller(backend="onnx")`` and ``PrefixCaller(..., runner=OnnxRunner(model))``."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np

__all__ = ["OnnxRunner", "cached_onnx", "cached_onnx_for_directory", "export_onnx", "onnx_available"]

OPSET = 17


def onnx_available() -> bool:
    """Whether ONNX Runtime and the ONNX exporter's package are installed."""
    return importlib.util.find_spec("onnxruntime") is not None and importlib.util.find_spec("onnx") is not None


def export_onnx(model, path: str | os.PathLike, example_samples: int = 4000) -> str:
    """Export a basecaller model (CTC or CRF; its recurrent core made plain torch modules first)
    to ``path``, with dynamic batch and time axes."""
    import torch

    from basecaller.inference.prepare import prepare_for_inference

    module = prepare_for_inference(model, torch.device("cpu"))
    example = torch.zeros(2, example_samples)
    with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter warns about the LSTM's batch-first layout
        torch.onnx.export(module, (example,), str(path), input_names=["signal"], output_names=["scores"],
                          dynamic_axes={"signal": {0: "batch", 1: "samples"}, "scores": {0: "batch", 1: "steps"}},
                          opset_version=OPSET, dynamo=False)
    return str(path)


def _cache_folder() -> Path:
    root = os.environ.get("BASECALLER_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "basecaller")
    return Path(root) / "onnx"


def _model_key(model) -> str:
    """A digest of the weights, the architecture and the exporter's versions."""
    import torch

    digest = hashlib.sha256(f"{torch.__version__}|{OPSET}|{model.config!r}".encode())
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:32]


def cached_onnx(model) -> str | None:
    """The model exported to ONNX once, kept in ``$BASECALLER_CACHE`` (default
    ``~/.cache/basecaller``) under a digest of its weights, so later runs skip the 1–2 s export;
    None when the cache folder cannot be written."""
    return _cached(_cache_folder() / f"{_model_key(model)}.onnx", lambda: model)


def cached_onnx_for_directory(folder: str | os.PathLike) -> str | None:
    """The ONNX export of a model directory, cached under a digest of its ``config.toml`` and
    ``weights.pt`` files: a run that finds it never imports torch (about 2 s of start-up); a
    miss loads the model with torch and exports it once. None when the cache cannot be written."""
    folder = Path(folder)
    digest = hashlib.sha256(f"directory|{OPSET}".encode())
    for name in ("config.toml", "weights.pt"):
        digest.update(name.encode())
        digest.update((folder / name).read_bytes() if (folder / name).exists() else b"")

    def model():
        from basecaller.models.directory import load_model

        return load_model(folder)

    return _cached(_cache_folder() / f"dir-{digest.hexdigest()[:32]}.onnx", model)


def _cached(path: Path, model) -> str | None:
    """``path`` if it exists, else ``model()`` exported there atomically."""
    if path.exists():
        return str(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".part", delete=False) as handle:
            partial = handle.name
    except OSError:
        return None
    try:
        export_onnx(model(), partial)
        os.replace(partial, path)  # atomic: a concurrent run sees a whole file or none
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    return str(path)


class OnnxRunner:
    """``(B, T) float32 -> (B, T // stride, C)`` model scores through an ONNX Runtime session.

    One session serves several threads at once (ONNX Runtime's ``run`` is thread-safe and
    releases the GIL), each run single-threaded with ``threads=1``."""

    name = "onnx"

    def __init__(self, model, threads: int = 1, path: str | os.PathLike | None = None):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        path = path if path is not None else cached_onnx(model)
        if path is not None:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
            return
        with tempfile.TemporaryDirectory(prefix="basecaller-onnx-") as folder:  # the session keeps the graph
            exported = export_onnx(model, os.path.join(folder, "model.onnx"))
            self.session = ort.InferenceSession(exported, options, providers=["CPUExecutionProvider"])

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run(None, {"signal": np.ascontiguousarray(batch, dtype=np.float32)})[0]
