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
    again, other = runner(signal.numpy()), runner(signal[1:].numpy())  # OpenVINO: straight into new arrays
    np.testing.assert_allclose(again, expected, atol=1e-3)  # not overwritten by the next call
    np.testing.assert_allclose(other, expected[1:], atol=1e-3)


def test_backend_choice():
    import torch

    from basecaller.errors import InputError
    from basecaller.inference.onnx import onnx_available
    from basecaller.inference.openvino import openvino_available
    from basecaller.inference.pipeline import choose_backend

    cpu = torch.device("cpu")
    assert choose_backend("torch", cpu, None, False) == "torch"
    bf16_cpu = "openvino" if openvino_available() else "torch"  # OpenVINO bf16 beat torch bf16 on a Zen 4
    assert choose_backend("auto", cpu, torch.bfloat16, False) == bf16_cpu
    assert choose_backend("auto", "cpu", "bf16", False) == bf16_cpu  # names work as well as torch objects
    assert choose_backend("auto", cpu, None, True) == "torch"  # int8 is torch's
    assert choose_backend("auto", "cuda", "fp16", False) == "torch"
    assert choose_backend("auto", cpu, "fp16", False) == "torch"
    fp32_cpu = "openvino" if openvino_available() else "onnx" if onnx_available() else "torch"
    assert choose_backend("auto", cpu, None, False) == fp32_cpu  # no bf16 units: the fastest installed runner
    assert choose_backend("torch", cpu, None, False) == "torch"
    with pytest.raises(InputError, match="onnx backend runs float32 on the CPU only"):
        choose_backend("onnx", cpu, torch.bfloat16, False)
    with pytest.raises(InputError, match="openvino backend runs float32 or bfloat16 on the CPU only"):
        choose_backend("openvino", cpu, None, True)
    with pytest.raises(InputError, match="openvino backend runs float32 or bfloat16"):
        choose_backend("openvino", "cuda", "fp16", False)
    with pytest.raises(InputError, match="unknown backend"):
        choose_backend("tensorrt", cpu, None, False)


def test_cpu_bf16_detection_agrees_with_torch():
    import torch

    from basecaller.precision import cpu_has_bf16, resolve_precision

    assert cpu_has_bf16() == bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    assert resolve_precision("auto", "cuda") == "fp16" and resolve_precision("fp32", "cpu") is None
    assert resolve_precision("auto", "cpu") == ("bf16" if cpu_has_bf16() else None)


def test_openvino_bf16_calls_like_torch_bf16():
    """OpenVINO in bfloat16 (the auto backend on CPUs with bf16 units) calls the lambda reads as
    torch's bf16 autocast does: the same reads, sequences within 2 % of each other (bf16 rounding
    differs between the two; 0.983-0.995 seen) and as long."""
    pytest.importorskip("openvino")
    from basecaller.inference.pipeline import Basecaller
    from basecaller.training.basecaller import edit_identity

    reads = list(open_reads(DATA_SAMPLES / "lambda_r941" / "reads.pod5"))
    torch_calls = list(Basecaller("r941_4khz_lite", precision="bf16", backend="torch").call(reads))
    caller = Basecaller("r941_4khz_lite", precision="bf16", backend="openvino", model_workers=2)
    assert caller.runner.precision == "bf16"
    calls = list(caller.call(reads))
    assert [c.read_id for c in calls] == [c.read_id for c in torch_calls]
    for ours, theirs in zip(calls, torch_calls):
        assert edit_identity(ours.sequence, theirs.sequence) > 0.97
        assert abs(len(ours.sequence) - len(theirs.sequence)) <= 0.02 * len(theirs.sequence)


def test_openvino_job_never_imports_torch(tmp_path, monkeypatch):
    """With the model's ONNX export cached, a whole basecall job on the OpenVINO backend runs in a
    process where importing torch fails, and writes what the same job writes with torch loaded."""
    pytest.importorskip("openvino")
    import os
    import subprocess
    import sys

    from basecaller.inference.job import BasecallRequest, basecall_files

    monkeypatch.setenv("BASECALLER_CACHE", str(tmp_path / "cache"))
    reads = str(DATA_SAMPLES / "lambda_r941" / "reads.pod5")
    request = dict(inputs=[reads], model="r941_4khz_lite", backend="openvino", device="cpu", progress=False)
    basecall_files(BasecallRequest(output=str(tmp_path / "with_torch.fastq"), **request))  # exports once
    env = dict(os.environ)
    script = ("import sys; sys.modules['torch'] = None\n"  # any import of torch now raises
              "from basecaller.inference.job import BasecallRequest, basecall_files\n"
              f"report = basecall_files(BasecallRequest(output={str(tmp_path / 'no_torch.fastq')!r}, **{request!r}))\n"
              "assert report.model.endswith('(openvino)'), report.model\n")
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "no_torch.fastq").read_text() == (tmp_path / "with_torch.fastq").read_text()


def test_openvino_runner_reuses_infer_requests_across_threads(tmp_path, monkeypatch):
    """Live mode starts new worker threads for every file: they must share the runner's idle
    infer requests, not make one each (that cost a third of live mode's speed)."""
    pytest.importorskip("openvino")
    import threading

    import numpy as np

    from basecaller.inference.openvino import OpenVinoRunner
    from basecaller.models.directory import load_model

    monkeypatch.setenv("BASECALLER_CACHE", str(tmp_path))
    runner = OpenVinoRunner(load_model("r941_4khz_lite"), threads=2)
    signal = np.random.default_rng(0).normal(size=(2, 2000)).astype(np.float32)
    outputs = []
    for _ in range(4):  # one new thread after another, as successive files' calls
        thread = threading.Thread(target=lambda: outputs.append(runner(signal)))
        thread.start()
        thread.join()
    assert runner._idle.qsize() == 1
    assert all(np.array_equal(out, outputs[0]) for out in outputs) and outputs[0].shape == (2, 400, 5)


def test_openvino_from_a_directory_without_a_writable_cache(tmp_path, monkeypatch):
    """No cache folder can be made: the model is loaded with torch and exported to a temporary
    file for this run, and calls as it does with the cache."""
    pytest.importorskip("openvino")
    from basecaller.inference.pipeline import Basecaller

    reads = list(open_reads(DATA_SAMPLES / "lambda_r941" / "reads.pod5"))[:2]
    monkeypatch.setenv("BASECALLER_CACHE", str(tmp_path / "cache"))
    cached = [c.sequence for c in Basecaller("r941_4khz_lite", backend="openvino").call(reads)]
    (tmp_path / "file").write_text("not a folder")
    monkeypatch.setenv("BASECALLER_CACHE", str(tmp_path / "file"))
    caller = Basecaller("r941_4khz_lite", backend="openvino")
    assert caller.backend == "openvino" and not (tmp_path / "file" / "onnx").exists()
    assert [c.sequence for c in caller.call(reads)] == cached
