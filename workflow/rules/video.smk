# The per-video jobs. Each runs several stages in a row (their commands are in the stage files,
# decode.smk to audio.smk and shards.smk), so a video is two jobs: one that needs a GPU and one
# that does not. Snakemake spends about 1 ms of scheduling per job even on a dry run (2-core
# CPU), so nine one-stage jobs per video would make a 10,000-video dry run take minutes
# (docs/workflow.md, "Scheduling overhead").


rule gpu_stages:
    """decode, then the network stages depth, detect and flow."""
    input:
        video=video_of,
        config=rules.config_file.output[0],
    output:
        decode=ensure(stage_path("decode"), non_empty=True),
        depth=ensure(stage_path("depth"), non_empty=True),
        detect=ensure(stage_path("detect"), non_empty=True),
        flow=ensure(stage_path("flow"), non_empty=True),
    log:
        f"{RESULTS}/logs/gpu_stages/{{clip}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/gpu_stages/{{clip}}.tsv"
    threads: 4
    resources:
        gpu=1,
        mem_mb=8000,
        runtime=100,
    conda:
        "../../envs/preprocess.yaml"
    shell:
        stages_shell("decode", "depth", "detect", "flow")


rule cpu_stages:
    """rectify, motion, graph, audio and record: the clip's validated record."""
    input:
        decode=stage_path("decode"),
        depth=stage_path("depth"),
        detect=stage_path("detect"),
        flow=stage_path("flow"),
        boxes=RECTIFY_BOXES,
        config=rules.config_file.output[0],
    output:
        rectify=ensure(stage_path("rectify"), non_empty=True),
        motion=ensure(stage_path("motion"), non_empty=True),
        graph=ensure(stage_path("graph"), non_empty=True),
        audio=ensure(stage_path("audio"), non_empty=True),
        record=ensure(stage_path("record"), non_empty=True),
    params:
        row=manifest_row,
    log:
        f"{RESULTS}/logs/cpu_stages/{{clip}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/cpu_stages/{{clip}}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    conda:
        "../../envs/preprocess.yaml"
    shell:
        stages_shell("rectify", "motion", "graph", "audio", "record")
