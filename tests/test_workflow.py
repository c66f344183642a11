"""The Snakemake workflow: lint, the DAG of a multi-shard run, a real run on data_samples/,
resuming after an interruption, and the small tools it calls (list-reads, split_shards.py).

Runs use the default config/config.yaml (data_samples/lambda_r941 with the shipped model) in
a temporary working directory, with one override file: small shards and one thread per shard.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pysam
import pytest
import yaml
from conftest import DATA_SAMPLES, REPO, needs_shared

SNAKEFILE = REPO / "workflow" / "Snakefile"
SAMPLE_POD5 = DATA_SAMPLES / "lambda_r941" / "reads.pod5"
SAMPLE_READS = 7
RULE_LOGS = ("list_reads.log", "split_shards.log", "merge_calls.log", "evaluate_calls.log", "report.log")

pytestmark = pytest.mark.skipif(shutil.which("snakemake") is None, reason="snakemake is not installed")


def make_workdir(path: Path, **overrides) -> Path:
    """A working directory that sees the repository's config/ and data_samples/ as its own."""
    path.mkdir(parents=True, exist_ok=True)
    for name in ("config", "data_samples"):
        (path / name).symlink_to(REPO / name, target_is_directory=True)
    settings = {"shards": {"reads_per_shard": 4}, "basecall": {"threads": 1}}
    for key, value in overrides.items():
        settings[key] = {**settings.get(key, {}), **value} if isinstance(value, dict) else value
    (path / "test_config.yaml").write_text(yaml.safe_dump(settings))
    return path


def snakemake_command(workdir: Path, *args: str) -> list[str]:
    return ["snakemake", "--snakefile", str(SNAKEFILE), "--directory", str(workdir),
            "--configfile", str(workdir / "test_config.yaml"), "--cores", "2", *args]


def snakemake(workdir: Path, *args: str, timeout: float = 240) -> str:
    result = subprocess.run(snakemake_command(workdir, *args), capture_output=True, text=True,
                            timeout=timeout)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    return output


def job_counts(output: str) -> dict[str, int]:
    """The "Job stats" table of a snakemake run or dry-run (the first one printed)."""
    table = output.split("Job stats:", 1)[1].split("total", 1)[0]
    return {name: int(count) for name, count in re.findall(r"^(\w+)\s+(\d+)\s*$", table, re.M)}


def executed(output: str) -> dict[str, int]:
    """How many jobs of each rule a real (not dry) run started."""
    names = re.findall(r"^local(?:rule|checkpoint) (\w+):", output, re.M)
    names += re.findall(r"^(?:rule|checkpoint) (\w+):", output, re.M)
    return {name: names.count(name) for name in set(names)}


def rule_resources(output: str, rule: str) -> list[str]:
    """The indented job lines (threads, resources, ...) of each job of ``rule`` in a dry-run."""
    return re.findall(rf"^rule {rule}:\n((?:    [^\n]*\n)+)", output, re.M)


def fastq_records(path: Path) -> list[tuple[str, str]]:
    with gzip.open(path, "rt") as handle:
        lines = handle.read().split("\n")
    return [(lines[i], lines[i + 1]) for i in range(0, len(lines) - 1, 4)]


# --- the tools the rules call -------------------------------------------------------------


def test_list_reads_lists_every_read_with_its_file_and_length(tmp_path, capsys):
    from basecaller.cli import main

    out = tmp_path / "reads.tsv"
    assert main(["list-reads", str(SAMPLE_POD5.parent), "-o", str(out)]) == 0
    header, *rows = [line.split("\t") for line in out.read_text().splitlines()]
    assert header == ["read_id", "file", "num_samples"]
    assert len(rows) == SAMPLE_READS
    assert {row[1] for row in rows} == {str(SAMPLE_POD5)}
    import pod5

    with pod5.Reader(SAMPLE_POD5) as reader:
        expected = [(str(r.read_id), r.num_samples) for r in reader.reads()]
    assert [(row[0], int(row[2])) for row in rows] == expected
    assert main(["list-reads", str(SAMPLE_POD5), "--min-samples", "10000", "-o", str(out)]) == 0
    assert len(out.read_text().splitlines()) - 1 == sum(n >= 10000 for _, n in expected)


