# decode: frames at video.fps and mono audio at audio.sample_rate. First stage of the per-video
# job gpu_stages (video.smk).
STAGE_COMMANDS["decode"] = (
    "asmp stage decode {input.video} --config {input.config} --out {output.decode}"
)
