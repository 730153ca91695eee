rule graph:
    """The video's pseudo-3D scene graph and its objects' motion."""
    input:
        detect=stage_path("detect"),
        rectify=stage_path("rectify"),
        motion=stage_path("motion"),
        config=rules.config_file.output[0],
    output:
        ensure(stage_path("graph"), non_empty=True),
    params:
        classes=classes_of,
    log:
        f"{RESULTS}/logs/graph/{{clip}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/graph/{{clip}}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    group:
        "per_video_cpu"
    conda:
        "../../envs/preprocess.yaml"
    shell:
        "asmp stage graph {input.detect} {input.rectify} {input.motion} --classes {params.classes}"
        " --config {input.config} --out {output} > {log} 2>&1"
