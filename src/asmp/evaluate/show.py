"""``asmp show``: draw a video's pseudo-3D scene graph (paper Figure 2) from its record.

The record (or shard) gives the graph: node boxes, roles and classes, edges and weights,
all on the graph's key frame (``nodes/frame``). The key frame's picture, pseudo-depth and
optical flow come from the video's per-video stage files
``STAGES/{decode,depth,flow}/<video id>.h5`` (docs/stages.md), which the workflow keeps
beside its records and shards.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from asmp.errors import AsmpError
from asmp.evaluate.figures import save_figure, scene_figure
from asmp.io.shards import BACKGROUND, ShardReader, VideoRecord
from asmp.preprocess.common import read_frames, read_stage

#: How many known video ids an unknown-id error lists.
SHOWN_IDS = 5


def default_stages(path: Path) -> Path:
    """The stage directory of a record or shard: ``stages/`` holding a record
    ``stages/record/<clip>.h5``, else ``<shard dir>/../stages``."""
    if path.parent.name == "record" and path.parent.parent.name == "stages":
        return path.parent.parent
    return path.parent.parent / "stages"


def load_record(path: Path, video: str | None) -> tuple[VideoRecord, list[str]]:
    """Video ``video`` of a record or shard (``None``: the file's only video) and the
    file's detector class names.

    Raises:
        AsmpError: not a shard, an unknown id (naming a few known ones), or no id given
            for a file of several videos.
    """
    reader = ShardReader(path)
    try:
        if video is None and len(reader) != 1:
            raise AsmpError(f"holds {len(reader)} videos; choose one with --video", path)
        video = reader.ids[0] if video is None else video
        if video not in reader.ids:
            known = ", ".join(reader.ids[:SHOWN_IDS])
            more = f" and {len(reader) - SHOWN_IDS} more" if len(reader) > SHOWN_IDS else ""
            raise AsmpError(f"no video {video!r} (it holds {known}{more})", path)
        return reader[reader.ids.index(video)], list(reader.attrs["detector_classes"])
    finally:
        reader.close()


def _stage_path(stages: Path, stage: str, video: str) -> Path:
    path = stages / stage / f"{video}.h5"
    if not path.is_file():
        raise AsmpError(
            f"no {stage} stage file for video {video!r}; point --stages at the directory "
            f"holding {stage}/{video}.h5",
            path,
        )
    return path


def key_frame_data(stages: Path, video: str, frame: int) -> tuple[np.ndarray, ...]:
    """The key frame's ``(frame [H,W,3] uint8, pseudo-depth [H,W], flow [H,W,2] px)`` from
    the video's decode, depth and flow stage files; the flow is that of the window whose
    reference frame is ``frame``.

    Raises:
        AsmpError: a missing or wrong stage file, or one without that frame or window.
    """
    path = _stage_path(stages, "decode", video)
    with read_stage(path, "decode") as f:
        frames = read_frames(f, path)
        if not 0 <= frame < len(frames):
            raise AsmpError(f"has {len(frames)} frames, no key frame {frame}", path)
        image = frames[frame]
    path = _stage_path(stages, "depth", video)
    with read_stage(path, "depth") as f:
        depth = f["pseudo_depth"]
        if not 0 <= frame < len(depth):
            raise AsmpError(f"has {len(depth)} frames, no key frame {frame}", path)
        depth = depth[frame].astype(np.float32)
    path = _stage_path(stages, "flow", video)
    with read_stage(path, "flow") as f:
        window = np.flatnonzero(f["pairs"][:, 0] == frame)
        if not len(window):
            raise AsmpError(f"no window starts at the key frame {frame}", path)
        flow = f["flow"][int(window[0])].astype(np.float32)
    if depth.shape != image.shape[:2] or flow.shape[:2] != image.shape[:2]:
        raise AsmpError(
            f"frame {image.shape[:2]}, depth {depth.shape} and flow {flow.shape[:2]} sizes "
            "differ: stage files of different runs?",
            stages,
        )
    return image, depth, flow


def node_labels(rec: VideoRecord, detector_classes: list[str]) -> list[str]:
    """Each node's detector class and score (``background`` for the background node)."""
    return [
        "background" if role == BACKGROUND else f"{detector_classes[cls]} {score:.2f}"
        for role, cls, score in zip(rec.node_role, rec.node_det_class, rec.node_score, strict=True)
    ]


def show(
    path: str | Path, out: str | Path, video: str | None = None, stages: str | Path | None = None
) -> list[Path]:
    """Write the scene figure of ``video`` in record or shard ``path`` to ``out`` (PNG and
    PDF, :func:`~asmp.evaluate.figures.save_figure`); ``stages`` defaults to
    :func:`default_stages`. Returns the files written."""
    path = Path(path)
    rec, classes = load_record(path, video)
    if not len(rec.node_frame):
        raise AsmpError(f"video {rec.id!r} has no scene-graph nodes", path)
    stage_dir = Path(stages) if stages is not None else default_stages(path)
    image, depth, flow = key_frame_data(stage_dir, rec.id, int(rec.node_frame[0]))
    fig = scene_figure(
        image,
        depth,
        flow,
        rec.node_box,
        rec.node_role,
        node_labels(rec, classes),
        rec.edge_index,
        rec.edge_weight,
        rec.node_object >= 0,
    )
    fig.suptitle(f"{rec.id}: key frame {int(rec.node_frame[0])}")
    return save_figure(fig, out)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", type=Path, metavar="RECORD_OR_SHARD", help="record or shard file")
    p.add_argument("--video", metavar="ID", help="video id (default: the file's only video)")
    p.add_argument(
        "--out",
        required=True,
        type=Path,
        metavar="FIG",
        help="figure path; FIG.png and FIG.pdf are written",
    )
    p.add_argument(
        "--stages",
        type=Path,
        metavar="DIR",
        help="directory of the stage files <stage>/ID.h5 (default: the stages/ "
        "holding a record stages/record/ID.h5, else SHARD_DIR/../stages)",
    )


def run(args: argparse.Namespace) -> int:
    for written in show(args.input, args.out, args.video, args.stages):
        print(written)
    return 0
