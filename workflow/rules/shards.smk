# record: one validated video record (a shard of one video), the clip's split from its
# manifest row; last stage of the per-video job cpu_stages (video.smk).
STAGE_COMMANDS["record"] = (
    "asmp stage record {input.decode} {output.rectify} {output.graph} {output.audio}"
    " --split {params.row[split]} --id {wildcards.clip} --config {input.config} --out {output.record}"
)


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
