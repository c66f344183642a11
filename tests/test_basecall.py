"""The basecalling pipeline: model contract, stitching across windows and batches, outputs
with the tags downstream tools read, resume, filters and bad input."""

from __future__ import annotations

import subprocess
import sys

import edlib
import numpy as np
import pysam
import pytest
import torch
from conftest import DATA_SAMPLES

from basecaller.data.chunks import ChunkSpec, build_chunks
from basecaller.data.segmented import simulated_reads
from basecaller.errors import InputError, SkipLog
from basecaller.inference.pipeline import Basecaller
from basecaller.io.open import open_reads
from basecaller.io.pod5 import write_pod5
from basecaller.models.config import ModelConfig, preset
from basecaller.models.ctc import CTCModel
from basecaller.models.directory import find_model_dir, load_model, save_model_dir
from basecaller.precision import autocast_dtype, cpu_has_bf16
from basecaller.training.basecaller import chunk_identities, ctc_loss

LAMBDA = DATA_SAMPLES / "lambda_r941"
SIMULATED = DATA_SAMPLES / "simulated_r941"


def tiny_config(**changes) -> ModelConfig:
    config = preset("fast")
    config.stem = {"channels": [4, 16, 48], "kernels": [5, 5, 19], "strides": [1, 1, 5]}
    config.encoder = {"type": "gru", "hidden_size": 48, "num_layers": 2, "direction": "bidirectional"}
    config.window, config.overlap, config.batch_size = 1000, 200, 8
    for key, value in changes.items():
        setattr(config, key, value)
    return config


def basecall_cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "basecaller", "basecall", *map(str, args), "--no-progress"],
                          capture_output=True, text=True)


def test_config_round_trip_and_model_contract(tmp_path):
    config = preset("fast", "r10.4.1", 5000)
    loaded = ModelConfig.from_dict(__import__("tomllib").loads(config.dumps()))
    assert loaded == config and loaded.stride == 5 and loaded.window % 5 == 0
    model = CTCModel(tiny_config())
    log_probs = model(torch.randn(3, 1000))
    assert log_probs.shape == (3, 200, 5)
    torch.testing.assert_close(log_probs.exp().sum(-1), torch.ones(3, 200))
    save_model_dir(tmp_path / "model", model)
    assert {p.name for p in (tmp_path / "model").iterdir()} == {"config.toml", "weights.pt"}


