rule record:
    """One validated video record (a shard of one video)."""
    input:
        decode=stage_path("decode"),
        rectify=stage_path("rectify"),
        graph=stage_path("graph"),
        audio=stage_path("audio"),
        config=rules.config_file.output[0],
    output:
        ensure(stage_path("record"), non_empty=True),
    params:
        split=split_of,
    log:
        f"{RESULTS}/logs/record/{{clip}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/record/{{clip}}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    group:
        "per_video_cpu"
    conda:
        "../../envs/preprocess.yaml"
    shell:
        "asmp stage record {input.decode} {input.rectify} {input.graph} {input.audio}"
        " --split {params.split} --id {wildcards.clip} --config {input.config} --out {output} > {log} 2>&1"


rule shard:
    """One shard: the records of its clips (shard membership: common.smk shard_members)."""
    input:
        shard_records,
    output:
        ensure(f"{RESULTS}/shards/shard-{{shard}}.h5", non_empty=True),
    params:
        compression=config["shards"]["compression"],
    log:
        f"{RESULTS}/logs/shard/{{shard}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/shard/{{shard}}.tsv"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=30,
    conda:
        "../../envs/train.yaml"
    shell:
        "asmp shard {input} --out {output} --compression {params.compression} > {log} 2>&1"


rule shards_manifest:
    """The CSV index of every shard: which video is where."""
    input:
        all_shards,
    output:
        ensure(f"{RESULTS}/shards/manifest.csv", non_empty=True),
    log:
        f"{RESULTS}/logs/shards_manifest.log",
    localrule: True
    conda:
        "../../envs/train.yaml"
    shell:
        "asmp shard {input} --manifest --out {output} > {log} 2>&1"


rule graphs:
    """Target: every shard of the configured dataset and their manifest."""
    input:
        rules.shards_manifest.output[0],
        all_shards,
    localrule: True
    default_target: True
