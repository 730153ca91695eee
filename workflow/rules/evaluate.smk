rule evaluate:
    """Every preset's best checkpoint (workflow.presets order) on the test split: separation
    and direction metrics, the evaluation pairs, a report of the tables and its figures."""
    input:
        checkpoints=TRAINED,
        shards=rules.shards_manifest.output[0],
        config=rules.train_config_file.output[0],
    output:
        report=report(
            ensure(f"{RESULTS}/evaluate/report.md", non_empty=True),
            category="Evaluation",
            caption="../report/evaluation.rst",
        ),
        metrics=report(
            ensure(f"{RESULTS}/evaluate/metrics.json", non_empty=True),
            category="Evaluation",
            caption="../report/metrics.rst",
        ),
        pairs=report(
            ensure(f"{RESULTS}/evaluate/pairs.csv", non_empty=True),
            category="Evaluation",
            caption="../report/pairs.rst",
        ),
        figures=report(
            directory(f"{RESULTS}/evaluate/figures"),
            patterns=["{name}.png"],
            labels={"figure": "{name}"},
            category="Evaluation",
            subcategory="Figures",
            caption="../report/figure.rst",
        ),
    log:
        f"{RESULTS}/logs/evaluate.log",
    benchmark:
        f"{RESULTS}/benchmarks/evaluate.tsv"
    threads: 4
    resources:
        gpu=1,
        mem_mb=16000,
        runtime=240,
    conda:
        "../../envs/train.yaml"
    shell:
        "asmp evaluate --checkpoint {input.checkpoints} --config {input.config}"
        " --shards {input.shards} --out $(dirname {output.metrics}) > {log} 2>&1"


rule evaluate_asiw:
    """Target: the ASIW evaluation of every preset of workflow.presets."""
    input:
        for_dataset("evaluate_asiw", "asiw", rules.evaluate.output),
    localrule: True


rule evaluate_ave:
    """Target: the AVE evaluation of every preset of workflow.presets."""
    input:
        for_dataset("evaluate_ave", "ave", rules.evaluate.output),
    localrule: True


rule evaluate_synth:
    """Target: the synthetic dataset's evaluation of every preset of workflow.presets."""
    input:
        for_dataset("evaluate_synth", "synth", rules.evaluate.output),
    localrule: True
