rule demo:
    """Target: the synthetic dataset end to end. Until the trainer and evaluator land, the
    demo stops after the shards and says so in its output."""
    input:
        rules.shards_manifest.output[0],
    output:
        f"{RESULTS}/demo.txt",
    log:
        f"{RESULTS}/logs/demo.log",
    localrule: True
    conda:
        "../../envs/train.yaml"
    shell:
        "echo 'demo: the synthetic dataset is preprocessed into shards (index: {input});"
        " training, evaluation and the report are not part of the workflow yet' | tee {output} > {log}"
