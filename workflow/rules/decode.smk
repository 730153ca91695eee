rule decode:
    """Frames at video.fps and mono audio at audio.sample_rate."""
    input:
        video=video_of,
        config=rules.config_file.output[0],
    output:
        ensure(stage_path("decode"), non_empty=True),
    log:
        f"{RESULTS}/logs/decode/{{clip}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/decode/{{clip}}.tsv"
    threads: 2
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/preprocess.yaml"
    shell:
        "asmp stage decode {input.video} --config {input.config} --out {output} > {log} 2>&1"
