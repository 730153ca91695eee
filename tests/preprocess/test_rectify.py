"""The rectify stage: ICP against PCL's answer, robust fitting, and camera motion recovered
from a ray-cast synthetic scene with known poses."""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import h5py
import numpy as np
import open3d as o3d
import pytest
import yaml

from asmp.config import Config, load_config
from asmp.errors import AsmpError
from asmp.geometry import backproject, intrinsics, project, pseudo_depth_from_depth, transform
from asmp.preprocess import rectify
from asmp.preprocess.common import read_stage, stage_file

#: PCL's point-to-point ICP result for bun0 -> bun4 (shared/testdata/README.md).
BUNNY_ICP = np.array(
    [
        [0.8806, 0.03648, -0.4724, 0.03453],
        [-0.02354, 0.9992, 0.03326, -0.001519],
        [0.4732, -0.01817, 0.8808, 0.04116],
        [0, 0, 0, 1],
    ]
)

H, W, L = 144, 192, 8


def test_icp_bunny_matches_pcl(shared_dir: Path) -> None:
    folder = shared_dir / "testdata" / "pcl-icp"
    src, tgt = (
        np.asarray(o3d.io.read_point_cloud(str(folder / n)).points)
        for n in ("bun0.pcd", "bun4.pcd")
    )
    assert (len(src), len(tgt)) == (397, 361)
    res = rectify.icp(src, tgt, np.eye(4), max_distance=0.05, iterations=50, epsilon=1e-8)
    np.testing.assert_allclose(res.transform, BUNNY_ICP, atol=1e-3)
    assert res.fitness == 1.0 and res.correspondences == 397


def pixel_grid() -> np.ndarray:
    """``[H,W,2]`` pixel coordinates ``(x, y)``."""
    ys, xs = np.mgrid[0:H, 0:W]
    return np.stack([xs, ys], axis=-1).astype(np.float64)


def rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """``[3,3]`` rotation from Euler angles in degrees (y, then x, then z axis)."""
    a, b, c = map(math.radians, (yaw, pitch, roll))
    ry = np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])
    rx = np.array([[1, 0, 0], [0, math.cos(b), -math.sin(b)], [0, math.sin(b), math.cos(b)]])
    rz = np.array([[math.cos(c), -math.sin(c), 0], [math.sin(c), math.cos(c), 0], [0, 0, 1]])
    return ry @ rx @ rz


def test_ransac_rigid_ignores_outliers() -> None:
    rng = np.random.default_rng(0)
    src = rng.uniform(-1, 1, (200, 3)) + [0, 0, 4]
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = rotation(10, -5, 3), [0.2, -0.1, 0.3]
    dst = src @ T[:3, :3].T + T[:3, 3] + rng.normal(0, 1e-3, src.shape)
    dst[:60] += rng.uniform(0.2, 1.0, (60, 3))
    est, inliers = rectify.ransac_rigid(src, dst, 0.1, 200, rng)
    np.testing.assert_allclose(est, T, atol=2e-3)
    assert not inliers[:60].any() and inliers[60:].mean() > 0.9
    np.testing.assert_allclose(rectify.kabsch(src[60:], dst[60:]), T, atol=2e-3)


@dataclass
class Plane:
    """A textured rectangle ``origin + a*u + b*v`` for ``a`` in [0, a1], ``b`` in [0, b1]."""

    origin: np.ndarray
    u: np.ndarray
    v: np.ndarray
    a1: float
    b1: float

    def corners(self) -> np.ndarray:
        return np.array(
            [self.origin + a * self.u + b * self.v for a in (0, self.a1) for b in (0, self.b1)]
        )


def scene(mover_x: float | None) -> list[Plane]:
    """Ground, back wall, two boxes' faces (one slanted); a moving square at ``mover_x``."""
    ex, ey = np.array([1.0, 0, 0]), np.array([0, 1.0, 0])
    planes = [
        Plane(np.array([-20, 1.2, 0]), ex, np.array([0, 0, 1.0]), 40, 30),
        Plane(np.array([-20, -10, 14]), ex, ey, 40, 11.2),
        Plane(np.array([-2.5, -1.0, 5]), ex, ey, 1.5, 2.2),
        Plane(np.array([1.0, -0.5, 7]), np.array([0.8, 0, -0.6]), ey, 2.0, 1.7),
    ]
    if mover_x is not None:
        planes.append(Plane(np.array([mover_x, -0.6, 3.5]), ex, ey, 1.2, 1.2))
    return planes


