"""The pseudo-3D point cloud of a node: its box's pixels lifted by pseudo-depth.

Paper section 3.3: each point is ``(x, y, z)`` with pixel-normalised image coordinates and
the pixel's depth ``z = exp(P) = Z / median Z``, the project's pseudo-depth
(asmp.geometry) turned back into depth relative to the video's median depth; only the
object's pixels of the box count (:func:`asmp.geometry.object_mask`).
"""

from __future__ import annotations

import numpy as np

from asmp.errors import AsmpError
from asmp.geometry import object_mask
from asmp.preprocess.motion import box_pixels


def box_cloud(
    pseudo_depth: np.ndarray,
    box: np.ndarray,
    max_points: int | None = None,
    seed: int = 0,
    depth_band: float | None = None,
) -> np.ndarray:
    """Point cloud of the pixels whose centres lie inside a box.

    Pixel ``(i, j)`` (column, row) has its centre at integer coordinates and spans
    ``[i-0.5, i+0.5]``, the project's convention; it becomes the point
    ``((i + 0.5) / W, (j + 0.5) / H, exp(pseudo_depth[j, i]))``, so the frame spans
    ``[0, 1]`` edge to edge in x and y. NaN depths are dropped, then pixels off the object
    (``depth_band``), so the cloud may be empty (also when a box inside the frame is too
    thin to contain a pixel centre).

    Args:
        pseudo_depth: ``[H,W]`` (rectified) pseudo-depth of the node's frame, log units.
        box: ``[4]`` ``x1, y1, x2, y2`` in pixels.
        max_points: keep at most this many points, drawn uniformly without replacement
            by ``numpy.random.default_rng(seed)`` after NaN removal and kept in raster
            order; None keeps every pixel.
        seed: seed of that draw (the same inputs always give the same cloud).
        depth_band: :func:`asmp.geometry.object_mask`'s band; None keeps every pixel.

    Returns:
        ``[P,3]`` float64 points in raster order (row by row).

    Raises:
        AsmpError: a non-finite or zero-area box, one entirely outside the frame, or a
            non-positive ``max_points``.
    """
    depth = np.asarray(pseudo_depth)
    if depth.ndim != 2:
        raise AsmpError(f"pseudo-depth map has shape {depth.shape}, expected [H,W]")
    height, width = depth.shape
    b = np.asarray(box, dtype=np.float64)
    name = f"box {b.tolist()}"
    if b.shape != (4,) or not np.isfinite(b).all():
        raise AsmpError(f"{name} is not 4 finite numbers x1, y1, x2, y2")
    if b[2] <= b[0] or b[3] <= b[1]:
        raise AsmpError(f"{name} has zero area")
    if b[2] <= -0.5 or b[3] <= -0.5 or b[0] >= width - 0.5 or b[1] >= height - 0.5:
        raise AsmpError(f"{name} lies outside the {width}x{height} frame")
    if max_points is not None and max_points < 1:
        raise AsmpError(f"max_points must be at least 1, got {max_points}")
    xy = box_pixels(b, height, width).astype(np.int64)
    z = depth[xy[:, 1], xy[:, 0]].astype(np.float64)
    keep = ~np.isnan(z)
    xy, z = xy[keep], z[keep]
    keep = object_mask(z, depth_band)
    xy, z = xy[keep], z[keep]
    if max_points is not None and len(z) > max_points:
        pick = np.sort(np.random.default_rng(seed).choice(len(z), max_points, replace=False))
        xy, z = xy[pick], z[pick]
    return np.column_stack([(xy[:, 0] + 0.5) / width, (xy[:, 1] + 0.5) / height, np.exp(z)])
