"""Nothing lost, nothing crashes: interrupted basecalls resume, C-library crashes cost one file,
output problems are one line before any work, training reproduces, chemistry is detected from
every metadata field, and degenerate inputs end the same way."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pysam
import pytest
import torch
from conftest import DATA_SAMPLES, SHARED_DATA, benchmark_module, needs_shared

from basecaller.errors import InputError, SkipLog
from basecaller.io.chemistry import R9, R10, detect_chemistry
from basecaller.io.isolate import isolated_items
from basecaller.io.journal import CallJournal
from basecaller.io.open import open_reads
from basecaller.io.pod5 import write_pod5

LAMBDA = DATA_SAMPLES / "lambda_r941"


def cli(*args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "basecaller", *map(str, args)], capture_output=True, text=True,
                          **kwargs)


def _renamed(read, index: int):
    return dataclasses.replace(read, read_id=f"{index:08x}{read.read_id[8:]}")


@pytest.fixture(scope="module")
def many_reads(tmp_path_factory) -> Path:
    """84 distinct reads (the 7 lambda sample reads under 12 ids each) in 12 pod5 files."""
    folder = tmp_path_factory.mktemp("many")
    reads = list(open_reads(LAMBDA))
    for copy in range(12):
        write_pod5(str(folder / f"part{copy:02d}.pod5"), [_renamed(r, copy * 10 + i) for i, r in enumerate(reads)])
    return folder


def _fastq(path: Path) -> dict[str, str]:
    with pysam.FastxFile(str(path)) as handle:
        return {entry.name: entry.sequence for entry in handle}


@pytest.fixture(scope="module")
def uninterrupted(many_reads, tmp_path_factory) -> dict[str, str]:
    out = tmp_path_factory.mktemp("reference") / "calls.fastq"
    result = cli("basecall", many_reads, "-o", out, "--threads", "1", "--no-progress")
    assert result.returncode == 0, result.stderr
    return _fastq(out)


def _interrupt(command: list[str], journal: Path, how: int) -> None:
    """Start ``command`` and send it ``how`` once a few reads are journaled."""
    process = subprocess.Popen([sys.executable, "-m", "basecaller", *command], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if journal.exists() and journal.read_text().count("\n") >= 3:
            break
        time.sleep(0.02)
    assert process.poll() is None, "the run finished before it could be interrupted"
    process.send_signal(how)
    _, stderr = process.communicate(timeout=60)
    assert "Traceback" not in stderr
    if how != signal.SIGKILL:
        assert "--resume" in stderr  # the user is told how to go on


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT], ids=["kill", "term", "int"])
def test_interrupted_basecall_resumes_to_the_same_calls(many_reads, uninterrupted, tmp_path, how):
    out = tmp_path / "calls.fastq"
    command = ["basecall", str(many_reads), "-o", str(out), "--threads", "1", "--no-progress"]
    _interrupt(command, Path(f"{out}.journal"), how)
    assert not out.exists()
    result = cli(*command, "--resume")
    assert result.returncode == 0, result.stderr
    called_again = int(result.stdout.split("basecalled ")[1].split()[0])
    assert 0 < called_again < len(uninterrupted)
    assert _fastq(out) == uninterrupted
    assert sorted(p.name for p in tmp_path.iterdir()) == ["calls.fastq", "calls.fastq.summary.tsv"]


def test_journal_drops_a_torn_last_line(tmp_path):
    from basecaller.io.records import CalledRead

    journal = CallJournal(tmp_path / "out.fastq").open()
    for index in range(3):
        journal.append(CalledRead(f"read{index}", "ACGT", np.full(4, 20), moves=np.array([1, 0, 1, 1, 1]), stride=5))
    journal.close()
    with open(journal.path, "a") as handle:
        handle.write('{"read_id": "torn", "seq')
    recovered = CallJournal(tmp_path / "out.fastq").recover()
    assert [call.read_id for call, _ in recovered] == ["read0", "read1", "read2"]
    assert recovered[1][0].moves.tolist() == [1, 0, 1, 1, 1] and recovered[1][0].qstring == "5555"
    assert journal.path.read_text().endswith("}\n")  # cut back to whole records


def test_stale_temporaries_of_dead_runs_are_removed(tmp_path):
    out = tmp_path / "calls.fastq"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f"calls.fastq.tmp-{dead.stdout.strip()}"
    stale.write_text("half a record")
    live = tmp_path / f"calls.fastq.tmp-{os.getpid()}0"  # not a running pid's file: also stale
    result = cli("basecall", LAMBDA, "-o", out, "--threads", "1", "--no-progress")
    assert result.returncode == 0 and not stale.exists() and not live.exists()


def test_without_resume_an_old_journal_is_set_aside_with_a_line(tmp_path):
    out = tmp_path / "calls.fastq"
    Path(f"{out}.journal").write_text("")
    result = cli("basecall", LAMBDA, "-o", out, "--threads", "1", "--no-progress")
    assert result.returncode == 0 and "pass --resume to keep its reads" in result.stderr
    assert not Path(f"{out}.journal").exists() and len(_fastq(out)) == 7


# --- readers: a crash inside a C library costs one file --------------------------------------------

def _crash_after_two():
    yield "first"
    yield "second"
    os.kill(os.getpid(), signal.SIGSEGV)
    yield "never"


def test_a_crashing_reader_costs_only_its_file(monkeypatch):
    monkeypatch.setenv("BASECALLER_ISOLATE_READERS", "all")
    received = []
    with pytest.raises(InputError, match=r"file broken.blow5: the reader crashed \(SIGSEGV\)"):
        for item in isolated_items(_crash_after_two, "broken.blow5"):
            received.append(item)
    assert received == ["first", "second"]


def test_isolated_reads_equal_direct_reads(monkeypatch):
    monkeypatch.setenv("BASECALLER_ISOLATE_READERS", "all")
    isolated = list(open_reads(LAMBDA))
    monkeypatch.setenv("BASECALLER_ISOLATE_READERS", "0")
    direct = list(open_reads(LAMBDA))
    assert [r.read_id for r in isolated] == [r.read_id for r in direct]
    assert all(np.array_equal(a.signal_dac, b.signal_dac) for a, b in zip(isolated, direct))


def _corrupt_suite():
    return benchmark_module("corrupt_inputs")


def test_corrupt_input_sample_loses_nothing_and_never_crashes(tmp_path):
    suite = _corrupt_suite()
    outcomes = suite.run_suite(tmp_path, per_kind=1, seed=3, content=True)
    summary = suite.summarise(outcomes)
    failures = [o for o in outcomes if o.crashed or o.good_lost or o.unexplained]
    assert summary["files_tried"] >= 17 and not failures, failures


@needs_shared
def test_damaged_blow5_headers_never_crash(tmp_path):
    """Flipped header bytes made pyslow5 segfault (exit 139) before the readers were isolated."""
    suite = _corrupt_suite()
    blow5 = SHARED_DATA / "r1041_squigualiser_blow5" / "reads.blow5"
    import random

    for seed in range(6):
        data, _ = suite.byte_damage(blow5, "flipped_header", random.Random(seed))
        (tmp_path / f"damaged{seed}.blow5").write_bytes(data)
    (tmp_path / "empty.blow5").write_bytes(b"")
    write_pod5(str(tmp_path / "good.pod5"), list(open_reads(LAMBDA)))
    returncode, stdout, stderr = suite.read_folder_in_child(tmp_path)
    assert returncode == 0 and "Traceback" not in stderr
    assert sum("good.pod5" in line for line in stdout.splitlines()) == 7
    assert "empty.blow5: empty file" in stderr


def test_list_reads_survives_an_empty_blow5(tmp_path):
    write_pod5(str(tmp_path / "good.pod5"), list(open_reads(LAMBDA)))
    (tmp_path / "empty.blow5").write_bytes(b"")
    (tmp_path / "cut.blow5").write_bytes(b"BLOW5\x01\x00\x02" + bytes(100))
    result = cli("list-reads", tmp_path)
    assert result.returncode == 0 and result.stdout.count("\n") == 8
    assert "empty.blow5: empty file" in result.stderr and "cut.blow5: not a complete blow5" in result.stderr


# --- output paths and devices: one line, before any work ---------------------------------------------

@pytest.mark.parametrize("target, message", [
    ("parent_is_file/calls.fastq", "is a file"),
    ("a_folder", "the output is a directory"),
    ("/sys/calls.fastq", "cannot write in /sys"),
    ("calls.txt", "unknown output format"),
])
def test_bad_output_paths_are_one_line_before_work(tmp_path, target, message):
    (tmp_path / "parent_is_file").write_text("")
    (tmp_path / "a_folder").mkdir()
    result = cli("basecall", LAMBDA, "-o", target if target.startswith("/") else tmp_path / target, "--no-progress")
    assert result.returncode == 2 and message in result.stderr
    assert "Traceback" not in result.stderr and result.stderr.count("error:") == 1
    assert "basecalled" not in result.stdout  # no work was done


def test_missing_output_folders_are_created(tmp_path):
    result = cli("basecall", LAMBDA, "-o", tmp_path / "new" / "deeper" / "calls.fastq", "--threads", "1",
                 "--no-progress")
    assert result.returncode == 0 and len(_fastq(tmp_path / "new" / "deeper" / "calls.fastq")) == 7


def test_train_and_chunks_check_their_output_first(tmp_path):
    (tmp_path / "file").write_text("")
    result = cli("train", "--chunks", tmp_path / "none", "-o", tmp_path / "file" / "model")
    assert result.returncode == 2 and "is a file" in result.stderr and "Traceback" not in result.stderr
    result = cli("chunks", LAMBDA, "--source", "simulated", "-o", tmp_path / "file" / "chunks")
    assert result.returncode == 2 and "is a file" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_device_cuda_without_cuda_is_one_line(tmp_path):
    result = cli("basecall", LAMBDA, "-o", tmp_path / "x.fastq", "--device", "cuda", "--no-progress")
    assert result.returncode == 2 and "--device cuda:" in result.stderr and "Traceback" not in result.stderr
    result = cli("basecall", LAMBDA, "-o", tmp_path / "x.fastq", "--device", "tpu", "--no-progress")
    assert result.returncode == 2 and "unknown device" in result.stderr


# --- degenerate inputs end the same way --------------------------------------------------------------

@pytest.mark.parametrize("damage, reason", [
    (lambda r: dataclasses.replace(r, signal_dac=np.zeros_like(r.signal_dac)), "signal is constant"),
    (lambda r: dataclasses.replace(r, scale_pa_per_dac=float("nan")), "non-finite calibration"),
    (lambda r: dataclasses.replace(r, signal_dac=r.signal_dac[:100]), "too short"),
], ids=["zero", "nan", "short"])
def test_when_no_read_can_be_called_the_run_says_so_and_writes_empty_outputs(tmp_path, damage, reason):
    write_pod5(str(tmp_path / "bad.pod5"), [damage(r) for r in open_reads(LAMBDA)])
    out = tmp_path / "out" / "calls.bam"
    result = cli("basecall", tmp_path / "bad.pod5", "-o", out, "--no-progress")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert reason in result.stderr and "error: no read was basecalled" in result.stderr
    with pysam.AlignmentFile(str(out), check_sq=False) as bam:
        assert list(bam.fetch(until_eof=True)) == []
    assert Path(f"{out}.summary.tsv").read_text().count("\n") == 1  # the header only


def test_duplicate_read_ids_are_called_once(tmp_path):
    reads = list(open_reads(LAMBDA))
    write_pod5(str(tmp_path / "a.pod5"), reads)
    write_pod5(str(tmp_path / "b.pod5"), reads[:3])
    result = cli("basecall", tmp_path, "-o", tmp_path / "calls.fastq", "--threads", "1", "--no-progress")
    assert result.returncode == 0 and "duplicate read id" in result.stderr
    assert len(_fastq(tmp_path / "calls.fastq")) == 7


# --- chemistry from every metadata field ---------------------------------------------------------------

def _read(**fields):
    base = next(iter(open_reads(LAMBDA)))
    return dataclasses.replace(base, **{"sequencing_kit": "", "experiment": "", **fields})


def test_q20ea_run_info_is_r10():
    read = _read(flow_cell_product="FLO-PRO112", sequencing_kit="SQK-Q20EA",
                 basecall_config="dna_r10.4.1_e8.2_fast_prom.cfg")
    assert detect_chemistry(read).name == R10


@pytest.mark.parametrize("fields, expected", [
    ({"sequencing_kit": "SQK-LSK109"}, R9),
    ({"sequencing_kit": "sqk-lsk114"}, R10),
    ({"protocol": "NC_48Hr_Sequencing_Run_FLO-MIN106_SQK-LSK108.py"}, R9),
    ({"protocol": "NC_48Hr_Sequencing_Run_FLO_MIN104.py"}, R9),
    ({"protocol": "sequencing/sequencing_PRO114_DNA_e8_2:FLO-PRO114M:SQK-LSK114"}, R10),
    ({"basecall_config": "dna_r9.4.1_450bps_hac.cfg"}, R9),
    ({"pore_type": "r9.4"}, R9),
    ({}, None),
    ({"sequencing_kit": "SQK-LSK109", "flow_cell_product": "FLO-PRO114M"}, "ambiguous"),
])
def test_chemistry_from_each_field(fields, expected):
    assert detect_chemistry(_read(**fields)).name == expected


def test_q20ea_pod5_is_called_with_the_r10_model(tmp_path, capsys):
    from basecaller.models.directory import choose_model

    reads = [dataclasses.replace(r, sequencing_kit="SQK-Q20EA", flow_cell_product="FLO-PRO112",
                                 basecall_config="dna_r10.4.1_e8.2_fast_prom.cfg") for r in open_reads(LAMBDA)]
    write_pod5(str(tmp_path / "q20.pod5"), reads)
    first = next(iter(open_reads(tmp_path / "q20.pod5")))
    assert first.flow_cell_product == "FLO-PRO112" and first.basecall_config.startswith("dna_r10.4.1")
    assert Path(choose_model("auto", first)).name == "r1041_4khz_fast"
    at_5khz = dataclasses.replace(first, sample_rate_hz=5000)  # no 5 kHz model ships: the 4 kHz fast one
    assert Path(choose_model("auto", at_5khz)).name == "r1041_4khz_fast"
    result = cli("basecall", tmp_path / "q20.pod5", "-o", tmp_path / "c.fastq", "--model", "r1041_4khz_fast",
                 "--threads", "1", "--no-progress")
    assert result.returncode == 0 and "wrong chemistry" not in result.stderr


def test_unknown_chemistry_is_said_once_and_the_named_model_used(tmp_path):
    write_pod5(str(tmp_path / "plain.pod5"), [_read() for _ in range(1)] + [
        dataclasses.replace(_read(), read_id=f"{i:08x}-0000-4000-8000-000000000000") for i in range(3)])
    result = cli("basecall", tmp_path / "plain.pod5", "-o", tmp_path / "c.fastq", "--model", "r1041_4khz_fast",
                 "--threads", "1", "--no-progress")
    assert result.returncode == 0 and result.stderr.count("is not recorded; calling such reads") == 1


# --- training: deterministic with --seed, exact after a kill ---------------------------------------------

@pytest.fixture(scope="module")
def sim_chunks(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("chunks") / "sim"
    result = cli("chunks", DATA_SAMPLES / "simulated_r941", "--source", "simulated", "-o", out,
                 "--chunk-len", "2000")
    assert result.returncode == 0, result.stderr
    return out


def _train(chunks: Path, out: Path, *extra) -> list[str]:
    return ["train", "--chunks", str(chunks), "-o", str(out), "--preset", "fast", "--steps", "30",
            "--batch-size", "2", "--threads", "1", "--quiet", "--validate-every", "1000", "--checkpoint-every", "2",
            "--seed", "7", *extra]


def _weights(folder: Path) -> dict:
    return torch.load(folder / "weights.pt", weights_only=True)


def _checkpoint_step(folder: Path) -> int:
    try:
        return int(torch.load(folder / "checkpoints" / "last.pt", weights_only=False)["step"])
    except Exception:
        return 0


def test_train_with_seed_reproduces_and_resumes_exactly(sim_chunks, tmp_path):
    for name in ("a", "b"):
        assert cli(*_train(sim_chunks, tmp_path / name)).returncode == 0
    first, second = _weights(tmp_path / "a"), _weights(tmp_path / "b")
    assert all(torch.equal(first[k], second[k]) for k in first)
    process = subprocess.Popen([sys.executable, "-m", "basecaller", *_train(sim_chunks, tmp_path / "c")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while _checkpoint_step(tmp_path / "c") < 6 and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    assert process.poll() is None, "training finished before it could be killed"
    process.kill()
    process.wait()
    assert not (tmp_path / "c" / "weights.pt").exists()
    assert cli(*_train(sim_chunks, tmp_path / "c"), "--resume").returncode == 0
    resumed = _weights(tmp_path / "c")
    assert all(torch.equal(first[k], resumed[k]) for k in first)


def test_models_trained_from_a_preset_name_no_base_and_are_readable_by_all(sim_chunks, tmp_path):
    import tomllib

    out = tmp_path / "m"
    assert cli(*_train(sim_chunks, out)[:-2], "--steps", "1").returncode == 0
    training = tomllib.loads((out / "config.toml").read_text())["training"]
    assert training["base_model"].startswith("none (trained from scratch")
    assert out.stat().st_mode & 0o755 == 0o755


def test_skiplog_lines_name_file_and_read():
    skips = SkipLog(quiet=True)
    skips.skip(InputError("x", "f.pod5", "r1"), "bad read")
    assert skips.total == 1
    assert str(InputError("bad", "f.pod5", "r1")) == "file f.pod5, read r1: bad"


def test_int8_prints_no_torch_warning(tmp_path):
    result = cli("basecall", LAMBDA, "-o", tmp_path / "c.fastq", "--int8", "--threads", "1", "--no-progress")
    assert result.returncode == 0 and "Warning" not in result.stderr, result.stderr


@pytest.mark.parametrize("amx, device_type, expected", [
    (False, "cpu", "r941_4khz_prefix"),  # fast cannot keep up with a MinION on 2 cores here
    (True, "cpu", "r941_4khz_fast"),
    (False, "cuda", "r941_4khz_fast"),
    (False, None, "r941_4khz_fast"),  # callers that do not say where the model runs
])
def test_auto_picks_the_prefix_model_on_cpus_without_amx(monkeypatch, amx, device_type, expected):
    import basecaller.precision
    from basecaller.models.directory import choose_model

    monkeypatch.setattr(basecaller.precision, "cpu_has_amx", lambda: amx)
    r9 = next(iter(open_reads(LAMBDA)))
    assert Path(choose_model("auto", r9, device_type)).name == expected
    r10 = dataclasses.replace(r9, flow_cell_product="FLO-PRO114M", sequencing_kit="SQK-LSK114")
    assert Path(choose_model("auto", r10, device_type)).name == "r1041_4khz_fast"  # no R10.4.1 prefix model
    assert Path(choose_model("r941_4khz_fast", r9, device_type)).name == "r941_4khz_fast"


def test_auto_says_which_model_it_runs_on_a_cpu_without_amx(tmp_path, monkeypatch, capsys):
    import basecaller.precision
    from basecaller.cli import main

    monkeypatch.setattr(basecaller.precision, "cpu_has_amx", lambda: False)
    assert main(["basecall", str(LAMBDA), "-o", str(tmp_path / "calls.fastq"), "--device", "cpu"]) == 0
    captured = capsys.readouterr()
    assert "--model auto runs r941_4khz_prefix" in captured.err
    assert "with r941_4khz_prefix" in captured.out + captured.err
    assert main(["basecall", str(LAMBDA), "-o", str(tmp_path / "fast.fastq"), "--model", "r941_4khz_fast"]) == 0
    assert "--model auto" not in capsys.readouterr().err
