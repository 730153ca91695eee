"""Per-object 3D motion and its direction classes.

Units (see docs/motion.md): a displacement is the 3-vector ``(u, v, d)`` of an object's
motion over one window, expressed in the camera frame of the window's reference frame
and divided by the object's distance from the camera at that frame. ``u`` points right,
``v`` down (image axes) and ``d`` away from the camera, so ``d = -0.1`` means the object
came 10% closer. The quantity is dimensionless and invariant to the unknown scale of
pseudo-depth, so ground truth (metres) and estimates (pseudo-depth) share it.
"""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path

import numpy as np
from tqdm import tqdm

from asmp.config import Config
from asmp.errors import AsmpError
from asmp.preprocess.common import (
    add_stage_arguments,
    read_boxes,
    read_stage,
    stage_config,
    stage_file,
)

#: The 26 lattice directions of {-1,0,1}^3 minus 0, in the released code's class order
#: (classes 1..26 of the 28-class problem); components are (u, v, d).
LATTICE26 = np.array(
    [
        # axes: +d, +v, +u, -d, -v, -u
        (0, 0, 1),
        (0, 1, 0),
        (1, 0, 0),
        (0, 0, -1),
        (0, -1, 0),
        (-1, 0, 0),
        # edges
        (0, 1, 1),
        (1, 1, 0),
        (1, 0, 1),
        (0, 1, -1),
        (1, -1, 0),
        (1, 0, -1),
        (-1, 1, 0),
        (-1, 0, 1),
        (0, -1, 1),
        (0, -1, -1),
        (-1, -1, 0),
        (-1, 0, -1),
        # corners
        (1, 1, 1),
        (-1, 1, 1),
        (-1, -1, 1),
        (1, -1, 1),
        (1, 1, -1),
        (-1, 1, -1),
        (-1, -1, -1),
        (1, -1, -1),
    ],
    dtype=np.float64,
)

#: The 8 octant corners (classes 1..8 of the 10-class problem).
OCTANTS = LATTICE26[18:]

#: Number of classes per quantizer: still + directions + background/padding.
DIRECTION_CLASSES = (10, 28)


def still_mask(disp: np.ndarray, still_uv: float, still_d: float) -> np.ndarray:
    """True where a displacement counts as no motion.

    Args:
        disp: ``[..., 3]`` displacements ``(u, v, d)``.
        still_uv: threshold on ``|u|`` and ``|v|`` (same units as ``disp``).
        still_d: threshold on ``|d|``.

    Returns:
        ``[...]`` bool: every component is below its threshold.
    """
    a = np.abs(np.asarray(disp, dtype=np.float64))
    return (a[..., 0] < still_uv) & (a[..., 1] < still_uv) & (a[..., 2] < still_d)


def direction_class(
    disp: np.ndarray,
    n_classes: int,
    still_uv: float,
    still_d: float,
    valid: np.ndarray | None = None,
) -> np.ndarray:
    """Quantize displacements into direction classes (official-impl-facts 2.6).

    Class 0 is no motion; the last class (``n_classes - 1``) is background/padding and is
    given wherever ``valid`` is False or the displacement is not finite.

    * 10 classes: zero components count as positive, the sign pattern picks one of the
      8 octants (classes 1..8 in :data:`OCTANTS` order).
    * 28 classes: the lattice direction of :data:`LATTICE26` with the largest cosine
      similarity (first index on ties), classes 1..26.

    Args:
        disp: ``[..., 3]`` displacements ``(u, v, d)``.
        n_classes: 10 or 28.
        still_uv, still_d: the no-motion thresholds of :func:`still_mask`.
        valid: optional ``[...]`` bool; False marks a padded or absent object.

    Returns:
        ``[...]`` int64 class indices.
    """
    if n_classes not in DIRECTION_CLASSES:
        raise ValueError(f"n_classes must be one of {DIRECTION_CLASSES}, got {n_classes}")
    v = np.asarray(disp, dtype=np.float64)
    finite = np.isfinite(v).all(axis=-1)
    v = np.where(finite[..., None], v, 0.0)
    if n_classes == 10:
        signs = np.where(v >= 0, 1.0, -1.0)
        cls = 1 + np.argmax((signs[..., None, :] == OCTANTS).all(axis=-1), axis=-1)
    else:
        unit = LATTICE26 / np.linalg.norm(LATTICE26, axis=1, keepdims=True)
        norm = np.linalg.norm(v, axis=-1, keepdims=True)
        cos = (v / np.where(norm > 0, norm, 1.0)) @ unit.T
        cls = 1 + np.argmax(cos, axis=-1)
    cls = np.where(still_mask(v, still_uv, still_d), 0, cls)
    keep = finite if valid is None else finite & np.asarray(valid, dtype=bool)
    return np.where(keep, cls, n_classes - 1).astype(np.int64)


