# flow: optical flow from each window's reference frame to its last frame; a GPU stage of the
# per-video job gpu_stages (video.smk), after decode.
STAGE_COMMANDS["flow"] = (
    "asmp stage flow {output.decode} --config {input.config} --out {output.flow}"
)
