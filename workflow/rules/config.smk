# The resolved configuration, written per dataset for the commands the jobs run: one file for
# preprocessing and one for training and evaluation, so that changing a training key reruns
# training only, not the preprocessing of every video.

import yaml


rule config_file:
    """The resolved configuration the preprocessing stages read: every section but those only
    training and evaluation read (model, loss, train, workflow); detect seeds its crops with
    train.seed, which stays."""
    output:
        f"{RESULTS}/config.yaml",
    params:
        resolved={
            **{k: v for k, v in config.items() if k not in ("model", "loss", "train", "workflow")},
            "train": {"seed": config["train"]["seed"]},
        },
    log:
        f"{RESULTS}/logs/config_file.log",
    localrule: True
    run:
        Path(output[0]).write_text(yaml.safe_dump(params.resolved, sort_keys=False))


rule train_config_file:
    """The resolved configuration training, evaluation and the report read (workflow.presets
    only says what the workflow trains)."""
    output:
        f"{RESULTS}/train/config.yaml",
    params:
        resolved={k: v for k, v in config.items() if k != "workflow"},
    log:
        f"{RESULTS}/logs/train_config_file.log",
    localrule: True
    run:
        Path(output[0]).write_text(yaml.safe_dump(params.resolved, sort_keys=False))
