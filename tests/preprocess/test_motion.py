"""Direction quantizers (official-impl-facts 2.6) and the per-box 3D displacement."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from asmp.geometry import backproject, intrinsics, project
from asmp.preprocess.motion import (
    LATTICE26,
    OCTANTS,
    direction_class,
    object_displacement,
    relative_displacement,
)


def test_lattice_is_the_26_neighbours_in_the_released_order():
    assert len({tuple(v) for v in LATTICE26}) == 26
    assert {tuple(v) for v in LATTICE26} == set(itertools.product((-1, 0, 1), repeat=3)) - {
        (0, 0, 0)
    }
    # Class 1 is +d, 2 is +v, 3 is +u (component order u, v, d); 19 is the (1,1,1) corner.
    assert direction_class(np.array([[0, 0, 1], [0, 1, 0], [1, 0, 0]]), 28, 0, 0).tolist() == [
        1,
        2,
        3,
    ]
    assert direction_class(np.array([1, 1, 1]), 28, 0, 0) == 19
    assert direction_class(LATTICE26 * 2.0, 28, 0.1, 0.1).tolist() == list(range(1, 27))


def test_28_classes_match_brute_force_cosine():
    rng = np.random.default_rng(0)
    v = rng.normal(size=(2000, 3))
    got = direction_class(v, 28, 0, 0)
    for vec, cls in zip(v, got, strict=True):
        cos = [np.dot(vec, d) / np.linalg.norm(vec) / np.linalg.norm(d) for d in LATTICE26]
        assert cls == 1 + int(np.argmax(cos))


def test_10_classes_are_sign_octants_with_zero_positive():
    assert direction_class(np.array([0.0, 0.0, 0.0]), 10, -1, -1) == 1  # zeros count as +
    for k, corner in enumerate(OCTANTS):
        assert direction_class(corner * 0.5, 10, 0.1, 0.1) == k + 1
    assert direction_class(np.array([-0.5, 0.0, 0.2]), 10, 0.1, 0.1) == 2  # (-1, 1, 1)


@pytest.mark.parametrize("n", [10, 28])
def test_still_needs_every_component_below_its_threshold(n):
    still = np.array([[0.05, -0.05, 0.02], [0.0, 0.0, 0.0]])
    moving = np.array([[0.06, 0.0, 0.0], [0.0, -0.06, 0.0], [0.0, 0.0, 0.03]])
    assert (direction_class(still, n, 0.06, 0.03) == 0).all()
    assert (direction_class(moving, n, 0.06, 0.03) > 0).all()


@pytest.mark.parametrize("n", [10, 28])
def test_padding_class_for_invalid_or_missing(n):
    v = np.array([[0.5, 0, 0], [np.nan, 0, 0], [0.5, 0, 0]])
    got = direction_class(v, n, 0.01, 0.01, valid=np.array([True, True, False]))
    assert got.tolist()[1:] == [n - 1, n - 1] and got[0] not in (0, n - 1)


def test_relative_displacement_units():
    start = np.array([1.0, 2.0, 10.0])
    assert relative_displacement(start, start + [0, 0, -2]).tolist() == [0, 0, -0.2]


class TestObjectDisplacement:
    H, W = 64, 80
    K = intrinsics(60.0, 80, 64)
    box = np.array([30.0, 22.0, 50.0, 42.0])

    def grid(self):
        ys, xs = np.mgrid[0 : self.H, 0 : self.W].astype(np.float64)
        return xs, ys

    def test_approach_without_camera_motion(self):
        xs, ys = self.grid()
        cx, cy = self.K[0, 2], self.K[1, 2]
        scale = 10.0 / 8.0  # a plane at 10 m moves to 8 m: the image expands about the centre
        flow = np.stack([(xs - cx) * (scale - 1), (ys - cy) * (scale - 1)], axis=-1)
        d = object_displacement(
            self.box,
            np.full((self.H, self.W), 10.0),
            np.full((self.H, self.W), 8.0),
            flow,
            np.eye(4),
            self.K,
        )
        np.testing.assert_allclose(d, [0, 0, -0.2], atol=1e-9)
        assert direction_class(d, 28, 0.03, 0.03) == 4  # -d

    def test_sideways_with_camera_rotation_compensated(self):
        # The object moves 1 m right at 10 m while the camera yaws by 3 degrees: in the
        # last frame's camera the object is seen through the rotation; end_to_ref undoes it.
        a = np.radians(3.0)
        R = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
        end_to_ref = np.eye(4)
        end_to_ref[:3, :3] = R
        xs, ys = self.grid()
        pix = np.stack([xs, ys], axis=-1)
        pts = backproject(pix, np.full_like(xs, 10.0), self.K)
        moved = (pts + [1.0, 0, 0]) @ R  # ref coordinates -> last frame's (R^T x)
        flow = project(moved, self.K) - pix
        # Depth of the last frame, as its own camera sees it, at the moved pixels.
        z_end = np.full((self.H, self.W), float(moved[32, 40, 2]))
        d = object_displacement(
            self.box, np.full((self.H, self.W), 10.0), z_end, flow, end_to_ref, self.K
        )
        np.testing.assert_allclose(d, [0.1, 0, 0], atol=2e-3)

    def test_box_leaving_the_frame_gives_nan(self):
        flow = np.full((self.H, self.W, 2), 500.0)
        depth = np.full((self.H, self.W), 5.0)
        assert np.isnan(object_displacement(self.box, depth, depth, flow, np.eye(4), self.K)).all()


def test_motion_stage_rejects_mismatched_inputs(tmp_path, synth_config_path):
    """Boxes covering another number of frames than the depth file: one clear error, no file."""
    import h5py

    from asmp.config import load_config
    from asmp.errors import AsmpError
    from asmp.preprocess.common import stage_file
    from asmp.preprocess.motion import motion

    cfg = load_config(synth_config_path)
    paths = {s: tmp_path / f"{s}.h5" for s in ("depth", "rectify", "flow")}
    with stage_file(paths["depth"], "depth", cfg) as f:
        f["pseudo_depth"] = np.zeros((16, 8, 8), np.float16)
    with stage_file(paths["rectify"], "rectify", cfg) as f:
        f["transforms"] = np.tile(np.eye(4, dtype=np.float32), (2, 8, 1, 1))
    with stage_file(paths["flow"], "flow", cfg) as f:
        f["pairs"] = np.array([[0, 7], [8, 15]])
        f["flow"] = np.zeros((2, 8, 8, 2), np.float16)
    boxes = tmp_path / "boxes.h5"
    with h5py.File(boxes, "w") as f:
        f["boxes"] = np.zeros((12, 1, 4), np.float32)
        f["valid"] = np.ones((12, 1), bool)
    out = tmp_path / "motion.h5"
    with pytest.raises(AsmpError, match="boxes cover 12 frames, depth 16"):
        motion(paths["depth"], paths["rectify"], paths["flow"], boxes, cfg, out)
    assert not out.exists()
