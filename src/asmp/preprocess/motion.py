"""Per-object 3D motion and its direction classes.

Units (see docs/motion.md): a displacement is the 3-vector ``(u, v, d)`` of an object's
motion over one window, expressed in the camera frame of the window's reference frame
and divided by the object's distance from the camera at that frame. ``u`` points right,
``v`` down (image axes) and ``d`` away from the camera, so ``d = -0.1`` means the object
came 10% closer. The quantity is dimensionless and invariant to the unknown scale of
pseudo-depth, so ground truth (metres) and estimates (pseudo-depth) share it.
"""

from __future__ import annotations

import numpy as np

#: The 26 lattice directions of {-1,0,1}^3 minus 0, in the released code's class order
#: (classes 1..26 of the 28-class problem); components are (u, v, d).
LATTICE26 = np.array(
    [
        # axes: +d, +v, +u, -d, -v, -u
        (0, 0, 1), (0, 1, 0), (1, 0, 0), (0, 0, -1), (0, -1, 0), (-1, 0, 0),
        # edges
        (0, 1, 1), (1, 1, 0), (1, 0, 1), (0, 1, -1), (1, -1, 0), (1, 0, -1),
        (-1, 1, 0), (-1, 0, 1), (0, -1, 1), (0, -1, -1), (-1, -1, 0), (-1, 0, -1),
        # corners
        (1, 1, 1), (-1, 1, 1), (-1, -1, 1), (1, -1, 1),
        (1, 1, -1), (-1, 1, -1), (-1, -1, -1), (1, -1, -1),
    ],
    dtype=np.float64,
)  # fmt: skip

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
