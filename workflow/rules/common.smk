# Parse-time helpers: where outputs go, which signal files a run reads, and job resources.

import json
import shlex
from pathlib import Path

R = config["results"].rstrip("/")
T = config["train"]
TR = f"{R}/training"
SIGNAL_SUFFIXES = (".pod5", ".fast5", ".slow5", ".blow5")


wildcard_constraints:
    shard=r"shard_\d+",


def script(name):
    """A script of workflow/scripts, by a path that stays the same between runs."""
    return str(Path(workflow.basedir) / "scripts" / name)


def signal_files(paths):
    """The signal files under files or folders, as `basecaller` finds them (recursively)."""
    found = []
    for path in map(Path, paths):
        if path.is_dir():
            found += sorted(
                str(p)
                for p in path.rglob("*")
                if p.suffix.lower() in SIGNAL_SUFFIXES and not p.name.startswith(".")
            )
        else:
            found.append(str(path))
    return found


def gpus(device):
    """One GPU for a job that runs on CUDA (a cluster executor requests it), else none."""
    return 1 if device == "cuda" else 0


def basecall_options(section):
    """`basecaller basecall` flags from the config's basecall section."""
    options = [f"--min-samples {section['min_samples']}", f"--min-qscore {section['min_qscore']}"]
    if section["batch_size"]:
        options.append(f"--batch-size {section['batch_size']}")
    if section["emit_moves"]:
        options.append("--emit-moves")
    return " ".join(options + [section["extra"]]).strip()


def final_outputs():
    outputs = [f"{R}/basecall/calls.fastq.gz", f"{R}/basecall/calls.bam", f"{R}/report.html"]
    if config["reference"]:
        outputs.append(f"{R}/evaluation/calls.summary.json")
    return outputs


def shard_names(wildcards=None):
    """The shards the checkpoint wrote, in name (= read list) order."""
    shard_dir = checkpoints.split_shards.get().output[0]
    return sorted(glob_wildcards(f"{shard_dir}/{{shard}}.tsv").shard)


def shard_outputs(pattern):
    return lambda wildcards: expand(pattern, shard=shard_names())


def evaluation_inputs(wildcards):
    if not config["reference"]:
        return {}
    return {
        "per_read": f"{R}/evaluation/calls.per_read.tsv",
        "evaluation": f"{R}/evaluation/calls.summary.json",
    }


def chunk_sources(wildcards):
    """The labelled inputs the chunks are cut from (simulator output for source simulate)."""
    return [f"{TR}/simulated"] if T["source"] == "simulate" else T["inputs"]


def training_chunks(wildcards):
    """The chunk folders train_model reads: the labelled ones, plus simulated ones to mix in."""
    folders = [f"{TR}/chunks"]
    if T["simulated_fraction"] > 0:
        folders.append(f"{TR}/simulated_chunks")
    return folders


def mix_options():
    """`--chunks ... [--mix]` of train_model: labelled training chunks, and with
    `simulated_fraction` > 0 the simulated chunks, drawn in that ratio."""
    fraction = T["simulated_fraction"]
    chunks = shlex.quote(f"{TR}/chunks/train")
    if fraction <= 0:
        return f"--chunks {chunks}"
    simulated = shlex.quote(f"{TR}/simulated_chunks")
    return f"--chunks {chunks} {simulated} --mix {1 - fraction:g},{fraction:g}"


def chunk_options():
    source = "simulated" if T["source"] == "simulate" else T["source"]
    options = [f"--source {source}", f"--chunk-len {T['chunk_len']}", f"--seed {T['seed']}"]
    if T["bam"]:
        options.append(f"--bam {shlex.quote(T['bam'])}")
    if T["bam_reference"]:
        options.append(f"--reference {shlex.quote(T['bam_reference'])}")
    if T["holdout"]:
        options += [f"--holdout {shlex.quote(region)}" for region in T["holdout"]]
    else:
        options.append(f"--valid-fraction {T['valid_fraction']}")
    return " ".join(options)
