rule audio:
    """Exact STFTs of every whole-second training crop."""
    input:
        decode=stage_path("decode"),
        config=rules.config_file.output[0],
    output:
        ensure(stage_path("audio"), non_empty=True),
    log:
        f"{RESULTS}/logs/audio/{{clip}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/audio/{{clip}}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    group:
        "per_video_cpu"
    conda:
        "../../envs/preprocess.yaml"
    shell:
        "asmp stage audio {input.decode} --config {input.config} --out {output} > {log} 2>&1"
