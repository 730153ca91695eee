"""The graph stage: one pseudo-3D scene graph per video (paper section 3.3; docs/graph.md).

On the video's **key frame** (the reference frame of the window whose best auditory
candidate has the highest detection score) the auditory objects are the detections whose
class maps to one of the video's sound classes (``dataset.class_map``), at most
``graph.max_auditory``, one per sound class; each brings its context nodes (other
detections overlapping it, :func:`asmp.graph.select_context`); the window's background crop
is the last node. Every node's point cloud comes from the rectified pseudo-depth inside its
box; Chamfer distances between all node pairs give the edge weights of ``graph.edge_mode``.

Per auditory object and window, the motion is that of the object's detection in the
window's reference frame, followed from the key window outwards: in each next window, the
detection of the same class whose box centre is nearest the previous window's box. A window
without such a detection gets the padding class and zero displacement.

Output (kind ``stage/graph``): the groups ``nodes``, ``edges``, ``objects`` and ``motion``
with the datasets of the shard format (docs/shards.md), ``motion`` as ``[O,W,...]``; root
attributes ``key_frame``, ``video_sound_classes``, ``detector_classes``, ``feature_dim``,
``edge_mode``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from asmp.config import Config
from asmp.errors import AsmpError
from asmp.graph import box_cloud, chamfer_matrix, edge_weights, select_auditory, select_context
from asmp.io.hdf5 import json_attr
from asmp.io.shards import AUDITORY, BACKGROUND, CONTEXT
from asmp.preprocess.common import add_stage_arguments, read_stage, stage_config, stage_file
from asmp.preprocess.motion import DIRECTION_CLASSES

log = logging.getLogger(__name__)


def candidate_classes(
    detector_classes: Sequence[str], cfg: Config, video_classes: Sequence[str] | None
) -> dict[int, int]:
    """Detector class id -> sound class index, for the video's sound classes (all of the
    dataset's when ``video_classes`` is None).

    Raises:
        AsmpError: the class map names a detector class the detector does not know, or a
            video class is not one of the dataset's sound classes.
    """
    sound = cfg["dataset"]["sound_classes"]
    wanted = list(sound) if video_classes is None else list(video_classes)
    unknown = sorted(set(wanted) - set(sound))
    if unknown:
        raise AsmpError(f"sound class {unknown[0]!r} is not in dataset.sound_classes")
    index = {name: i for i, name in enumerate(detector_classes)}
    out: dict[int, int] = {}
    for s in wanted:
        for name in cfg["dataset"]["class_map"].get(s, []):
            if name not in index:
                raise AsmpError(
                    f"dataset.class_map maps {s!r} to {name!r}, which the detector does not know"
                )
            out.setdefault(index[name], sound.index(s))
    return out


def _centre(box: np.ndarray) -> np.ndarray:
    return (box[..., :2] + box[..., 2:]) / 2


def follow(
    labels: np.ndarray, boxes: np.ndarray, valid: np.ndarray, key: int, slot: int
) -> np.ndarray:
    """Detection slot of one object in every window, ``-1`` where it has none.

    Args:
        labels, boxes, valid: ``[W,M]``, ``[W,M,4]``, ``[W,M]`` detections per window.
        key: the key window; ``slot`` the object's detection there.
    """
    n_win = len(labels)
    track = np.full(n_win, -1)
    track[key] = slot
    for order in (range(key + 1, n_win), range(key - 1, -1, -1)):
        prev = boxes[key, slot]
        for w in order:
            same = np.flatnonzero(valid[w] & (labels[w] == labels[key, slot]))
            if len(same):
                dist = np.linalg.norm(_centre(boxes[w, same]) - _centre(prev), axis=-1)
                track[w] = same[np.argmin(dist)]
                prev = boxes[w, track[w]]
    return track


def build_graph(
    det: dict[str, np.ndarray],
    depth: np.ndarray,
    motion: dict[str, np.ndarray],
    candidates: dict[int, int],
    cfg: Config,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """The scene graph of one video, as shard-format arrays.

    Args:
        det: per window (at its reference frame) ``boxes`` ``[W,M,4]``, ``labels``, ``scores``,
            ``valid`` ``[W,M]``, ``features`` ``[W,M,D]``, ``background_box`` ``[W,4]``,
            ``background_feature`` ``[W,D]``, ``ref`` ``[W]`` reference frame indices.
        depth: ``[T,H,W]`` rectified pseudo-depth (an h5py dataset is fine).
        motion: the motion stage's ``displacement`` ``[W,M,3]``, ``valid`` ``[W,M]`` and
            ``direction10`` / ``direction28`` ``[W,M]``, on the same detection slots.
        candidates: :func:`candidate_classes`.

    Raises:
        AsmpError: no auditory object in any window.
    """
    g = cfg["graph"]
    n_win = len(det["ref"])
    cand = det["valid"] & np.isin(det["labels"], list(candidates))
    best = np.where(cand, det["scores"], -np.inf).max(axis=1)
    if not np.isfinite(best).any():
        raise AsmpError("no auditory object detected in any window (dataset.class_map)")
    key = int(np.argmax(best))
    labels, scores, boxes = det["labels"][key], det["scores"][key], det["boxes"][key]
    live = np.flatnonzero(det["valid"][key])
    aux = live[select_auditory(labels[live], scores[live], candidates, g["max_auditory"])]
    nodes: list[tuple[int, int, int]] = []  # (slot or -1 for background, role, object)
    for k, a in enumerate(aux):
        ctx = live[
            select_context(
                boxes[a],
                labels[a],
                boxes[live],
                labels[live],
                scores[live],
                g["iou_threshold"],
                cfg["detect"]["score_threshold"],
                g["max_context"],
            )
        ]
        nodes += [(int(a), AUDITORY, k)] + [(int(c), CONTEXT, k) for c in ctx]
    nodes.append((-1, BACKGROUND, -1))
    slot = np.array([s for s, _, _ in nodes])
    fg = slot >= 0
    node_box = np.where(fg[:, None], boxes[np.maximum(slot, 0)], det["background_box"][key])
    frame = int(det["ref"][key])
    band = cfg["objects"]["depth_band"]
    clouds = [box_cloud(depth[frame], b, g["max_points"], seed, band) for b in node_box]
    dist = chamfer_matrix(clouds)
    finite = dist[np.isfinite(dist)]
    dist = np.where(np.isfinite(dist), dist, finite.max() if finite.size else 0.0)
    weights = edge_weights(dist, g["edge_mode"], g["sigma_percentile"])
    pairs = np.array(list(itertools.combinations(range(len(nodes)), 2)), np.int32).reshape(-1, 2)
    sound = np.array([candidates[int(labels[a])] for a in aux], np.int16)
    role = np.array([r for _, r, _ in nodes], np.int8)
    obj = np.array([o for _, _, o in nodes], np.int16)
    tracks = np.array(
        [follow(det["labels"], det["boxes"], det["valid"], key, int(a)) for a in aux], np.int64
    ).reshape(len(aux), n_win)
    win = np.arange(n_win)[None, :]
    has = (tracks >= 0) & motion["valid"][win, np.maximum(tracks, 0)]
    out = {
        "nodes/box": node_box.astype(np.float32),
        "nodes/frame": np.full(len(nodes), frame, np.int32),
        "nodes/det_class": np.where(fg, labels[np.maximum(slot, 0)], 0).astype(np.int32),
        "nodes/score": np.where(fg, scores[np.maximum(slot, 0)], 1.0).astype(np.float32),
        "nodes/feature": np.where(
            fg[:, None], det["features"][key][np.maximum(slot, 0)], det["background_feature"][key]
        ).astype(np.float16),
        "nodes/role": role,
        "nodes/object": obj,
        "nodes/sound_class": np.where(role == AUDITORY, sound[np.maximum(obj, 0)], -1).astype(
            np.int16
        ),
        "edges/index": pairs,
        "edges/chamfer": dist[pairs[:, 0], pairs[:, 1]].astype(np.float32),
        "edges/weight": weights[pairs[:, 0], pairs[:, 1]].astype(np.float32),
        "objects/node": np.flatnonzero(role == AUDITORY).astype(np.int32),
        "objects/sound_class": sound,
        "motion/displacement": np.where(
            has[..., None], motion["displacement"][win, np.maximum(tracks, 0)], 0
        ).astype(np.float32),
    }
    for n in DIRECTION_CLASSES:
        labels_n = motion[f"direction{n}"][win, np.maximum(tracks, 0)]
        out[f"motion/direction{n}"] = np.where(has, labels_n, n - 1).astype(np.int8)
    out["key_frame"] = np.int64(frame)
    return out


def graph(
    detect: str | Path,
    rectify: str | Path,
    motion: str | Path,
    cfg: Config,
    out: str | Path,
    classes: Sequence[str] | None = None,
) -> Path:
    """Write the graph stage file from the detect, rectify and motion stage files."""
    with (
        read_stage(detect, "detect") as fd,
        read_stage(rectify, "rectify") as fr,
        read_stage(motion, "motion") as fm,
    ):
        ref = fm["pairs"][:, 0]
        det = {k: fd[k][()][ref] for k in ("boxes", "labels", "scores", "valid", "features")}
        det.update(
            ref=ref,
            background_box=fd["background_box"][()],
            background_feature=fd["background_feature"][()],
        )
        names = json_attr(fd, "detector_classes")
        mot = {k: fm[k][()] for k in ("displacement", "valid", "direction10", "direction28")}
        try:
            arrays = build_graph(
                det, fr["rectified_depth"], mot, candidate_classes(names, cfg, classes), cfg
            )
        except AsmpError as exc:
            raise AsmpError(exc.cause, detect) from None
        feature_dim = int(fd.attrs["feature_dim"])
        backends = {
            s: json_attr(f, "backend") for s, f in (("detect", fd), ("rectify", fr), ("motion", fm))
        }
    key = int(arrays.pop("key_frame"))
    video_classes = list(classes) if classes is not None else []
    with stage_file(
        out,
        "graph",
        cfg,
        backend=cfg["graph"]["edge_mode"],
        key_frame=key,
        video_sound_classes=json.dumps(video_classes),
        detector_classes=json.dumps(names),
        feature_dim=feature_dim,
        edge_mode=cfg["graph"]["edge_mode"],
        backends=backends,
    ) as f:
        for name, data in arrays.items():
            f[name] = data
    n_obj = len(arrays["objects/node"])
    log.info("%s: %d auditory objects, %d nodes", out, n_obj, len(arrays["nodes/role"]))
    return Path(out)


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_stage_arguments(
        p,
        {
            "detect": "detect stage file",
            "rectify": "rectify stage file",
            "motion": "motion stage file (on the detect file's boxes)",
        },
    )
    p.add_argument(
        "--classes",
        nargs="+",
        metavar="CLASS",
        help="the video's sound classes (default: every class of the dataset)",
    )


def run(args: argparse.Namespace) -> int:
    graph(args.detect, args.rectify, args.motion, stage_config(args), args.out, args.classes)
    return 0
