# rectify: per-window camera transforms (Lucas-Kanade tracks + ICP) and rectified depth. First
# stage of the per-video job cpu_stages (video.smk); masks the boxes RECTIFY_BOXES names.
STAGE_COMMANDS["rectify"] = (
    "asmp stage rectify {input.decode} {input.depth} --boxes {input.boxes}"
    " --config {input.config} --out {output.rectify}"
)
