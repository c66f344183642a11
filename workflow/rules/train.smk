# The training branch (target `train`): [simulate ->] chunks -> train -> basecall and score
# held-out reads with the trained model. Outputs under {results}/training/. With
# train.simulated_fraction > 0, simulated reads are chunked too and mixed into training.


rule simulate_training_reads:
    output:
        directory(f"{TR}/simulated"),
    log:
        f"{R}/logs/simulate_training_reads.log",
    params:
        genome_length=T["simulate"]["genome_length"],
        reads=T["simulate"]["reads"],
        chemistry=T["simulate"]["chemistry"],
        sample_rate=T["simulate"]["sample_rate"],
        seed=T["simulate"]["seed"],
    resources:
        mem_mb=2000,
    conda:
        "../envs/basecaller.yaml"
    shell:
        "basecaller simulate --random-genome {params.genome_length} -n {params.reads}"
        " --chemistry {params.chemistry} --sample-rate {params.sample_rate} --seed {params.seed}"
        " -o {output:q} > {log:q} 2>&1"


rule train_chunks:
    input:
        chunk_sources,
    output:
        directory(f"{TR}/chunks"),
    log:
        f"{R}/logs/train_chunks.log",
    params:
        options=chunk_options(),
    resources:
        mem_mb=T["mem_mb"],
    conda:
        "../envs/basecaller.yaml"
    shell:
        "basecaller chunks {input:q} {params.options} -o {output:q} > {log:q} 2>&1"


rule simulated_chunks:
    input:
        f"{TR}/simulated",
    output:
        directory(f"{TR}/simulated_chunks"),
    log:
        f"{R}/logs/simulated_chunks.log",
    params:
        chunk_len=T["chunk_len"],
        seed=T["seed"],
    resources:
        mem_mb=T["mem_mb"],
    conda:
        "../envs/basecaller.yaml"
    shell:
        "basecaller chunks {input:q} --source simulated --chunk-len {params.chunk_len}"
        " --seed {params.seed} -o {output:q} > {log:q} 2>&1"


rule train_model:
    input:
        training_chunks,
    output:
        directory(f"{TR}/model"),
    log:
        f"{R}/logs/train_model.log",
    params:
        preset=T["preset"],
        head=T["head"],
        state_len=f" --state-len {T['state_len']}" if T["head"] == "crf" else "",
        steps=T["steps"],
        batch_size=T["batch_size"],
        device=T["device"],
        seed=T["seed"],
        extra=T["extra"],
        workers=T["workers"],
        threads_each=1 if T["workers"] > 1 else T["threads"],
        chunks=mix_options(),
        valid=f"{TR}/chunks/valid",
    threads: max(T["threads"], T["workers"])
    resources:
        mem_mb=T["mem_mb"],
        gpu=gpus(T["device"]),
    conda:
        "../envs/basecaller.yaml"
    shell:
        "basecaller train {params.chunks} --valid {params.valid:q} -o {output:q}"
        " --preset {params.preset} --head {params.head}{params.state_len}"
        " --steps {params.steps} --batch-size {params.batch_size}"
        " --device {params.device} --threads {params.threads_each} --workers {params.workers}"
        " --seed {params.seed} --quiet"
        " {params.extra} > {log:q} 2>&1"


rule basecall_heldout:
    input:
        model=f"{TR}/model",
        reads=signal_files(T["eval_inputs"]),
    output:
        calls=f"{TR}/heldout/calls.bam",
        summary=f"{TR}/heldout/calls.summary.tsv",
    log:
        f"{R}/logs/basecall_heldout.log",
    params:
        device=T["device"],
    threads: T["threads"]
    resources:
        mem_mb=config["basecall"]["mem_mb"],
        gpu=gpus(T["device"]),
    conda:
        "../envs/basecaller.yaml"
    shell:
        "basecaller basecall {input.reads:q} --model {input.model:q} -o {output.calls:q}"
        " --summary {output.summary:q} --device {params.device} --threads {threads}"
        " --no-progress > {log:q} 2>&1"


rule evaluate_heldout:
    input:
        calls=f"{TR}/heldout/calls.bam",
        reference=T["eval_reference"] or [],
    output:
        per_read=f"{TR}/heldout/evaluation.per_read.tsv",
        summary=f"{TR}/heldout/evaluation.summary.json",
        plot=f"{TR}/heldout/evaluation.identity.png",
    log:
        f"{R}/logs/evaluate_heldout.log",
    params:
        prefix=lambda wildcards, output: output.summary.removesuffix(".summary.json"),
    resources:
        mem_mb=2000,
    conda:
        "../envs/basecaller.yaml"
    shell:
        "basecaller evaluate {input.calls:q} --reference {input.reference:q}"
        " --output {params.prefix:q} > {log:q} 2>&1"


rule train:
    input:
        f"{TR}/model",
        f"{TR}/heldout/evaluation.summary.json",
