rule flow:
    """Optical flow from each window's reference frame to its last frame."""
    input:
        decode=stage_path("decode"),
        config=rules.config_file.output[0],
    output:
        ensure(stage_path("flow"), non_empty=True),
    log:
        f"{RESULTS}/logs/flow/{{clip}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/flow/{{clip}}.tsv"
    threads: 4
    resources:
        gpu=1,
        mem_mb=8000,
        runtime=30,
    conda:
        "../../envs/preprocess.yaml"
    shell:
        "asmp stage flow {input.decode} --config {input.config} --out {output} > {log} 2>&1"
