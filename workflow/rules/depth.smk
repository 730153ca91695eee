rule depth:
    """Pseudo-depth per frame (MiDaS, or synthetic ground truth)."""
    input:
        decode=stage_path("decode"),
        config=rules.config_file.output[0],
    output:
        ensure(stage_path("depth"), non_empty=True),
    log:
        f"{RESULTS}/logs/depth/{{clip}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/depth/{{clip}}.tsv"
    threads: 4
    resources:
        gpu=1,
        mem_mb=8000,
        runtime=30,
    conda:
        "../../envs/preprocess.yaml"
    shell:
        "asmp stage depth {input.decode} --config {input.config} --out {output} > {log} 2>&1"