def test_split_shards_keeps_order_and_lists_files(tmp_path):
    manifest = tmp_path / "reads.tsv"
    rows = [f"read{i}\t/data/{'a' if i < 3 else 'b'}.pod5\t{100 + i}" for i in range(SAMPLE_READS)]
    manifest.write_text("read_id\tfile\tnum_samples\n" + "\n".join(rows) + "\n")
    script = REPO / "workflow" / "scripts" / "split_shards.py"
    subprocess.run([sys.executable, str(script), str(manifest), "--reads-per-shard", "2",
                    "-o", str(tmp_path / "shards")], check=True, capture_output=True)
    shards = sorted((tmp_path / "shards").glob("*.tsv"))
    assert [p.name for p in shards] == [f"shard_000{i}.tsv" for i in range(4)]
    joined = [line for p in shards for line in p.read_text().splitlines()[1:]]
    assert joined == rows
    assert (tmp_path / "shards" / "shard_0001.files").read_text() == "/data/a.pod5\n/data/b.pod5\n"


# --- lint and the DAG -----------------------------------------------------------------------


def test_snakemake_lint_is_clean_with_the_local_profile(tmp_path):
    workdir = make_workdir(tmp_path / "run")
    output = snakemake(workdir, "--lint", "--profile", str(REPO / "profiles" / "local"))
    assert "Congratulations, your workflow is in a good condition" in output
    slurm = yaml.safe_load((REPO / "profiles" / "slurm" / "config.yaml").read_text())
    assert slurm["executor"] == "slurm" and "basecall_shard" in slurm["set-resources"]


def mixed_input_folder(path: Path) -> Path:
    """The 7 sample reads split over a FAST5 file (3 reads) and a POD5 file (4), in subfolders."""
    from fast5_factory import write_multi_read_fast5

    from basecaller.io.open import open_reads
    from basecaller.io.pod5 import write_pod5

    reads = list(open_reads(SAMPLE_POD5))
    (path / "fast5").mkdir(parents=True)
    (path / "pod5").mkdir()
    write_multi_read_fast5(path / "fast5" / "batch_0.fast5", reads[:3])
    write_pod5(str(path / "pod5" / "batch_1.pod5"), iter(reads[3:]))
    return path


def test_dry_run_of_multi_shard_input_has_one_job_per_shard(tmp_path):
    """Mixed FAST5 + POD5 input, 7 reads in shards of 2: 4 shard jobs, each opening only the
    files that hold its reads; declared threads and memory; a GPU each when device is cuda."""
    inputs = [str(mixed_input_folder(tmp_path / "mixed"))]
    workdir = make_workdir(tmp_path / "run", inputs=inputs, shards={"reads_per_shard": 2},
                           basecall={"threads": 2})
    before = job_counts(snakemake(workdir, "--dry-run"))
    assert before == {"list_reads": 1, "split_shards": 1, "merge_calls": 1, "evaluate_calls": 1,
                      "report": 1, "all": 1}
    snakemake(workdir, "results/shards")  # run the checkpoint: the shards are now known
    shard_files = sorted((workdir / "results" / "shards").glob("shard_*.files"))
    assert [Path(line).suffix for p in shard_files for line in p.read_text().splitlines()] == [
        ".fast5", ".fast5", ".pod5", ".pod5", ".pod5"]  # shard 1 holds one read of each file
    output = snakemake(workdir, "--dry-run", "all", "train")
    assert job_counts(output) == {"basecall_shard": 4, "merge_calls": 1, "evaluate_calls": 1,
                                  "report": 1, "all": 1, "train_chunks": 1, "train_model": 1,
                                  "basecall_heldout": 1, "evaluate_heldout": 1, "train": 1}
    shard_jobs = rule_resources(output, "basecall_shard")
    assert len(shard_jobs) == 4
    assert all("threads: 2" in job and "gpu=0, mem_mb=4000" in job for job in shard_jobs)

    cuda = tmp_path / "cuda.yaml"
    cuda.write_text(yaml.safe_dump({"basecall": {"device": "cuda"}, "train": {"device": "cuda"}}))
    output = snakemake(workdir, "--dry-run", "--configfile", str(workdir / "test_config.yaml"),
                       str(cuda), "--", "all", "train")
    for rule in ("basecall_shard", "train_model", "basecall_heldout"):
        assert rule_resources(output, rule) and all("gpu=1" in job for job in rule_resources(output, rule))


@needs_shared
def test_list_reads_on_mixed_fast5_and_blow5_folders(shared_data, tmp_path):
    from basecaller.cli import main

    out = tmp_path / "reads.tsv"
    folders = [shared_data / "r941_lambda_tombo" / "fast5", shared_data / "r1041_squigualiser_blow5"]
    assert main(["list-reads", *map(str, folders), "-o", str(out)]) == 0
    rows = [line.split("\t") for line in out.read_text().splitlines()[1:]]
    suffixes = [Path(row[1]).suffix for row in rows]
    assert suffixes.count(".fast5") == 50 and suffixes.count(".blow5") == 27
    assert len({row[0] for row in rows}) == len(rows) and all(int(row[2]) > 0 for row in rows)


