# Configuration, manifest and helpers shared by every rule.

import csv
import re
from pathlib import Path

from snakemake.utils import validate


validate(config, schema="../schemas/config.schema.yaml")

DATASET = config["dataset"]["name"]
RESULTS = f"results/{DATASET}"


def load_manifest(path):
    """clip_id -> row of the manifest, with the video path resolved; stops on bad rows."""
    if path is None or not Path(path).exists():
        raise ValueError(f"{path}: manifest not found (dataset.manifest)")
    base = Path(path).parent
    known = set(config["dataset"]["sound_classes"])
    clips = {}
    with open(path, newline="") as f:
        for line, row in enumerate(csv.DictReader(f), start=2):
            clip = row["clip_id"]
            where = f"{path}:{line} (clip {clip!r})"
            if not re.fullmatch(r"[A-Za-z0-9_-]+", clip):
                raise ValueError(f"{where}: clip_id may hold letters, digits, '_' and '-' only")
            if clip in clips:
                raise ValueError(f"{where}: duplicate clip_id")
            video = base / row["video"]
            if not video.exists():
                raise ValueError(f"{where}: video {video} not found")
            unknown = {c for c in row["classes"].split(";") if c} - known
            if unknown:
                raise ValueError(f"{where}: unknown sound class {sorted(unknown)[0]!r}")
            clips[clip] = {**row, "video": str(video)}
    return clips


CLIPS = load_manifest(config["dataset"]["manifest"])


wildcard_constraints:
    clip=r"[A-Za-z0-9_-]+",


def stage_path(stage):
    """Output pattern of a per-video stage."""
    return f"{RESULTS}/stages/{stage}/{{clip}}.h5"


def stage_outputs(stage):
    """Every clip's output of a stage."""
    return expand(stage_path(stage), clip=sorted(CLIPS))


def video_of(wildcards):
    return CLIPS[wildcards.clip]["video"]


def boxes_of(wildcards):
    """Object boxes of a clip: synthetic ground truth for the gt detect backend."""
    if config["detect"]["backend"] == "gt":
        return str(Path(video_of(wildcards)).parent.parent / "gt" / f"{wildcards.clip}.h5")
    raise ValueError(f"detect.backend {config['detect']['backend']!r} has no rule yet")
