# Align the merged calls to the reference and score identity; the run's HTML report.


rule evaluate_calls:
    input:
        calls=f"{R}/basecall/calls.fastq.gz",
        reference=config["reference"] or [],
    output:
        per_read=f"{R}/evaluation/calls.per_read.tsv",
        summary=f"{R}/evaluation/calls.summary.json",
        plot=f"{R}/evaluation/calls.identity.png",
    log:
        f"{R}/logs/evaluate_calls.log",
    params:
        prefix=lambda wildcards, output: output.summary.removesuffix(".summary.json"),
    threads: 1
    resources:
        mem_mb=2000,
    conda:
        "../envs/basecaller.yaml"
    shell:
        "basecaller evaluate {input.calls:q} --reference {input.reference:q}"
        " --output {params.prefix:q} > {log:q} 2>&1"


rule report:
    input:
        unpack(evaluation_inputs),
        summary=f"{R}/basecall/sequencing_summary.tsv",
        shard_summaries=shard_outputs(f"{R}/basecall/shards/{{shard}}.summary.tsv"),
    output:
        f"{R}/report.html",
    log:
        f"{R}/logs/report.log",
    params:
        script=script("report.py"),
        title=config["report"]["title"],
        settings=json.dumps(config, sort_keys=True),
        # shard timings and basecaller log lines, for throughput (written with the shards)
        benchmarks=shard_outputs(f"{R}/benchmarks/basecall_shard/{{shard}}.tsv"),
        logs=shard_outputs(f"{R}/logs/basecall_shard/{{shard}}.log"),
        evaluation=lambda wildcards, input: (
            f"--per-read {shlex.quote(input.per_read)} --evaluation {shlex.quote(input.evaluation)}"
            if config["reference"]
            else ""
        ),
    resources:
        mem_mb=1000,
    conda:
        "../envs/basecaller.yaml"
    shell:
        "python {params.script:q} --summary {input.summary:q} --benchmarks {params.benchmarks:q}"
        " --basecall-logs {params.logs:q} {params.evaluation} --title {params.title:q}"
        " --settings {params.settings:q} -o {output:q} > {log:q} 2>&1"
