# motion: per-detection 3D displacement and direction classes of every window; in the
# per-video job cpu_stages (video.smk), after rectify.
STAGE_COMMANDS["motion"] = (
    "asmp stage motion {input.depth} {output.rectify} {input.flow} {input.detect}"
    " --config {input.config} --out {output.motion}"
)
