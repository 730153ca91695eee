rule detect:
    """Detections, box features and the background crop of every reference frame."""
    input:
        decode=stage_path("decode"),
        config=rules.config_file.output[0],
    output:
        ensure(stage_path("detect"), non_empty=True),
    log:
        f"{RESULTS}/logs/detect/{{clip}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/detect/{{clip}}.tsv"
    threads: 4
    resources:
        gpu=1,
        mem_mb=8000,
        runtime=30,
    conda:
        "../../envs/preprocess.yaml"
    shell:
        "asmp stage detect {input.decode} --config {input.config} --out {output} > {log} 2>&1"