def test_one_batch_overfit():
    """A small model drives the CTC loss down on one fixed batch and then reads it back."""
    torch.manual_seed(0)
    dataset = build_chunks(simulated_reads(SIMULATED), ChunkSpec(chunk_len=1000, min_samples_per_base=4))
    fixed = dataset.subset(np.arange(2))
    batch = {"signal": torch.from_numpy(np.asarray(fixed.chunks, dtype=np.float32)),
             "targets": torch.from_numpy(fixed.references.astype(np.int64)),
             "target_lengths": torch.from_numpy(fixed.reference_lengths.astype(np.int64))}
    model = CTCModel(tiny_config())
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-3)
    losses = []
    for _ in range(110):
        loss, _ = ctc_loss(model, batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.1 * losses[0]
    assert chunk_identities(model, fixed).min() > 0.9


class _LocalModel(torch.nn.Module):
    """A position-independent stand-in with a 19-sample receptive field, so stitched windows
    must reproduce a single whole-read pass exactly."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        torch.manual_seed(1)
        self.conv = torch.nn.Conv1d(1, 5, 19, stride=5, padding=9)
        self.encoder = torch.nn.Identity()

    @property
    def stride(self) -> int:
        return self.config.stride

    def for_inference(self):
        return self.eval()

    def forward(self, signal):
        return torch.log_softmax(self.conv(signal.unsqueeze(1)).transpose(1, 2) * 4, dim=-1)


def test_models_keep_the_basecall_model_contract():
    from basecaller.models.contract import BasecallModel
    from basecaller.models.crf import build_model

    config = tiny_config()
    assert isinstance(build_model(config), BasecallModel)
    assert isinstance(_LocalModel(config), BasecallModel)
    assert not isinstance(torch.nn.Linear(2, 2), BasecallModel)


def test_windows_and_batches_stitch_to_the_whole_read_result():
    reads = list(open_reads(LAMBDA / "reads.pod5"))
    config = tiny_config()
    windowed = Basecaller(_LocalModel(config), window=1000, overlap=200, batch_size=3, precision="fp32")
    whole = Basecaller(_LocalModel(config), window=80_000, overlap=0, batch_size=1, precision="fp32")
    for split, single in zip(windowed.call(reads), whole.call(reads)):
        assert split.read_id == single.read_id
        # Identical but for the read's end: the windows leave out the last < stride samples,
        # and the final step sees zero padding where the whole-read pass sees signal.
        assert 0 <= len(single.moves) - len(split.moves) <= 1
        np.testing.assert_array_equal(split.moves[:-1], single.moves[: len(split.moves) - 1])
        bases = int(split.moves[:-1].sum())
        assert bases > 100 and split.sequence[:bases] == single.sequence[:bases]


def test_cli_writes_bam_with_tags_summary_and_read_groups(tmp_path):
    out = tmp_path / "calls.bam"
    result = basecall_cli(LAMBDA, "-o", out, "--emit-moves")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    reads = {r.read_id: r for r in open_reads(LAMBDA)}
    with pysam.AlignmentFile(str(out), check_sq=False) as bam:
        groups = {rg["ID"]: rg for rg in bam.header.to_dict()["RG"]}
        records = list(bam.fetch(until_eof=True))
    assert len(records) == 7
    model = next(iter(groups)).split("_", 1)[1]  # RG ID is <run_id>_<model>; auto's pick depends on the CPU
    stride = ModelConfig.load(find_model_dir(model) / "config.toml").stride
    for record in records:
        assert record.is_unmapped
        moves = np.asarray(record.get_tag("mv"))
        assert moves[0] == stride and moves[1:].sum() == len(record.query_sequence or "")
        assert record.get_tag("ns") == reads[record.query_name].num_samples
        assert 0 < record.get_tag("ts") < record.get_tag("ns")
        assert record.get_tag("RG") in groups and "runid=" in groups[record.get_tag("RG")]["DS"]
        assert isinstance(record.get_tag("qs"), float)
    summary = (tmp_path / "calls.bam.summary.tsv").read_text().splitlines()
    assert summary[0].startswith("filename\tread_id") and len(summary) == 8


def test_resume_skips_reads_already_written(tmp_path):
    out = tmp_path / "calls.fastq"
    first = sorted(r.read_id for r in open_reads(LAMBDA))[:3]
    (tmp_path / "ids.txt").write_text("\n".join(first) + "\n")
    assert basecall_cli(LAMBDA, "-o", out, "--read-ids", tmp_path / "ids.txt").returncode == 0
    assert {r.name for r in pysam.FastxFile(str(out))} == set(first)
    result = basecall_cli(LAMBDA, "-o", out, "--resume")
    assert result.returncode == 0, result.stderr
    assert "basecalled 4 reads" in result.stdout and "3 already done" in result.stdout
    names = [r.name for r in pysam.FastxFile(str(out))]
    assert len(names) == 7 and len(set(names)) == 7


def test_min_qscore_drops_reads(tmp_path):
    result = basecall_cli(LAMBDA, "-o", tmp_path / "calls.fastq", "--min-qscore", "99")
    assert "basecalled 0 reads" in result.stdout and "7 below min qscore" in result.stdout


def test_int8_inference_runs_and_agrees(tmp_path):
    model = CTCModel(preset("fast"))
    save_model_dir(tmp_path / "model", model)
    reads = list(open_reads(LAMBDA))[:2]
    float_calls = list(Basecaller(CTCModel(preset("fast")).eval(), batch_size=4).call(reads))
    assert len(float_calls) == 2
    quantised = Basecaller(__import__("basecaller.models.directory", fromlist=["x"]).load_model(tmp_path / "model"),
                           batch_size=4, int8=True)
    assert isinstance(quantised.model.head, torch.ao.nn.quantized.dynamic.Linear)
    assert len(list(quantised.call(reads))) == 2


def test_precision_choice():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert autocast_dtype("fp32", cpu) is None and autocast_dtype("bf16", cpu) is torch.bfloat16
    assert autocast_dtype("auto", cuda) is torch.float16
    assert autocast_dtype("auto", cpu) is (torch.bfloat16 if cpu_has_bf16() else None)
    with pytest.raises(InputError, match="unknown precision"):
        autocast_dtype("fp8", cpu)


def test_bf16_calls_match_fp32_calls():
    """The shipped model in bfloat16 autocast gives nearly the same reads as in float32."""
    reads = list(open_reads(LAMBDA))[:3]
    model = load_model("r941_4khz_fast")
    fp32 = list(Basecaller(model, precision="fp32").call(reads))
    bf16 = list(Basecaller(load_model("r941_4khz_fast"), precision="bf16").call(reads))
    edits = sum(edlib.align(a.sequence, b.sequence)["editDistance"] for a, b in zip(fp32, bf16, strict=True))
    bases = sum(len(a.sequence) for a in fp32)
    assert bases > 3000 and edits / bases < 0.03


def test_wrong_chemistry_is_skipped_with_one_clear_line(tmp_path):
    skips = SkipLog()
    config = tiny_config(chemistry="r10.4.1")
    calls = list(Basecaller(CTCModel(config), skips=skips).call(open_reads(LAMBDA)))
    assert calls == [] and skips.reasons["wrong chemistry"] == 7


def test_short_and_very_long_reads(tmp_path):
    base = next(iter(open_reads(LAMBDA)))
    rng = np.random.default_rng(0)
    short = __import__("dataclasses").replace(base, read_id="00000000-0000-4000-8000-000000000001",
                                              signal_dac=base.signal_dac[:700])
    long_signal = rng.choice(base.signal_dac, size=2_500_000).astype(np.int16)
    long = __import__("dataclasses").replace(base, read_id="00000000-0000-4000-8000-000000000002",
                                             signal_dac=long_signal)
    tiny = __import__("dataclasses").replace(base, read_id="00000000-0000-4000-8000-000000000003",
                                             signal_dac=base.signal_dac[:50])
    write_pod5(str(tmp_path / "edge.pod5"), [short, long, tiny])
    skips = SkipLog()
    calls = {c.read_id: c for c in Basecaller(CTCModel(tiny_config()), skips=skips).call(open_reads(tmp_path))}
    assert set(calls) == {short.read_id, long.read_id}
    assert skips.reasons["too short"] == 1
    assert len(calls[long.read_id].moves) == pytest.approx((2_500_000 - calls[long.read_id].trimmed_samples) / 5, abs=5)


def test_bad_model_and_empty_input_give_one_line(tmp_path):
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.toml").write_text("this is [not toml")
    result = basecall_cli(LAMBDA, "-o", tmp_path / "x.fastq", "--model", tmp_path / "broken")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "unreadable model config" in result.stderr
    (tmp_path / "empty").mkdir()
    result = basecall_cli(tmp_path / "empty", "-o", tmp_path / "y.fastq")
    assert result.returncode == 2 and "no pod5/fast5/slow5 files found" in result.stderr
    result = basecall_cli(LAMBDA, "-o", tmp_path / "z.fastq", "--model", "no_such_model")
    assert result.returncode == 2 and "no model directory or shipped model named" in result.stderr


def test_identity_on_hand_made_alignments():
    from basecaller.training.basecaller import edit_identity

    assert edit_identity("ACGTACGT", "ACGTACGT") == 1.0
    assert edit_identity("ACGAACGT", "ACGTACGT") == 7 / 8  # one substitution
    assert edit_identity("ACGTTACGT", "ACGTACGT") == 8 / 9  # one insertion
    assert edit_identity("TTTTACGTACGTTTT", "ACGTACGT", infix=True) == 1.0  # flanks outside the truth
    assert edit_identity("", "ACGT") == 0.0
