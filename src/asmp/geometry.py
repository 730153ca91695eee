"""Pinhole camera geometry and the project's pseudo-depth.

Pseudo-depth (docs/stages.md): ``P = log(Z) - median(log Z)`` over every valid pixel of a
video, where ``Z`` is depth along the optical axis. From metric ground truth this is exact;
from MiDaS, whose output is relative inverse depth ``r ~ 1/Z``, it is ``-log(r) +
median(log r)``. ``exp(P)`` is depth up to one unknown scale per video, which every
consumer (ICP, motion, Chamfer) tolerates.
"""

from __future__ import annotations

import math

import numpy as np


def intrinsics(hfov_deg: float, width: int, height: int) -> np.ndarray:
    """``[3,3]`` pinhole matrix with square pixels and the principal point at the centre.

    Pixel centres are at integer coordinates, so the image centre is ``((W-1)/2, (H-1)/2)``.
    """
    f = 0.5 * width / math.tan(math.radians(hfov_deg) / 2)
    return np.array(
        [[f, 0, (width - 1) / 2], [0, f, (height - 1) / 2], [0, 0, 1]], dtype=np.float64
    )


def backproject(xy: np.ndarray, z: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Lift pixels to camera-frame 3D points.

    Args:
        xy: ``[..., 2]`` pixel coordinates (x right, y down).
        z: ``[...]`` depth along the optical axis (any length unit).
        K: ``[3,3]`` intrinsics.

    Returns:
        ``[..., 3]`` points ``(X, Y, Z)`` in the unit of ``z``.
    """
    xy = np.asarray(xy, dtype=np.float64)
    z = np.asarray(z, dtype=np.float64)
    x = (xy[..., 0] - K[0, 2]) / K[0, 0] * z
    y = (xy[..., 1] - K[1, 2]) / K[1, 1] * z
    return np.stack([x, y, z], axis=-1)


def project(points: np.ndarray, K: np.ndarray) -> np.ndarray:
    """``[..., 3]`` camera-frame points to ``[..., 2]`` pixel coordinates."""
    p = np.asarray(points, dtype=np.float64)
    return np.stack(
        [K[0, 0] * p[..., 0] / p[..., 2] + K[0, 2], K[1, 1] * p[..., 1] / p[..., 2] + K[1, 2]],
        axis=-1,
    )


def transform(T: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a ``[4,4]`` rigid (or similarity) transform to ``[..., 3]`` points."""
    p = np.asarray(points, dtype=np.float64)
    return p @ T[:3, :3].T + T[:3, 3]


def pseudo_depth_from_depth(z: np.ndarray) -> np.ndarray:
    """Metric (or any-scale) depth ``[T,H,W]`` to pseudo-depth; non-positive -> NaN."""
    logz = np.log(np.where(z > 0, z, np.nan))
    return logz - np.nanmedian(logz)


def pseudo_depth_from_inverse(r: np.ndarray, floor: float = 1e-3) -> np.ndarray:
    """Relative inverse depth (MiDaS output) ``[T,H,W]`` to pseudo-depth.

    Values below ``floor`` times the video's 99th percentile are clamped there, since
    MiDaS's near-zero disparities (sky) would map to unbounded depth.
    """
    r = np.asarray(r, dtype=np.float64)
    r = np.maximum(r, floor * np.nanpercentile(r, 99))
    return pseudo_depth_from_depth(1.0 / r)


def depth_from_pseudo(p: np.ndarray) -> np.ndarray:
    """Pseudo-depth to depth up to one scale per video (``exp(P)``)."""
    return np.exp(np.asarray(p, dtype=np.float64))


def object_mask(pseudo_depth: np.ndarray, depth_band: float | None) -> np.ndarray:
    """Which of a box's pixels belong to its object rather than to what is behind it.

    An object is in front of its surroundings, so its pixels are those whose pseudo-depth
    lies within ``depth_band`` (log units) of the box's 25th percentile (config
    ``objects.depth_band``; None keeps every pixel).

    Args:
        pseudo_depth: ``[P]`` pseudo-depth of the box's pixels (finite).

    Returns:
        ``[P]`` bool.
    """
    p = np.asarray(pseudo_depth, dtype=np.float64)
    if depth_band is None or not len(p):
        return np.ones(len(p), dtype=bool)
    return np.abs(p - np.percentile(p, 25)) <= depth_band
