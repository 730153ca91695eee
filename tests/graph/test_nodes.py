"""IoU and the auditory / context node selection rules."""

from __future__ import annotations

import numpy as np
import pytest

from asmp.errors import AsmpError
from asmp.graph.nodes import iou_matrix, select_auditory, select_context


def test_iou_by_hand():
    a = np.array([[0, 0, 2, 2], [0, 0, 4, 1]])
    b = np.array([[1, 1, 3, 3], [0, 0, 2, 2], [5, 5, 6, 6], [2, 0, 3, 2]])
    expected = np.array(
        [
            [1 / 7, 1.0, 0.0, 0.0],  # 1 / (4 + 4 - 1); touching at x = 2 is no overlap
            [0.0, 2 / 6, 0.0, 1 / 5],  # [1,1,3,3] touches y = 1; 2 / (4 + 4 - 2); 1 / (4 + 2 - 1)
        ]
    )
    np.testing.assert_allclose(iou_matrix(a, b), expected, rtol=1e-12)
    np.testing.assert_allclose(iou_matrix(b, a), expected.T, rtol=1e-12)


def test_iou_degenerate_boxes_and_empty_sets():
    point = np.array([[1.0, 1.0, 1.0, 1.0]])
    assert iou_matrix(point, point).tolist() == [[0.0]]
    assert iou_matrix(point, [[0, 0, 2, 2]]).tolist() == [[0.0]]
    assert iou_matrix(np.zeros((0, 4)), point).shape == (0, 1)


@pytest.mark.parametrize(
    "bad", [np.zeros((2, 3)), np.array([[2.0, 0, 1, 1]]), np.array([[0.0, 0, np.nan, 1]])]
)
def test_iou_bad_boxes_raise(bad):
    with pytest.raises(AsmpError, match="boxes"):
        iou_matrix(bad, np.zeros((1, 4)))


AUX = np.array([0.0, 0.0, 10.0, 10.0])
# index: 0 the auditory detection itself, 1 inside, 2 IoU 25/175 = 0.143, 3 IoU 5/105 =
# 0.048, 4 low score, 5 disjoint, 6 same class as the auditory object, 7 IoU 0.64
BOXES = np.array(
    [
        [0, 0, 10, 10],
        [1, 1, 9, 9],
        [5, 5, 15, 15],
        [9, 0, 14, 10],
        [2, 2, 8, 8],
        [20, 20, 30, 30],
        [1, 1, 9, 9],
        [0, 0, 8, 8],
    ],
    dtype=np.float64,
)
CLASSES = np.array([1, 2, 3, 4, 5, 6, 1, 2])
SCORES = np.array([0.9, 0.5, 0.8, 0.95, 0.4, 0.99, 0.7, 0.6])


def context(**kw) -> list[int]:
    args = dict(iou_threshold=0.1, score_threshold=0.4, max_context=20) | kw
    return select_context(AUX, 1, BOXES, CLASSES, SCORES, **args).tolist()


def test_context_rules_score_class_iou_and_order():
    # 4 has score exactly 0.4 (strictly above is required); 3 below gamma; 0, 6 same class
    assert context() == [2, 7, 1]
    assert context(iou_threshold=0.04) == [3, 2, 7, 1]
    assert context(score_threshold=0.3) == [2, 7, 1, 4]


def test_context_cap_keeps_the_best_scores():
    assert context(max_context=2) == [2, 7]
    assert context(max_context=0) == []


def test_context_ties_keep_detection_order():
    scores = np.full(len(BOXES), 0.5)
    got = select_context(AUX, 1, BOXES, CLASSES, scores, 0.1, 0.4, 20)
    assert got.tolist() == [1, 2, 4, 7] and got.dtype == np.int64


def test_context_mismatched_lengths_raise():
    with pytest.raises(AsmpError, match="8 detections but 7 classes"):
        select_context(AUX, 1, BOXES, CLASSES[:7], SCORES, 0.1, 0.4, 20)


def test_auditory_best_per_sound_class_then_cap():
    classes = np.array([10, 11, 12, 10, 13, 99])
    scores = np.array([0.5, 0.9, 0.7, 0.95, 0.6, 0.99])
    to_sound = {10: 0, 11: 1, 12: 1, 13: 2}  # detector class -> sound class; 99 is no sound
    assert select_auditory(classes, scores, to_sound, 5).tolist() == [3, 1, 4]
    assert select_auditory(classes, scores, to_sound, 2).tolist() == [3, 1]
    assert select_auditory(classes, scores, {}, 2).tolist() == []
    assert select_auditory(classes[:0], scores[:0], to_sound, 2).dtype == np.int64
