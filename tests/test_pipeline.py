"""Background stages: order kept, errors passed on, several model workers give the same calls."""

from __future__ import annotations

import threading
import time

import pytest
from conftest import DATA_SAMPLES

from basecaller.inference.pipeline import Basecaller
from basecaller.inference.stream import background, ordered_map
from basecaller.io.open import open_reads
from basecaller.models.directory import load_model


def test_ordered_map_keeps_input_order_across_workers():
    threads = set()

    def slow_square(x):
        threads.add(threading.current_thread().name)
        time.sleep(0.01 * (x % 3))  # later items often finish first
        return x * x

    assert list(ordered_map(slow_square, range(20), workers=3)) == [x * x for x in range(20)]
    assert len(threads) > 1
    assert list(ordered_map(slow_square, range(5), workers=1)) == [0, 1, 4, 9, 16]


@pytest.mark.parametrize("workers", [1, 3])
def test_ordered_map_passes_errors_on(workers):
    def fail_at_four(x):
        if x == 4:
            raise ValueError("bad item 4")
        return x

    with pytest.raises(ValueError, match="bad item 4"):
        list(ordered_map(fail_at_four, range(10), workers=workers))


def test_background_reraises_producer_errors():
    def produce():
        yield 1
        raise OSError("disk went away")

    stream = background(produce())
    assert next(stream) == 1
    with pytest.raises(OSError, match="disk went away"):
        next(stream)


def test_two_model_workers_call_the_same_reads():
    reads = list(open_reads(DATA_SAMPLES / "lambda_r941" / "reads.pod5"))
    one = list(Basecaller(load_model("r941_4khz_fast"), batch_size=4, precision="fp32", backend="torch").call(reads))
    two = list(Basecaller(load_model("r941_4khz_fast"), batch_size=4, precision="fp32", backend="torch",
                          model_workers=2).call(reads))
    assert [c.read_id for c in two] == [r.read_id for r in reads]
    assert [c.sequence for c in two] == [c.sequence for c in one]


@pytest.mark.parametrize(("backend", "package"), [("onnx", "onnxruntime"), ("openvino", "openvino")])
def test_runner_backend_calls_what_torch_calls(tmp_path, monkeypatch, backend, package):
    pytest.importorskip(package)
    monkeypatch.setenv("BASECALLER_CACHE", str(tmp_path))
    reads = list(open_reads(DATA_SAMPLES / "lambda_r941" / "reads.pod5"))
    torch_calls = list(Basecaller(load_model("r941_4khz_fast"), precision="fp32", backend="torch").call(reads))
    caller = Basecaller(load_model("r941_4khz_fast"), precision="fp32", backend=backend, model_workers=2)
    calls = list(caller.call(reads))
    assert caller.backend == backend and len(list((tmp_path / "onnx").glob("*.onnx"))) == 1
    assert [c.read_id for c in calls] == [r.read_id for r in reads]
    assert [c.sequence for c in calls] == [c.sequence for c in torch_calls]
    assert all(c.moves is not None and c.moves.sum() == len(c.sequence) for c in calls)
    again = Basecaller(load_model("r941_4khz_fast"), precision="fp32", backend=backend)  # from the cache
    assert [c.sequence for c in again.call(reads[:2])] == [c.sequence for c in torch_calls[:2]]


@pytest.mark.parametrize("runner_name", ["OnnxRunner", "OpenVinoRunner"])
def test_runner_export_of_a_crf_model_matches_torch(tmp_path, monkeypatch, runner_name):
    pytest.importorskip("onnxruntime" if runner_name == "OnnxRunner" else "openvino")
    import numpy as np
    import torch

    from basecaller.inference.onnx import OnnxRunner
    from basecaller.inference.openvino import OpenVinoRunner
    from basecaller.inference.pipeline import prepare_for_inference
    from basecaller.models.config import preset
    from basecaller.models.crf import CRFModel

    monkeypatch.setenv("BASECALLER_CACHE", str(tmp_path))
    config = preset("fast")
    config.head = {"type": "crf", "state_len": 2}
    torch.manual_seed(3)
    model = CRFModel(config)
    signal = torch.randn(3, 2000)
    short = signal[:1, :1000]  # another batch size and length through the same export
    with torch.inference_mode():
        module = prepare_for_inference(model, torch.device("cpu"))
        expected, expected_short = module(signal).numpy(), module(short).numpy()
    runner = {"OnnxRunner": OnnxRunner, "OpenVinoRunner": OpenVinoRunner}[runner_name](model)
    got = runner(signal.numpy())
    assert got.shape == expected.shape == (3, 400, model.layout.num_scores)
    np.testing.assert_allclose(got, expected, atol=1e-3)
    np.testing.assert_allclose(runner(short.numpy()), expected_short, atol=1e-3)


def test_backend_choice():
    import torch

    from basecaller.errors import InputError
    from basecaller.inference.pipeline import choose_backend

    cpu = torch.device("cpu")
    assert choose_backend("torch", cpu, None, False) == "torch"
    assert choose_backend("auto", cpu, torch.bfloat16, False) == "torch"  # bf16 units: torch is faster
    assert choose_backend("auto", cpu, None, True) == "torch"  # int8 is torch's
    from basecaller.inference.onnx import onnx_available
    from basecaller.inference.openvino import openvino_available

    fp32_cpu = "openvino" if openvino_available() else "onnx" if onnx_available() else "torch"
    assert choose_backend("auto", cpu, None, False) == fp32_cpu  # no bf16 units: the fastest installed runner
    assert choose_backend("torch", cpu, None, False) == "torch"
    with pytest.raises(InputError, match="float32 on the CPU only"):
        choose_backend("onnx", cpu, torch.bfloat16, False)
    with pytest.raises(InputError, match="openvino backend runs float32 on the CPU only"):
        choose_backend("openvino", cpu, None, True)
    with pytest.raises(InputError, match="unknown backend"):
        choose_backend("tensorrt", cpu, None, False)
