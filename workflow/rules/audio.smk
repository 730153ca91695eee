# audio: exact STFTs of every whole-second training crop; in the per-video job cpu_stages
# (video.smk).
STAGE_COMMANDS["audio"] = (
    "asmp stage audio {input.decode} --config {input.config} --out {output.audio}"
)
