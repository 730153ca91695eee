"""Which detections of a frame become graph nodes (paper 3.3; AVSGS 3.2).

Boxes are ``x1, y1, x2, y2`` in pixels with continuous extent: a box's area is
``(x2 - x1) * (y2 - y1)``. Every selection returns detection indices, best score first,
ties broken by the lower index.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from asmp.errors import AsmpError


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of every box of ``a`` ``[n,4]`` with every box of ``b`` ``[m,4]``.

    Returns ``[n,m]`` float64 in ``[0, 1]``; 0 where the union is empty (two zero-area
    boxes).
    """
    a, b = _boxes(a, "a"), _boxes(b, "b")
    lo = np.maximum(a[:, None, :2], b[None, :, :2])
    hi = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(hi - lo, 0.0, None), axis=-1)
    union = _area(a)[:, None] + _area(b)[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def select_context(
    aux_box: np.ndarray,
    aux_class: int,
    det_boxes: np.ndarray,
    det_classes: np.ndarray,
    det_scores: np.ndarray,
    iou_threshold: float,
    score_threshold: float,
    max_context: int,
) -> np.ndarray:
    """Context nodes of one auditory object among the detections of its frame.

    A detection qualifies when ``score > score_threshold``, its class differs from
    ``aux_class`` (which also excludes the auditory detection itself) and its IoU with
    ``aux_box`` exceeds ``iou_threshold`` (gamma); the ``max_context`` best-scoring are kept.

    Args:
        aux_box: ``[4]`` the auditory object's box.
        aux_class: its detector class id.
        det_boxes: ``[M,4]`` the frame's detections; ``det_classes`` ``[M]`` int,
            ``det_scores`` ``[M]`` in ``[0, 1]``.
        iou_threshold, score_threshold: strict lower bounds.
        max_context: at most this many indices (0 gives none).

    Returns:
        ``[k]`` int64 indices into the detections, ``k <= max_context``.
    """
    boxes = _boxes(det_boxes, "det_boxes")
    classes, scores = _detections(det_classes, det_scores, len(boxes))
    iou = iou_matrix(np.asarray(aux_box, dtype=np.float64).reshape(1, 4), boxes)[0]
    ok = (scores > score_threshold) & (classes != aux_class) & (iou > iou_threshold)
    return _best(np.flatnonzero(ok), scores, max_context)


def select_auditory(
    det_classes: np.ndarray,
    det_scores: np.ndarray,
    candidate_classes: Mapping[int, int],
    max_auditory: int,
) -> np.ndarray:
    """Auditory objects among one frame's detections.

    Only detections whose class is a key of ``candidate_classes`` qualify; the best-scoring
    detection of each sound class (the mapped value) is kept, and of those the
    ``max_auditory`` best-scoring.

    Args:
        det_classes: ``[M]`` detector class ids; ``det_scores`` ``[M]`` their scores.
        candidate_classes: detector class id -> sound class id, for the video's sound
            classes only.
        max_auditory: at most this many indices.

    Returns:
        ``[k]`` int64 indices, ``k <= max_auditory``, one per sound class at most.
    """
    classes, scores = _detections(det_classes, det_scores)
    best_of_sound: dict[int, int] = {}
    for i in _best(np.arange(len(classes)), scores, len(classes)):
        sound = candidate_classes.get(int(classes[i]))
        if sound is not None:
            best_of_sound.setdefault(sound, int(i))
    return _best(np.array(list(best_of_sound.values()), dtype=np.int64), scores, max_auditory)


def _best(idx: np.ndarray, scores: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` indices of ``idx`` with the highest scores, best first, ties by index."""
    idx = np.sort(idx)
    return idx[np.argsort(-scores[idx], kind="stable")[: max(k, 0)]].astype(np.int64)


def _detections(
    classes: np.ndarray, scores: np.ndarray, n: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``[M]`` classes and float64 scores, checked to number ``n`` (default: the scores)."""
    c, s = np.asarray(classes).reshape(-1), np.asarray(scores, dtype=np.float64).reshape(-1)
    n = len(s) if n is None else n
    if len(c) != n or len(s) != n:
        raise AsmpError(f"{n} detections but {len(c)} classes and {len(s)} scores")
    return c, s


def _boxes(boxes: np.ndarray, name: str) -> np.ndarray:
    b = np.asarray(boxes, dtype=np.float64)
    if b.ndim != 2 or b.shape[1] != 4:
        raise AsmpError(f"{name}: boxes have shape {b.shape}, expected [n,4]")
    if not np.isfinite(b).all() or (b[:, 2] < b[:, 0]).any() or (b[:, 3] < b[:, 1]).any():
        raise AsmpError(f"{name}: boxes must be finite with x1 <= x2 and y1 <= y2")
    return b


def _area(b: np.ndarray) -> np.ndarray:
    return (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