def render(
    planes: list[Plane], R: np.ndarray, c: np.ndarray, K: np.ndarray, texture: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Ray-cast a camera (camera-to-world rotation ``R``, centre ``c``): ``[H,W,3]`` uint8
    image and ``[H,W]`` depth along the optical axis."""
    # Rays with camera-frame z = 1, so the distance t along a ray to its hit is the depth.
    d = backproject(pixel_grid(), np.ones((H, W)), K) @ R.T
    depth, tu, tv = np.full((H, W), np.inf), np.zeros((H, W)), np.zeros((H, W))
    for i, p in enumerate(planes):
        n = np.cross(p.u, p.v)
        with np.errstate(divide="ignore", invalid="ignore"):
            t = ((p.origin - c) @ n) / (d @ n)
        rel = c + t[..., None] * d - p.origin
        a, b = rel @ p.u, rel @ p.v
        hit = (t > 0) & (t < depth) & (a >= 0) & (a <= p.a1) & (b >= 0) & (b <= p.b1)
        depth = np.where(hit, t, depth)
        tu, tv = np.where(hit, 40 * a + 97 * i, tu), np.where(hit, 40 * b + 61 * i, tv)
    grey = cv2.remap(
        texture,
        tu.astype(np.float32),
        tv.astype(np.float32),
        cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_WRAP,
    )
    return np.repeat(np.clip(grey, 0, 255).astype(np.uint8)[..., None], 3, axis=-1), depth


@dataclass
class Video:
    frames: np.ndarray  # [T,H,W,3] uint8
    pseudo_depth: np.ndarray  # [T,H,W] float16
    boxes: np.ndarray  # [T,1,4] the moving square's box
    poses: list[tuple[np.ndarray, np.ndarray]]  # camera-to-world (R, c) per frame
    scale: float  # pseudo-depth unit / scene unit
    K: np.ndarray


def make_video(n: int, moving: bool) -> Video:
    """A static scene seen by a turning, advancing camera; optionally a square moving right."""
    K = intrinsics(60.0, W, H)
    noise = np.random.default_rng(0).random((512, 512)).astype(np.float32)
    texture = cv2.GaussianBlur(noise, (0, 0), 1.5) + 0.5 * cv2.GaussianBlur(noise, (0, 0), 5)
    texture = cv2.normalize(texture, None, 0, 255, cv2.NORM_MINMAX)
    poses = [
        (rotation(0.8 * f, 0.3 * f, 0.2 * f), np.array([0.05, -0.01, 0.1]) * f) for f in range(n)
    ]
    frames, depths, boxes = [], [], []
    for f, (R, c) in enumerate(poses):
        planes = scene(-0.8 + 0.12 * f if moving else None)
        image, depth = render(planes, R, c, K, texture)
        frames.append(image)
        depths.append(depth)
        px = project((scene(-0.8 + 0.12 * f)[-1].corners() - c) @ R, K)  # world -> camera
        boxes.append([[*px.min(axis=0), *px.max(axis=0)]])
    depth = np.stack(depths)
    scale = math.exp(-np.median(np.log(depth)))
    return Video(
        np.stack(frames),
        pseudo_depth_from_depth(depth).astype(np.float16),
        np.array(boxes),
        poses,
        scale,
        K,
    )


def true_transform(video: Video, ref: int, f: int) -> np.ndarray:
    """Frame ``f``'s camera -> frame ``ref``'s camera, in pseudo-depth units."""
    (R0, c0), (Rf, cf) = video.poses[ref], video.poses[f]
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = R0.T @ Rf, R0.T @ (cf - c0) * video.scale
    return T


def check_motion(est: np.ndarray, video: Video, ref: int) -> None:
    """Every ``[L,4,4]`` estimate within 1 degree and with the right translation direction."""
    np.testing.assert_array_equal(est[0], np.eye(4))
    for f in range(1, len(est)):
        truth = true_transform(video, ref, ref + f)
        cos = (np.trace(est[f, :3, :3].T @ truth[:3, :3]) - 1) / 2
        assert math.degrees(math.acos(min(cos, 1.0))) < 1.0
        t_est, t_true = est[f, :3, 3], truth[:3, 3]
        assert t_est @ t_true / np.linalg.norm(t_est) / np.linalg.norm(t_true) > 0.99


@pytest.fixture(scope="module")
def cfg(synth_config_path: Path) -> Config:
    return load_config(synth_config_path)


@pytest.fixture(scope="module")
def static_video() -> Video:
    return make_video(L, moving=False)


@pytest.fixture(scope="module")
def moving_video() -> Video:
    return make_video(2 * L + 1, moving=True)


def test_window_static_scene(static_video: Video, cfg: Config) -> None:
    v = static_video
    s = rectify.RectifySettings.from_config(cfg)
    res = rectify.rectify_window(v.frames, v.pseudo_depth.astype(np.float32), v.K, s)
    check_motion(res.transforms, v, 0)
    assert (res.tracks[1:] >= 50).all() and (res.fitness[1:] > 0.9).all()
    assert (res.rmse[1:] < 0.01).all()
    # Rectified depth = log of the reference-camera depth of each pixel's point.
    np.testing.assert_allclose(res.rectified_depth[0], v.pseudo_depth[0], atol=1e-6)
    pts = backproject(pixel_grid(), np.exp(v.pseudo_depth[-1].astype(np.float64)), v.K)
    z_true = transform(true_transform(v, 0, L - 1), pts)[..., 2]
    assert np.median(np.abs(res.rectified_depth[-1] - np.log(z_true))) < 2e-3


def test_window_moving_object(moving_video: Video, cfg: Config) -> None:
    v = moving_video
    s = rectify.RectifySettings.from_config(cfg)
    z = v.pseudo_depth[:L].astype(np.float32)
    valid = np.ones((L, 1), dtype=bool)
    with_boxes = rectify.rectify_window(v.frames[:L], z, v.K, s, v.boxes[:L], valid)
    check_motion(with_boxes.transforms, v, 0)
    # Without boxes RANSAC alone must reject the moving square's tracks.
    check_motion(rectify.rectify_window(v.frames[:L], z, v.K, s).transforms, v, 0)
    # Tracks may not lie in a box grown by the margin, nor on depth edges.
    allowed = rectify.allowed_mask(z, v.boxes[:L], valid, margin=3)
    for f, (x0, y0, x1, y1) in enumerate(v.boxes[:L, 0]):
        grown = allowed[
            f,
            math.ceil(y0 - 3) : math.floor(y1 + 3) + 1,
            math.ceil(x0 - 3) : math.floor(x1 + 3) + 1,
        ]
        assert grown.size > 2000 and not grown.any()
    assert 0.6 < rectify.allowed_mask(z)[0].mean() < 0.99


def write_inputs(tmp_path: Path, video: Video, cfg: Config) -> tuple[Path, Path, Path]:
    decode, depth, boxes = (tmp_path / f"{n}.h5" for n in ("decode", "depth", "boxes"))
    with stage_file(decode, "decode", cfg) as f:
        f["frames"] = video.frames
        f.attrs["fps"] = 8.0
        f.attrs["source"] = "synthetic"
    with stage_file(depth, "depth", cfg, backend="gt") as f:
        f["pseudo_depth"] = video.pseudo_depth
    with h5py.File(boxes, "w") as f:
        f["boxes"] = video.boxes
        f["valid"] = np.ones(video.boxes.shape[:2], dtype=bool)
    return decode, depth, boxes


def run_stage(tmp_path: Path, cfg: Config, *argv: Path | str) -> int:
    cfg_path = tmp_path / "config.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg))
    parser = argparse.ArgumentParser()
    rectify.add_arguments(parser)
    return rectify.run(parser.parse_args([*map(str, argv), "--config", str(cfg_path)]))


def test_stage_end_to_end(tmp_path: Path, moving_video: Video, cfg: Config) -> None:
    decode, depth, boxes = write_inputs(tmp_path, moving_video, cfg)
    out = tmp_path / "rectify.h5"
    assert run_stage(tmp_path, cfg, decode, depth, "--boxes", boxes, "--out", out) == 0
    with read_stage(out, "rectify") as f:
        transforms = f["transforms"][()]
        assert transforms.shape == (2, L, 4, 4) and transforms.dtype == np.float32
        for name in ("fitness", "rmse", "tracks"):
            assert f[name].shape == (2, L)
        assert (f["tracks"][:, 1:] >= 30).all()
        rect = f["rectified_depth"]
        assert rect.shape == (2 * L + 1, H, W) and rect.dtype == np.float16
        assert rect.chunks == (1, H, W)
        assert np.isnan(rect[2 * L]).all()  # after the last complete window
        np.testing.assert_array_equal(rect[L], moving_video.pseudo_depth[L])
    for w in range(2):
        check_motion(transforms[w].astype(np.float64), moving_video, w * L)


@pytest.mark.parametrize("fault", ["nan", "short", "frames", "boxes"])
def test_stage_rejects_bad_input(
    tmp_path: Path, static_video: Video, cfg: Config, fault: str
) -> None:
    decode, depth, boxes = write_inputs(tmp_path, static_video, cfg)
    bad, cause = {
        "nan": (depth, "not finite in frames 0..7"),
        "short": (decode, "8 frames, shorter than one window of 10"),
        "frames": (depth, "does not match the decode file's frames"),
        "boxes": (boxes, "boxes for 7 frames, the video has 8"),
    }[fault]
    if fault == "nan":
        with h5py.File(depth, "a") as f:
            f["pseudo_depth"][3, 5, 5] = np.nan
    elif fault == "short":
        cfg = {**cfg, "video": {**cfg["video"], "window_frames": 10}}
    else:
        name = "pseudo_depth" if fault == "frames" else "boxes"
        with h5py.File(bad, "a") as f:
            data = f[name][:-1]
            del f[name]
            f[name] = data
            if fault == "boxes":
                del f["valid"]
                f["valid"] = np.ones(data.shape[:2], dtype=bool)
    out = tmp_path / "rectify.h5"
    with pytest.raises(AsmpError, match=cause) as exc:
        run_stage(tmp_path, cfg, decode, depth, "--boxes", boxes, "--out", out)
    assert exc.value.path == str(bad)
    assert not out.exists() and not list(tmp_path.glob(".rectify.h5*"))