def relative_displacement(start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Displacement ``(end - start) / start_z`` in the units of this module.

    Args:
        start: ``[..., 3]`` camera-frame position at the window's reference frame (any
            length unit; ``z`` > 0 is the distance along the optical axis).
        end: ``[..., 3]`` the same point at the window's last frame, expressed in the
            reference frame's camera coordinates.

    Returns:
        ``[..., 3]`` float64 ``(u, v, d)``.
    """
    start = np.asarray(start, dtype=np.float64)
    return (np.asarray(end, dtype=np.float64) - start) / start[..., 2:3]


def box_pixels(box: np.ndarray, height: int, width: int) -> np.ndarray:
    """``[P,2]`` integer pixel centres ``(x, y)`` inside a box ``x1, y1, x2, y2`` (clipped)."""
    x1, y1 = max(0, math.ceil(box[0])), max(0, math.ceil(box[1]))
    x2, y2 = min(width - 1, math.floor(box[2])), min(height - 1, math.floor(box[3]))
    if x2 < x1 or y2 < y1:
        return np.zeros((0, 2), dtype=np.float64)
    xs, ys = np.meshgrid(np.arange(x1, x2 + 1), np.arange(y1, y2 + 1))
    return np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float64)


def object_displacement(
    box: np.ndarray,
    depth_ref: np.ndarray,
    depth_end: np.ndarray,
    flow: np.ndarray,
    end_to_ref: np.ndarray,
    K: np.ndarray,
    depth_band: float | None = None,
) -> np.ndarray:
    """Median relative 3D displacement of a box's pixels over one window.

    Each pixel ``p`` of the box in the reference frame moves to ``q = p + flow(p)`` in the
    window's last frame. Both ends are lifted with their frame's depth; the end point is
    mapped into the reference camera with ``end_to_ref``; the per-pixel
    :func:`relative_displacement` is reduced by the per-component median.

    A box also holds background: only its object's pixels count
    (:func:`asmp.geometry.object_mask` with ``depth_band``).

    Args:
        box: ``[4]`` x1, y1, x2, y2 in the reference frame (pixels).
        depth_ref, depth_end: ``[H,W]`` depth up to one common scale (``exp`` of pseudo-depth).
        flow: ``[H,W,2]`` optical flow reference -> last frame (pixels, x then y).
        end_to_ref: ``[4,4]`` last frame's camera coordinates -> reference camera coordinates.
        K: ``[3,3]`` intrinsics.
        depth_band: log-depth band of the object's pixels, or None for every box pixel.

    Returns:
        ``[3]`` ``(u, v, d)``, NaN when no pixel of the box lands inside the last frame.
    """
    from scipy.ndimage import map_coordinates

    from asmp.geometry import backproject, object_mask, transform

    H, W = depth_ref.shape
    p = box_pixels(box, H, W)
    pi = p.astype(np.int64)
    z_ref = depth_ref[pi[:, 1], pi[:, 0]]
    near = object_mask(np.log(z_ref), depth_band)
    p, pi, z_ref = p[near], pi[near], z_ref[near]
    q = p + flow[pi[:, 1], pi[:, 0]]
    inside = (q[:, 0] >= 0) & (q[:, 0] <= W - 1) & (q[:, 1] >= 0) & (q[:, 1] <= H - 1)
    if not inside.any():
        return np.full(3, np.nan)
    p, q, z_ref = p[inside], q[inside], z_ref[inside]
    z_end = map_coordinates(depth_end, [q[:, 1], q[:, 0]], order=1, mode="nearest")
    start = backproject(p, z_ref, K)
    end = transform(end_to_ref, backproject(q, z_end, K))
    return np.median(relative_displacement(start, end), axis=0)


def motion(
    depth: str | os.PathLike[str],
    rectify: str | os.PathLike[str],
    flow: str | os.PathLike[str],
    boxes: str | os.PathLike[str],
    cfg: Config,
    out: str | os.PathLike[str],
) -> Path:
    """The motion stage: per object track and window, the displacement and its classes.

    Inputs are the depth, rectify and flow stage files and a boxes file (see
    :func:`asmp.preprocess.common.read_boxes`); a track counts in window ``w`` when its box
    is valid in the window's reference frame.

    Output (kind ``stage/motion``): ``displacement`` ``[W,M,3]`` float32 (0 where not
    valid), ``valid`` ``[W,M]`` bool, ``direction10`` and ``direction28`` ``[W,M]`` int8.
    """
    from asmp.geometry import depth_from_pseudo, intrinsics

    box, box_valid = read_boxes(boxes)
    with (
        read_stage(depth, "depth") as fd,
        read_stage(rectify, "rectify") as fr,
        read_stage(flow, "flow") as ff,
    ):
        pseudo = fd["pseudo_depth"]
        T, H, W = pseudo.shape
        pairs, transforms = ff["pairs"][()], fr["transforms"][()]
        if len(box) != T:
            raise AsmpError(f"boxes cover {len(box)} frames, depth {T}", boxes)
        if len(transforms) != len(pairs):
            raise AsmpError(
                f"{len(transforms)} rectified windows but {len(pairs)} flow windows", flow
            )
        K = intrinsics(cfg["camera"]["hfov_deg"], W, H)
        th, band = cfg["motion"], cfg["objects"]["depth_band"]
        n_win, n_obj = len(pairs), box.shape[1]
        disp = np.full((n_win, n_obj, 3), np.nan)
        for w, (ref, end) in enumerate(
            tqdm(pairs, desc="motion", unit="win", disable=None, leave=False)
        ):
            z_ref, z_end = depth_from_pseudo(pseudo[ref]), depth_from_pseudo(pseudo[end])
            fl = ff["flow"][w].astype(np.float64)
            end_to_ref = transforms[w, end - ref].astype(np.float64)
            for m in np.flatnonzero(box_valid[ref]):
                disp[w, m] = object_displacement(box[ref, m], z_ref, z_end, fl, end_to_ref, K, band)
    valid = np.isfinite(disp).all(axis=-1)
    with stage_file(
        out,
        "motion",
        cfg,
        backend="flow+depth",
        units="relative (docs/stages.md)",
        still_uv=th["still_uv"],
        still_d=th["still_d"],
    ) as f:
        f["displacement"] = np.where(valid[..., None], disp, 0).astype(np.float32)
        f["valid"] = valid
        f["pairs"] = pairs
        for n in DIRECTION_CLASSES:
            f[f"direction{n}"] = direction_class(
                disp, n, th["still_uv"], th["still_d"], valid
            ).astype(np.int8)
    return Path(out)


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_stage_arguments(
        p,
        {
            "depth": "depth stage file",
            "rectify": "rectify stage file",
            "flow": "flow stage file",
            "boxes": "boxes file (boxes [T,M,4], valid [T,M]) or synth gt file",
        },
    )


def run(args: argparse.Namespace) -> int:
    motion(args.depth, args.rectify, args.flow, args.boxes, stage_config(args), args.out)
    return 0
