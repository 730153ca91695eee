rule report:
    """The run's report: the evaluation's tables and figures and every preset's training
    curves (drawn into the figures folder beside it)."""
    input:
        metrics=rules.evaluate.output.metrics,
        figures=rules.evaluate.output.figures,
        logs=expand(f"{RESULTS}/train/{{preset}}/log.csv", preset=PRESETS),
    output:
        report=report(
            ensure(f"{RESULTS}/report.md", non_empty=True),
            category="Report",
            caption="../report/report.rst",
        ),
        figures=report(
            directory(f"{RESULTS}/figures"),
            patterns=["{name}.png"],
            labels={"figure": "{name}"},
            category="Report",
            subcategory="Training curves",
            caption="../report/training.rst",
        ),
    log:
        f"{RESULTS}/logs/report.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/train.yaml"
    shell:
        "asmp report $(dirname {input.metrics}) --logs {input.logs} --out {output.report}"
        " > {log} 2>&1"
