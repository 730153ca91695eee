checkpoint synth_data:
    """The synthetic dataset (asmp synth) that the synth config's manifest names."""
    output:
        directory(str(Path(MANIFEST).parent)) if GENERATED else "synth_data.unused",
    params:
        clips=config["synth"]["clips"],
        seed=config["synth"]["seed"],
        duration=config["synth"]["duration"],
    log:
        f"{RESULTS}/logs/synth_data.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    conda:
        "../../envs/preprocess.yaml"
    shell:
        "asmp synth --out {output} --clips {params.clips} --seed {params.seed}"
        " --duration {params.duration} > {log} 2>&1"
