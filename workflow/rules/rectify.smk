rule rectify:
    """Per-window camera transforms (Lucas-Kanade tracks + ICP) and rectified depth."""
    input:
        decode=stage_path("decode"),
        depth=stage_path("depth"),
        boxes=rectify_boxes,
        config=rules.config_file.output[0],
    output:
        ensure(stage_path("rectify"), non_empty=True),
    log:
        f"{RESULTS}/logs/rectify/{{clip}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/rectify/{{clip}}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=20,
    group:
        "per_video_cpu"
    conda:
        "../../envs/preprocess.yaml"
    shell:
        "asmp stage rectify {input.decode} {input.depth} --boxes {input.boxes}"
        " --config {input.config} --out {output} > {log} 2>&1"
