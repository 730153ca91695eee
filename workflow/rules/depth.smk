# depth: pseudo-depth per frame (MiDaS, or synthetic ground truth); a GPU stage of the
# per-video job gpu_stages (video.smk), after decode.
STAGE_COMMANDS["depth"] = (
    "asmp stage depth {output.decode} --config {input.config} --out {output.depth}"
)
