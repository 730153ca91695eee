# The resolved configuration, written once per dataset for the stage commands.

import yaml


rule config_file:
    """The resolved configuration every job reads (rewritten when the config changes)."""
    output:
        f"{RESULTS}/config.yaml",
    params:
        resolved=config,
    log:
        f"{RESULTS}/logs/config_file.log",
    localrule: True
    run:
        Path(output[0]).write_text(yaml.safe_dump(params.resolved, sort_keys=False))
