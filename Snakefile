# asmp preprocessing workflow. The rules only orchestrate: every job calls an
# `asmp stage ...` command (src/asmp); no algorithm lives here.
#
#   snakemake --cores 8 --configfile workflow/config/synth.yaml
#
# builds every per-video stage output of the dataset's manifest (docs/workflow.md).

from snakemake.utils import min_version

min_version("9.0")


configfile: "workflow/config/synth.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/config_file.smk"
include: "workflow/rules/decode.smk"
include: "workflow/rules/depth.smk"
include: "workflow/rules/rectify.smk"
include: "workflow/rules/flow.smk"
include: "workflow/rules/motion.smk"


rule all:
    input:
        stage_outputs("motion"),
