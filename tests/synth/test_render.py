"""The picture: exact plane geometry, z-buffered billboards, boxes, texture everywhere."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from asmp.geometry import backproject, project, transform
from asmp.synth.catalogue import CLASSES, SOUNDING
from asmp.synth.options import resolve_options
from asmp.synth.render import (
    MIN_VISIBLE_PIXELS,
    SPRITES,
    boxes_from_instance,
    noise,
    paint_sprite,
    pyramid,
    render_video,
    sample_mip,
)
from asmp.synth.scene import Camera, Scene, SceneObject, Trajectory, plan_clips, sample_scene
from asmp.synth.sound import TIMBRES


def still_scene(objects=(), pitch=0.0, camera="none") -> Scene:
    velocity = np.array([0.6, 0.0, 0.8]) if camera == "dolly" else np.zeros(3)
    rate = np.radians(4.0) if camera == "pan" else 0.0
    return Scene(1.0, 8, 11025, 96, 128, 60.0, Camera(camera, pitch, rate, velocity, 0.5),
                 tuple(objects), 1.5, 50.0, 0)  # fmt: skip


def static(cls: str, x: float, y: float, z: float, seed: int = 0) -> SceneObject:
    path = Trajectory(np.array([x, y, z]), np.array([1.0, 0, 0]), "static", 0.0, 1.0, 0.0, 0.5)
    return SceneObject(cls, cls in SOUNDING, path, seed)


def test_catalogue_is_complete():
    assert set(SPRITES) == set(CLASSES)
    assert set(TIMBRES) == set(SOUNDING)


@pytest.mark.parametrize("cls", sorted(CLASSES))
def test_sprites_are_opaque_at_their_centre(cls):
    rgba = paint_sprite(cls, CLASSES[cls].size, np.random.default_rng(0))
    h, w = rgba.shape[:2]
    centre = rgba[h // 2 - 2 : h // 2 + 3, w // 2 - 2 : w // 2 + 3, 3]
    assert (centre == 1).all()
    assert 0.2 < rgba[..., 3].mean() <= 1
    assert (rgba[..., :3] <= rgba[..., 3:]).all() and rgba.min() >= 0  # premultiplied


@pytest.mark.parametrize("camera", ["none", "pan", "dolly"])
def test_background_pixels_lie_on_the_ground_or_backdrop(camera):
    scene = still_scene(pitch=np.radians(6), camera=camera)
    _, depth, instance = render_video(scene)
    assert (instance == -1).all()
    ys, xs = np.mgrid[: scene.height, : scene.width]
    pixels = np.stack([xs, ys], axis=-1).astype(float)
    for t in (0, scene.n_frames - 1):
        world = transform(
            np.linalg.inv(scene.cam_T_world[t]), backproject(pixels, depth[t], scene.K)
        )
        on_ground = np.isclose(world[..., 1], scene.ground_y, rtol=1e-4)
        on_backdrop = np.isclose(world[..., 2], scene.backdrop_z, rtol=1e-4)
        assert (on_ground | on_backdrop).all()
        assert on_ground[-1].all() and on_backdrop[0].all()
        # the nearer plane wins: ground beyond the backdrop is hidden
        assert (world[..., 2][on_ground] <= scene.backdrop_z * (1 + 1e-4)).all()


def test_z_buffer_keeps_the_nearest_surface():
    near, far = static("crate", 0.0, 0.7, 6.0), static("engine", 0.3, 0.5, 9.0, seed=1)
    scene = still_scene([far, near])
    frames, depth, instance = render_video(scene)
    assert (instance == 0).any() and (instance == 1).any()
    np.testing.assert_array_equal(depth[instance == 1], np.float32(6.0))
    np.testing.assert_array_equal(depth[instance == 0], np.float32(9.0))
    cx, cy = project(np.array([0.0, 0.7, 6.0]), scene.K).round().astype(int)
    assert (instance[:, cy, cx] == 1).all()
    # the crate stands on the ground: the ground in front of it hides nothing of it
    crate = instance[0] == 1
    assert (depth[0][crate] <= 6.0).all()
    # swapping the draw order changes nothing
    again = render_video(still_scene([near, far]))
    np.testing.assert_array_equal(again[1], depth)
    np.testing.assert_array_equal(again[0], frames)


def test_objects_behind_the_camera_or_off_screen_are_not_drawn():
    scene = still_scene([static("dog", 0.0, 1.0, -4.0), static("bell", 40.0, 0.0, 5.0, seed=1)])
    _, _, instance = render_video(scene)
    assert (instance == -1).all()


def test_boxes_cover_the_visible_pixels():
    instance = np.full((3, 20, 30), -1, np.int8)
    instance[0, 2:6, 4:9] = 0
    instance[1, 10:20, 0:30] = 0
    instance[1, 0:3, 0:3] = 1  # too few pixels to count
    boxes, visible = boxes_from_instance(instance, 2)
    np.testing.assert_array_equal(visible, [[True, True, False], [False, False, False]])
    np.testing.assert_array_equal(boxes[0, 0], [3.5, 1.5, 8.5, 5.5])
    np.testing.assert_array_equal(boxes[0, 1], [-0.5, 9.5, 29.5, 19.5])
    assert np.isnan(boxes[0, 2]).all() and np.isnan(boxes[1]).all()
    assert 9 < MIN_VISIBLE_PIXELS


def test_noise_and_mip_sampling():
    grain = noise(np.random.default_rng(0), (64, 64), (2.0, 0.0))
    np.testing.assert_allclose(grain.mean(axis=(0, 1)), 0, atol=1e-5)
    np.testing.assert_allclose(grain.std(axis=(0, 1)), 1, atol=1e-5)
    levels = pyramid(np.dstack([grain, grain]))
    assert [lv.shape[0] for lv in levels] == [64, 32, 16, 8, 4, 2]
    u, v = np.meshgrid(np.arange(10, dtype=np.float32), np.arange(8, dtype=np.float32))
    exact = sample_mip(levels, u + 64, v - 64, np.zeros_like(u), cv2.BORDER_WRAP)  # periodic
    np.testing.assert_allclose(exact, np.dstack([grain, grain])[:8, :10], atol=1e-5)
    flat = pyramid(np.full((16, 16, 4), 0.25, np.float32))
    lod = np.linspace(0, 6, u.size, dtype=np.float32).reshape(u.shape)
    np.testing.assert_allclose(
        sample_mip(flat, 3 * u, 2 * v, lod, cv2.BORDER_WRAP), 0.25, atol=1e-6
    )


def test_frames_have_trackable_texture_everywhere():
    opts = resolve_options(duration=1.0, camera="dolly")
    for spec in plan_clips(2, 0, opts):
        frames, _, instance = render_video(sample_scene(spec, opts))
        grey = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames[:2]]
        corners = cv2.goodFeaturesToTrack(grey[0], 400, 0.01, 5)
        cells = {(int(x) * 4 // opts.width, int(y) * 4 // opts.height) for x, y in corners[:, 0]}
        assert len(corners) >= 300 and len(cells) >= 14
        # the static world tracks (with the rectify stage's default LK settings): corners
        # whose window sees no object come back
        objects = cv2.dilate(((instance[:2] >= 0).any(axis=0)).astype(np.uint8), np.ones((23, 23)))
        xy = corners[:, 0].astype(int)
        world = corners[objects[xy[:, 1], xy[:, 0]] == 0]
        lk = {"winSize": (21, 21), "maxLevel": 3}
        ahead, _, _ = cv2.calcOpticalFlowPyrLK(grey[0], grey[1], world, None, **lk)
        back, _, _ = cv2.calcOpticalFlowPyrLK(grey[1], grey[0], ahead, None, **lk)
        assert np.mean(np.linalg.norm(back - world, axis=-1) < 1.0) > 0.9