def test_training_branch_can_start_from_the_simulator(tmp_path):
    workdir = make_workdir(tmp_path / "run", train={"source": "simulate", "workers": 2, "threads": 1})
    output = snakemake(workdir, "--dry-run", "--printshellcmds", "train")
    assert job_counts(output) == {
        "simulate_training_reads": 1, "train_chunks": 1, "train_model": 1, "basecall_heldout": 1,
        "evaluate_heldout": 1, "train": 1}
    assert "--threads 1 --workers 2" in output  # data-parallel workers, one thread each
    assert all("threads: 2" in job for job in rule_resources(output, "train_model"))


def test_training_branch_mixes_in_simulated_reads(tmp_path):
    workdir = make_workdir(tmp_path / "run", train={"source": "simulated", "simulated_fraction": 0.25})
    output = snakemake(workdir, "--dry-run", "--printshellcmds", "train")
    assert job_counts(output) == {
        "simulate_training_reads": 1, "simulated_chunks": 1, "train_chunks": 1, "train_model": 1,
        "basecall_heldout": 1, "evaluate_heldout": 1, "train": 1}
    assert "training/chunks/train results/training/simulated_chunks --mix 0.75,0.25" in output
    assert "--valid results/training/chunks/valid" in output


@needs_shared  # the simulator reads its k-mer models from ../shared
def test_training_branch_runs_end_to_end_with_simulated_reads_mixed_in(tmp_path):
    import tomllib

    workdir = make_workdir(tmp_path / "run", train={
        "source": "simulated", "simulated_fraction": 0.5, "steps": 3, "chunk_len": 1000, "threads": 1,
        "simulate": {"genome_length": 5000, "reads": 8}})
    snakemake(workdir, "train")
    training = workdir / "results" / "training"
    config = tomllib.loads((training / "model" / "config.toml").read_text())
    assert config["training"]["data"] == ["results/training/chunks/train", "results/training/simulated_chunks"]
    assert config["training"]["mix"] == "0.5,0.5"
    assert config["model"]["name"] == "model"
    assert config["training"]["base_model"] == "none (trained from scratch as r941_4khz_fast)"
    log = (workdir / "results" / "logs" / "basecall_heldout.log").read_text()
    assert "basecalled 7 reads" in log and "skipped 0 reads" in log  # the held-out lambda reads
    with pysam.AlignmentFile(str(training / "heldout" / "calls.bam"), check_sq=False) as calls:
        written = sum(1 for _ in calls)
    summary = json.loads((training / "heldout" / "evaluation.summary.json").read_text())
    assert summary["reads"] == written == 7  # a 3-step model's empty calls count as unmapped reads


# --- a real run on data_samples/ ------------------------------------------------------------


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    """The default workflow on data_samples/, two shards of at most 4 reads, 2 cores."""
    workdir = make_workdir(tmp_path_factory.mktemp("workflow") / "run")
    start = time.perf_counter()
    output = snakemake(workdir)
    (workdir / "wall_s.txt").write_text(f"{time.perf_counter() - start:.1f}\n")
    assert executed(output)["basecall_shard"] == 2
    return workdir


def test_run_writes_fastq_and_bam_of_every_read(finished_run):
    import pod5

    results = finished_run / "results"
    with pod5.Reader(SAMPLE_POD5) as reader:
        read_ids = [str(r.read_id) for r in reader.reads()]
    fastq = fastq_records(results / "basecall" / "calls.fastq.gz")
    assert [header.split("\t")[0] for header, _ in fastq] == [f"@{i}" for i in read_ids]
    assert all(re.search(r"\tqs:f:[\d.]+\tns:i:\d+\tts:i:\d+\tRG:Z:\S+", h) for h, _ in fastq)
    with pysam.AlignmentFile(str(results / "basecall" / "calls.bam"), check_sq=False) as bam:
        records = list(bam.fetch(until_eof=True))
        groups = [group["ID"] for group in bam.header.to_dict()["RG"]]
    assert [r.query_name for r in records] == read_ids
    assert all(r.is_unmapped and r.get_tag("RG") in groups for r in records)
    assert [r.query_sequence or "" for r in records] == [seq for _, seq in fastq]
    summary = (results / "basecall" / "sequencing_summary.tsv").read_text().splitlines()
    assert summary[0].startswith("filename\tread_id") and len(summary) == 1 + SAMPLE_READS


