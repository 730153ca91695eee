#: The best checkpoint of every preset the train targets cover (workflow.presets).
TRAINED = expand(f"{RESULTS}/train/{{preset}}/best.pt", preset=PRESETS)


rule train:
    """One training run of an ablation preset (train.preset values) on the dataset's shards,
    validated on the val split: the best checkpoint by validation SDR, the last one and the
    metric log."""
    input:
        shards=rules.shards_manifest.output[0],
        config=rules.train_config_file.output[0],
    output:
        best=ensure(f"{RESULTS}/train/{{preset}}/best.pt", non_empty=True),
        last=ensure(f"{RESULTS}/train/{{preset}}/last.pt", non_empty=True),
        metrics=ensure(f"{RESULTS}/train/{{preset}}/log.csv", non_empty=True),
    log:
        f"{RESULTS}/logs/train/{{preset}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/train/{{preset}}.tsv"
    # The training process and its data-loader workers.
    threads: config["train"]["num_workers"] + 1
    resources:
        gpu=1,
        mem_mb=32000,
        runtime=2880,
    conda:
        "../../envs/train.yaml"
    shell:
        "asmp train --config {input.config} --shards {input.shards} --preset {wildcards.preset}"
        " --out $(dirname {output.best}) --quiet > {log} 2>&1"


rule train_asiw:
    """Target: every preset of workflow.presets trained on ASIW."""
    input:
        for_dataset("train_asiw", "asiw", TRAINED),
    localrule: True


rule train_ave:
    """Target: every preset of workflow.presets trained on AVE."""
    input:
        for_dataset("train_ave", "ave", TRAINED),
    localrule: True


rule train_synth:
    """Target: every preset of workflow.presets trained on the synthetic dataset."""
    input:
        for_dataset("train_synth", "synth", TRAINED),
    localrule: True
