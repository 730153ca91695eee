# detect: detections, box features and the background crop of every reference frame; a GPU
# stage of the per-video job gpu_stages (video.smk), after decode.
STAGE_COMMANDS["detect"] = (
    "asmp stage detect {output.decode} --config {input.config} --out {output.detect}"
)
