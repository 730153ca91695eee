# asmp workflow. Rules only orchestrate: every job calls an `asmp` command (src/asmp); no
# algorithm lives here. Targets (docs/workflow.md):
#
#   snakemake demo --cores 2                                             # synthetic end to end
#   snakemake --cores 32 graphs --configfile workflow/config/asiw.yaml   # every shard + manifest
#   snakemake --cores 32 train_asiw evaluate_asiw report --configfile workflow/config/asiw.yaml
#
# On SLURM: snakemake ... --workflow-profile workflow/profiles/slurm --configfile ...

from snakemake.utils import min_version

min_version("9.0")


configfile: "workflow/config/synth.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/config.smk"
include: "workflow/rules/synth.smk"
include: "workflow/rules/decode.smk"
include: "workflow/rules/depth.smk"
include: "workflow/rules/detect.smk"
include: "workflow/rules/flow.smk"
include: "workflow/rules/rectify.smk"
include: "workflow/rules/motion.smk"
include: "workflow/rules/graph.smk"
include: "workflow/rules/audio.smk"
include: "workflow/rules/shards.smk"
include: "workflow/rules/video.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/demo.smk"
