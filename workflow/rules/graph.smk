# graph: the video's pseudo-3D scene graph and its objects' motion, for the clip's sound
# classes (manifest row); in the per-video job cpu_stages (video.smk), after motion.
STAGE_COMMANDS["graph"] = (
    "asmp stage graph {input.detect} {output.rectify} {output.motion} --classes {params.row[classes]}"
    " --config {input.config} --out {output.graph}"
)
