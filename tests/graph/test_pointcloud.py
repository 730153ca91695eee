"""Node point clouds: pixel selection, normalisation, NaN removal, the cap, errors."""

from __future__ import annotations

import numpy as np
import pytest

from asmp.errors import AsmpError
from asmp.graph.pointcloud import box_cloud

H, W = 6, 8
DEPTH = np.arange(H * W, dtype=np.float64).reshape(H, W) / 10  # value = (W y + x) / 10


def test_points_are_normalised_pixel_centres_and_depth():
    # centres x in {2, 3}, y in {1, 2, 3}
    cloud = box_cloud(DEPTH, np.array([1.5, 0.6, 3.2, 3.0]))
    xs, ys = np.meshgrid([2, 3], [1, 2, 3])
    expected = np.column_stack(
        [(xs.ravel() + 0.5) / W, (ys.ravel() + 0.5) / H, np.exp((W * ys.ravel() + xs.ravel()) / 10)]
    )
    np.testing.assert_allclose(cloud, expected)


def test_whole_frame_spans_the_unit_square():
    cloud = box_cloud(DEPTH, np.array([-0.5, -0.5, W - 0.5, H - 0.5]))
    assert cloud.shape == (H * W, 3) and cloud.dtype == np.float64
    assert cloud[:, 0].min() == pytest.approx(0.5 / W) and cloud[:, 0].max() == pytest.approx(
        1 - 0.5 / W
    )
    assert cloud[:, 1].min() == pytest.approx(0.5 / H) and cloud[:, 1].max() == pytest.approx(
        1 - 0.5 / H
    )


def test_partly_outside_box_is_clipped():
    assert len(box_cloud(DEPTH, np.array([-10.0, -10.0, 1.0, 0.0]))) == 2  # (0,0), (1,0)


def test_nan_pixels_are_dropped_and_float16_is_read():
    depth = DEPTH.astype(np.float16)
    depth[1, 2] = np.nan
    cloud = box_cloud(depth, np.array([1.6, 0.6, 3.4, 1.4]))
    np.testing.assert_allclose(cloud, [[3.5 / W, 1.5 / H, np.exp(float(np.float16(1.1)))]])
    assert box_cloud(np.full((H, W), np.nan), np.array([0.0, 0, 4, 4])).shape == (0, 3)


def test_thin_box_between_pixel_centres_is_empty():
    assert box_cloud(DEPTH, np.array([1.1, 1.1, 1.9, 3.0])).shape == (0, 3)


def test_max_points_is_a_deterministic_subset_in_raster_order():
    box = np.array([0.0, 0.0, 7.0, 5.0])
    full = box_cloud(DEPTH, box)
    a = box_cloud(DEPTH, box, max_points=10, seed=3)
    assert len(a) == 10
    np.testing.assert_array_equal(a, box_cloud(DEPTH, box, max_points=10, seed=3))
    assert not np.array_equal(a, box_cloud(DEPTH, box, max_points=10, seed=4))
    rows = [np.flatnonzero((full == p).all(axis=1))[0] for p in a]
    assert rows == sorted(set(rows))  # distinct points, raster order kept
    np.testing.assert_array_equal(box_cloud(DEPTH, box, max_points=10_000), full)


@pytest.mark.parametrize(
    ("box", "match"),
    [
        ([2.0, 2.0, 2.0, 4.0], r"box \[2.0, 2.0, 2.0, 4.0\] has zero area"),
        ([3.0, 4.0, 5.0, 1.0], "zero area"),
        ([8.0, 0.0, 12.0, 3.0], "outside the 8x6 frame"),
        ([-5.0, -5.0, -1.0, -0.5], "outside"),
        ([0.0, 0.0, np.nan, 1.0], "finite"),
        ([0.0, 0.0, 1.0], "4 finite numbers"),
    ],
)
def test_bad_boxes_raise(box, match):
    with pytest.raises(AsmpError, match=match):
        box_cloud(DEPTH, np.array(box))


def test_bad_depth_or_cap_raise():
    with pytest.raises(AsmpError, match=r"expected \[H,W\]"):
        box_cloud(DEPTH[None], np.array([0.0, 0, 1, 1]))
    with pytest.raises(AsmpError, match="max_points"):
        box_cloud(DEPTH, np.array([0.0, 0, 1, 1]), max_points=0)


def test_depth_band_keeps_the_object_in_front_of_its_background():
    """A box over a near object (pseudo-depth 0) on a far wall (2): only the near pixels,
    at relative depth exp(0) = 1, remain; without a band the wall's exp(2) stay too."""
    depth = np.full((H, W), 2.0)
    depth[1:3, 1:3] = 0.0
    box = np.array([0.5, 0.5, 3.4, 3.4])  # 3x3 pixels, 4 of them on the object
    near = box_cloud(depth, box, depth_band=0.15)
    assert len(near) == 4 and np.allclose(near[:, 2], 1.0)
    assert sorted(set(np.round(box_cloud(depth, box)[:, 2], 6))) == [1.0, round(np.exp(2.0), 6)]
