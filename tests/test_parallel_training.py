"""Data-parallel CPU training: averaged gradients keep the workers in step, and two workers do
what one process does with both workers' batches."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch
from conftest import DATA_SAMPLES
from test_basecall import tiny_config

from basecaller.cli import main
from basecaller.data.chunks import ChunkDataset, ChunkSpec, build_chunks
from basecaller.data.loader import ChunkBatches
from basecaller.data.segmented import simulated_reads
from basecaller.errors import InputError
from basecaller.models.ctc import CTCModel
from basecaller.models.directory import load_model, save_model_dir
from basecaller.training import parallel, read_metrics
from basecaller.training.basecaller import ctc_loss, train_basecaller
from basecaller.training.fit import basecaller_fit


def _gradient_worker(out_folder: str) -> None:
    """Each worker holds gradients rank + 1 (one parameter without a gradient) and a parameter
    of its own; writes what it sees after averaging and broadcasting."""
    torch.manual_seed(parallel.rank())
    model = torch.nn.Linear(3, 2)
    model.weight.grad = torch.full((2, 3), float(parallel.rank() + 1))
    parallel.average_gradients(model.parameters())
    parallel.broadcast_parameters(model)
    record = {"grad": model.weight.grad.tolist(), "bias_grad": model.bias.grad.tolist(),
              "weight": model.weight.tolist(), "agree": parallel.agree(parallel.rank() == 0),
              "world": parallel.world_size()}
    with open(f"{out_folder}/{parallel.rank()}.json", "w") as stream:
        json.dump(record, stream)


def test_gradients_are_averaged_and_parameters_broadcast(tmp_path):
    parallel.run_workers(_gradient_worker, 2, args=(str(tmp_path),))
    first, second = (json.loads((tmp_path / f"{r}.json").read_text()) for r in (0, 1))
    assert first["grad"] == second["grad"] == [[1.5] * 3] * 2
    assert first["bias_grad"] == second["bias_grad"] == [0.0, 0.0]
    assert first["weight"] == second["weight"]
    assert first["agree"] is second["agree"] is True and first["world"] == 2
    assert parallel.world_size() == 1 and parallel.rank() == 0  # nothing left behind here


def _failing_worker() -> None:
    if parallel.rank() == 1:
        raise InputError("bad read in worker 1", path="reads.pod5")


def test_a_worker_error_reaches_the_caller_as_itself():
    with pytest.raises(InputError, match="bad read in worker 1"):
        parallel.run_workers(_failing_worker, 2)


def test_bad_init_model_is_a_one_line_error(tmp_path, capsys):
    dataset = _dataset(tmp_path)
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.toml").write_text(tiny_config().dumps())
    (tmp_path / "broken" / "weights.pt").write_bytes(b"not torch")
    args = ["train", "--chunks", str(tmp_path / "chunks"), "-o", str(tmp_path / "out"), "--init-from",
            str(tmp_path / "broken"), "--steps", "1", "--workers", "2", "--quiet"]
    assert len(dataset) and main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unreadable model weights" in err[0] and "Traceback" not in err[0]


def _dataset(tmp_path, chunk_len: int = 1000, name: str = "chunks") -> ChunkDataset:
    dataset = build_chunks(simulated_reads(DATA_SAMPLES / "simulated_r941"),
                           ChunkSpec(chunk_len=chunk_len, min_samples_per_base=4))
    return ChunkDataset.load(dataset.save(tmp_path / name))


def test_chunk_folders_of_different_lengths_are_a_one_line_error(tmp_path, capsys):
    _dataset(tmp_path)
    _dataset(tmp_path, 1200, "longer")
    args = ["train", "--chunks", str(tmp_path / "chunks"), str(tmp_path / "longer"), "-o", str(tmp_path / "out"),
            "--preset", "fast", "--steps", "1", "--workers", "2", "--quiet"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "different chunk lengths" in err[0] and "longer: 1200" in err[0]
    assert not (tmp_path / "out").exists()


def test_memory_mapped_dataset_travels_by_file_name(tmp_path):
    dataset = _dataset(tmp_path)
    assert isinstance(dataset.chunks, np.memmap)
    payload = pickle.dumps(dataset)
    assert len(payload) < dataset.chunks.nbytes / 4  # the samples are not copied
    copy = pickle.loads(payload)
    np.testing.assert_array_equal(copy.chunks, dataset.chunks)
    np.testing.assert_array_equal(copy.labels(3), dataset.labels(3))
    small = dataset.subset(np.arange(4))  # in memory: travels whole
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(small)).chunks, small.chunks)


def test_two_workers_take_the_step_of_one_process_on_both_batches(tmp_path):
    """One optimiser step with 2 workers (batch 4 each, seeds s and s + 1) equals one step of a
    single process on those 8 chunks: the CTC loss is a mean, so averaged gradients match."""
    torch.manual_seed(0)
    dataset = _dataset(tmp_path)
    config = tiny_config()
    start = CTCModel(config)
    save_model_dir(tmp_path / "start", start)
    options = basecaller_fit(steps=1, batch_size=4, lr=1e-2, warmup_steps=0, weight_decay=0.0, clip_norm=None,
                           amp=False, seed=5, progress=False, workers=2, checkpoint_every=1)
    trained = train_basecaller(config, [dataset], tmp_path / "parallel", options=options, augment=None,
                               init_from=str(tmp_path / "start"))

    batches = [next(iter(ChunkBatches([dataset], batch_size=4, seed=5 + r, augment=None)(0))) for r in (0, 1)]
    both = {key: torch.cat([b[key] for b in batches]) if key != "targets" else None for key in batches[0]}
    width = max(b["targets"].shape[1] for b in batches)
    both["targets"] = torch.cat([torch.nn.functional.pad(b["targets"], (0, width - b["targets"].shape[1]))
                                 for b in batches])
    single = load_model(tmp_path / "start")
    optimizer = torch.optim.AdamW(single.parameters(), lr=1e-2, weight_decay=0.0)
    loss, _ = ctc_loss(single, both)
    loss.backward()
    optimizer.step()
    for (name, a), b in zip(trained.state_dict().items(), single.state_dict().values()):
        torch.testing.assert_close(a, b, atol=2e-5, rtol=1e-4, msg=name)
    records = read_metrics(tmp_path / "parallel" / "checkpoints" / "metrics.jsonl")
    assert [r["step"] for r in records if r["kind"] == "train"] == [1]  # worker 0 logs alone
    saved = load_model(tmp_path / "parallel").config
    assert saved.training["workers"] == 2
    assert saved.name == "parallel"  # read groups tell them apart
    assert saved.training["base_model"] == "start"  # the model directory it started from


def test_a_model_that_calls_nothing_gets_the_identity_qscore_calibration(tmp_path):
    from basecaller.training.basecaller import calibrate_qscores

    model = CTCModel(tiny_config())
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.copy_(torch.tensor([20.0, 0.0, 0.0, 0.0, 0.0]))  # always blank
    assert calibrate_qscores(model, _dataset(tmp_path)) == (1.0, 0.0)


def test_an_exported_checkpoint_is_named_after_its_directory(tmp_path):
    dataset = _dataset(tmp_path)
    options = basecaller_fit(steps=2, batch_size=4, warmup_steps=0, amp=False, progress=False, checkpoint_every=1)
    trained = train_basecaller(tiny_config(), [dataset], tmp_path / "run", options=options)
    out = tmp_path / "exported"
    assert main(["export", str(tmp_path / "run" / "checkpoints" / "last.pt"), "-o", str(out)]) == 0
    exported = load_model(out)
    assert exported.config.name == "exported" and exported.config.training["base_model"] == tiny_config().name
    for a, b in zip(exported.state_dict().values(), trained.state_dict().values()):
        torch.testing.assert_close(a, b)


def test_a_run_with_a_moving_average_writes_and_exports_the_average(tmp_path):
    dataset = _dataset(tmp_path)
    options = basecaller_fit(steps=3, batch_size=4, warmup_steps=0, amp=False, progress=False, checkpoint_every=1,
                             ema_decay=0.5)
    trained = train_basecaller(tiny_config(), [dataset], tmp_path / "run", options=options)
    out = tmp_path / "exported"
    last = tmp_path / "run" / "checkpoints" / "last.pt"
    assert main(["export", str(last), "-o", str(out)]) == 0
    current = torch.load(last, weights_only=False)["model"]
    written = load_model(tmp_path / "run").state_dict()
    for exported, saved, average in zip(load_model(out).state_dict().values(), written.values(),
                                        trained.state_dict().values()):
        torch.testing.assert_close(exported, average)
        torch.testing.assert_close(saved, average)
    assert any(not torch.equal(a, b) for a, b in zip(trained.state_dict().values(), current.values()))