def test_run_evaluates_identity_against_the_reference(finished_run):
    evaluation = finished_run / "results" / "evaluation"
    summary = json.loads((evaluation / "calls.summary.json").read_text())
    assert summary["reads"] == SAMPLE_READS
    assert {"mapped", "mapped_fraction", "median_identity", "mean_identity"} <= summary.keys()
    assert len((evaluation / "calls.per_read.tsv").read_text().splitlines()) == 1 + SAMPLE_READS


def test_run_report_has_histograms_identity_and_settings(finished_run):
    page = (finished_run / "results" / "report.html").read_text()
    for name in ("read-length-histogram", "qscore-histogram", "identity-histogram"):
        assert re.search(rf'<figure id="{name}"><img [^>]*src="data:image/png;base64,[A-Za-z0-9+/=]{{200,}}"', page)
    evaluation = json.loads((finished_run / "results" / "evaluation" / "calls.summary.json").read_text())
    identity = page.split('class="identity-summary"', 1)[1].split("</table>", 1)[0]
    assert f"<th>reads</th><td>{evaluation['reads']}</td>" in identity
    assert f"<th>mapped</th><td>{evaluation['mapped']}</td>" in identity
    assert "median_identity" in identity
    assert "samples/s while basecalling" in page
    assert "<th>shards.reads_per_shard</th><td>4</td>" in page


def test_run_writes_a_log_per_rule_and_reruns_nothing(finished_run):
    logs = finished_run / "results" / "logs"
    for name in RULE_LOGS:
        assert (logs / name).is_file(), name
    assert sorted(p.name for p in (logs / "basecall_shard").iterdir()) == ["shard_0000.log", "shard_0001.log"]
    assert "Nothing to be done" in snakemake(finished_run, "--dry-run")


def test_sharded_run_matches_one_basecall_of_all_reads(finished_run, tmp_path):
    from basecaller.cli import main

    direct = tmp_path / "direct.fastq"
    assert main(["basecall", str(SAMPLE_POD5), "-o", str(direct), "--model", "r941_4khz_fast",
                 "--device", "cpu", "--threads", "1", "--no-progress", "--no-summary"]) == 0
    merged = fastq_records(finished_run / "results" / "basecall" / "calls.fastq.gz")
    lines = direct.read_text().split("\n")
    single = [(lines[i], lines[i + 1]) for i in range(0, len(lines) - 1, 4)]
    # same reads, order, signal lengths and sequences (qscores may differ in the last digit
    # where windows are batched differently, so the headers are compared without them)
    assert [(h.split("\t")[0], h.split("\t")[2], seq) for h, seq in merged] == \
        [(h.split("\t")[0], h.split("\t")[2], seq) for h, seq in single]


# --- resume after an interruption ------------------------------------------------------------


def test_interrupted_run_resumes_without_redoing_finished_shards(tmp_path, finished_run):
    """Kill a one-core run (SIGKILL, the whole process group) once a shard is written; the
    rerun does only the missing shards and the steps after them, and gives the same bytes."""
    workdir = make_workdir(tmp_path / "run")
    shard_dir = workdir / "results" / "basecall" / "shards"
    command = snakemake_command(workdir)
    command[command.index("--cores") + 1] = "1"
    with open(tmp_path / "first.log", "w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + 180
            while not list(shard_dir.glob("shard_*.bam")) and process.poll() is None:
                assert time.monotonic() < deadline, "no shard was written"
                time.sleep(0.1)
        finally:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    done = {p.name: p.stat().st_mtime_ns for p in shard_dir.glob("shard_*.bam")}
    assert 1 <= len(done) < 2, "the run was not interrupted between the shards"
    assert not (workdir / "results" / "basecall" / "calls.bam").exists()

    snakemake(workdir, "--unlock")
    plan = job_counts(snakemake(workdir, "--dry-run", "--rerun-incomplete"))
    assert plan["basecall_shard"] == 2 - len(done)
    assert {"merge_calls", "evaluate_calls", "report", "all"} <= plan.keys()
    output = snakemake(workdir, "--rerun-incomplete")
    assert executed(output).get("basecall_shard", 0) == 2 - len(done)
    assert {name: (shard_dir / name).stat().st_mtime_ns for name in done} == done
    for name in ("calls.fastq.gz", "calls.bam", "sequencing_summary.tsv"):
        resumed = (workdir / "results" / "basecall" / name).read_bytes()
        assert resumed == (finished_run / "results" / "basecall" / name).read_bytes(), name
