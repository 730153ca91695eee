rule motion:
    """Per-detection 3D displacement and direction classes of every window."""
    input:
        depth=stage_path("depth"),
        rectify=stage_path("rectify"),
        flow=stage_path("flow"),
        detect=stage_path("detect"),
        config=rules.config_file.output[0],
    output:
        ensure(stage_path("motion"), non_empty=True),
    log:
        f"{RESULTS}/logs/motion/{{clip}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/motion/{{clip}}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    group:
        "per_video_cpu"
    conda:
        "../../envs/preprocess.yaml"
    shell:
        "asmp stage motion {input.depth} {input.rectify} {input.flow} {input.detect}"
        " --config {input.config} --out {output} > {log} 2>&1"
