# Find reads -> shards -> basecall each shard -> merge in shard order.


rule list_reads:
    input:
        signal_files(config["inputs"]),
    output:
        f"{R}/reads/reads.tsv",
    log:
        f"{R}/logs/list_reads.log",
    params:
        inputs=config["inputs"],
        min_samples=config["basecall"]["min_samples"],
    resources:
        mem_mb=1000,
    conda:
        "../envs/basecaller.yaml"
    shell:
        "basecaller list-reads {params.inputs:q} --min-samples {params.min_samples}"
        " -o {output:q} > {log:q} 2>&1"


checkpoint split_shards:
    input:
        f"{R}/reads/reads.tsv",
    output:
        directory(f"{R}/shards"),
    log:
        f"{R}/logs/split_shards.log",
    params:
        script=script("split_shards.py"),
        reads_per_shard=config["shards"]["reads_per_shard"],
    resources:
        mem_mb=1000,
    conda:
        "../envs/basecaller.yaml"
    shell:
        "python {params.script:q} {input:q} --reads-per-shard {params.reads_per_shard}"
        " -o {output:q} > {log:q} 2>&1"


# A shard job opens only the files in its .files list and calls only its own read ids, so
# shards are independent: a cluster runs them in parallel and the merge joins them in order.
# `basecaller basecall` writes atomically; it exits 2 (with complete outputs) when no read of
# the shard passes the filters, which is not an error here. `--resume` picks up the journal a
# killed shard job left (its finished reads), so a rerun calls only the rest of the shard.
rule basecall_shard:
    input:
        reads=f"{R}/shards/{{shard}}.tsv",
        files=f"{R}/shards/{{shard}}.files",
    output:
        bam=f"{R}/basecall/shards/{{shard}}.bam",
        summary=f"{R}/basecall/shards/{{shard}}.summary.tsv",
    log:
        f"{R}/logs/basecall_shard/{{shard}}.log",
    benchmark:
        f"{R}/benchmarks/basecall_shard/{{shard}}.tsv"
    params:
        model=config["basecall"]["model"],
        device=config["basecall"]["device"],
        options=basecall_options(config["basecall"]),
    threads: config["basecall"]["threads"]
    resources:
        mem_mb=config["basecall"]["mem_mb"],
        gpu=gpus(config["basecall"]["device"]),
    conda:
        "../envs/basecaller.yaml"
    shell:
        'set --; while IFS= read -r f; do set -- "$@" "$f"; done < {input.files:q}; '
        'basecaller basecall "$@" --read-ids {input.reads:q} -o {output.bam:q}'
        " --summary {output.summary:q} --model {params.model:q} --device {params.device}"
        " --threads {threads} --no-progress --resume {params.options} > {log:q} 2>&1"
        " || {{ test $? -eq 2 && test -e {output.bam:q} && test -e {output.summary:q}; }}"


rule merge_calls:
    input:
        bams=shard_outputs(f"{R}/basecall/shards/{{shard}}.bam"),
        summaries=shard_outputs(f"{R}/basecall/shards/{{shard}}.summary.tsv"),
    output:
        bam=f"{R}/basecall/calls.bam",
        fastq=f"{R}/basecall/calls.fastq.gz",
        summary=f"{R}/basecall/sequencing_summary.tsv",
    log:
        f"{R}/logs/merge_calls.log",
    params:
        script=script("merge_calls.py"),
    resources:
        mem_mb=1000,
    conda:
        "../envs/basecaller.yaml"
    shell:
        "python {params.script:q} --shards {input.bams:q} --summaries {input.summaries:q}"
        " --bam {output.bam:q} --fastq {output.fastq:q} --summary {output.summary:q} > {log:q} 2>&1"
