"""Stage ``rectify``: camera motion within each window (paper section 3.2).

Per window of ``L`` frames (reference = first frame): Shi-Tomasi corners of the reference
frame are tracked into every frame by pyramidal Lucas-Kanade with a forward-backward check,
lifted to pseudo-3D with ``exp(pseudo_depth)`` and the intrinsics of ``camera.hfov_deg``,
and each frame is aligned to the reference by point-to-point ICP (Open3D) on those points,
initialised by RANSAC + Kabsch on the tracked correspondences. Tracks near depth edges
and, when boxes are given, inside (moving) object boxes are dropped. The transforms are
rigid: pseudo-depth has one scale per video, so no similarity scale is estimated
(docs/rectify.md).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import cv2
import h5py
import numpy as np
import open3d as o3d
from tqdm import tqdm

from asmp.config import Config
from asmp.errors import AsmpError
from asmp.geometry import backproject, intrinsics
from asmp.preprocess.common import (
    add_stage_arguments,
    read_boxes,
    read_frames,
    read_stage,
    stage_config,
    stage_file,
    window_starts,
)

#: Shi-Tomasi corner quality (fraction of the best corner's score) and spacing (px).
CORNER_QUALITY = 0.01
CORNER_MIN_DISTANCE = 7
#: Tracks where log-depth varies more than this over 3x3 pixels sit on a depth edge.
DEPTH_EDGE_LOG = 0.1
#: RANSAC hypotheses (3-point Kabsch) per frame.
RANSAC_ITERATIONS = 200
#: After RANSAC, keep correspondences within this many times the inliers' median residual.
TRIM_FACTOR = 3.0
#: Fewer surviving tracks than this leave a frame unaligned (identity, fitness 0).
MIN_TRACKS = 8


@dataclass(frozen=True)
class RectifySettings:
    """The config section ``rectify`` (see ``schema.yaml`` for meanings and defaults)."""

    max_corners: int
    lk_window: int
    lk_levels: int
    fb_threshold: float
    icp_max_distance: float
    icp_iterations: int
    reject_boxes: bool

    @classmethod
    def from_config(cls, cfg: Config) -> RectifySettings:
        return cls(**cfg["rectify"])


@dataclass(frozen=True)
class IcpResult:
    """Open3D ICP outcome: ``transform`` ``[4,4]`` maps source points onto the target."""

    transform: np.ndarray
    fitness: float  # fraction of source points with a correspondence within max_distance
    rmse: float  # RMS distance of those correspondences (input units)
    correspondences: int


@dataclass(frozen=True)
class WindowRectification:
    """One window's result; ``transforms[f]`` maps frame ``f``'s camera into frame 0's."""

    transforms: np.ndarray  # [L,4,4] float64
    fitness: np.ndarray  # [L] float64
    rmse: np.ndarray  # [L] float64
    tracks: np.ndarray  # [L] int64
    rectified_depth: np.ndarray  # [L,H,W] float32


def _cloud(points: np.ndarray) -> o3d.geometry.PointCloud:
    return o3d.geometry.PointCloud(o3d.utility.Vector3dVector(np.asarray(points, np.float64)))


def icp(
    source: np.ndarray,
    target: np.ndarray,
    init: np.ndarray,
    max_distance: float,
    iterations: int,
    epsilon: float = 1e-8,
) -> IcpResult:
    """Point-to-point rigid ICP (Open3D) of ``source`` ``[N,3]`` onto ``target`` ``[M,3]``.

    Args:
        init: ``[4,4]`` initial transform.
        max_distance: correspondence distance limit (units of the points).
        iterations: maximum ICP iterations.
        epsilon: stop when fitness and inlier RMSE change by less than this (relative).
    """
    reg = o3d.pipelines.registration
    res = reg.registration_icp(
        _cloud(source),
        _cloud(target),
        max_distance,
        np.asarray(init, np.float64),
        reg.TransformationEstimationPointToPoint(with_scaling=False),
        reg.ICPConvergenceCriteria(
            relative_fitness=epsilon, relative_rmse=epsilon, max_iteration=iterations
        ),
    )
    return IcpResult(
        np.array(res.transformation), res.fitness, res.inlier_rmse, len(res.correspondence_set)
    )


def kabsch(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares rigid transforms with ``dst ~ R src + t``.

    Args:
        src, dst: ``[..., N, 3]`` corresponding points (``N >= 3``).

    Returns:
        ``[..., 4, 4]`` transforms (proper rotations).
    """
    ms, md = src.mean(axis=-2, keepdims=True), dst.mean(axis=-2, keepdims=True)
    u, _, vt = np.linalg.svd(np.swapaxes(src - ms, -1, -2) @ (dst - md))
    v, ut = np.swapaxes(vt, -1, -2), np.swapaxes(u, -1, -2)
    d = np.ones(src.shape[:-2] + (3,))
    d[..., 2] = np.sign(np.linalg.det(v @ ut))
    rot = (v * d[..., None, :]) @ ut
    out = np.zeros(src.shape[:-2] + (4, 4))
    out[..., :3, :3] = rot
    out[..., :3, 3] = md[..., 0, :] - (rot @ ms[..., 0, :, None])[..., 0]
    out[..., 3, 3] = 1.0
    return out


def _sq_residuals(T: np.ndarray, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """``[..., N]`` squared distances ``|T src - dst|^2`` for transforms ``[..., 4, 4]``."""
    diff = src @ np.swapaxes(T[..., :3, :3], -1, -2) + T[..., None, :3, 3] - dst
    return np.einsum("...i,...i->...", diff, diff)


def ransac_rigid(
    src: np.ndarray, dst: np.ndarray, threshold: float, iterations: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Robust rigid transform ``dst ~ T src`` from ``[N,3]`` correspondences.

    Scores ``iterations`` 3-point Kabsch hypotheses by their inliers (residual below
    ``threshold``), refits the best on its inliers, then trims to the residuals within
    :data:`TRIM_FACTOR` times those inliers' median and refits once more.

    Returns:
        ``[4,4]`` transform and ``[N]`` bool: the correspondences of the last fit.
    """
    sample = rng.integers(0, len(src), size=(iterations, 3))
    hyp = kabsch(src[sample], dst[sample])
    inliers = _sq_residuals(hyp, src, dst) < threshold**2
    inliers = inliers[np.argmax(inliers.sum(axis=1))]
    if inliers.sum() < 3:
        return hyp[0], inliers
    sq = _sq_residuals(kabsch(src[inliers], dst[inliers]), src, dst)
    kept = sq <= min(TRIM_FACTOR**2 * np.median(sq[inliers]), threshold**2)
    return kabsch(src[kept], dst[kept]), kept


def _inside(allowed: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """``[N]`` bool: ``xy`` ``[N,2]`` rounds to a pixel of ``allowed`` ``[H,W]`` that is True."""
    h, w = allowed.shape
    ij = np.rint(xy).astype(np.int64)
    ok = (ij[:, 0] >= 0) & (ij[:, 0] < w) & (ij[:, 1] >= 0) & (ij[:, 1] < h)
    ok[ok] = allowed[ij[ok, 1], ij[ok, 0]]
    return ok


def allowed_mask(
    log_depth: np.ndarray,
    boxes: np.ndarray | None = None,
    valid: np.ndarray | None = None,
    margin: int = 0,
) -> np.ndarray:
    """Where static-point tracks may lie: off depth edges and outside object boxes.

    Args:
        log_depth: ``[L,H,W]`` float32 pseudo-depth.
        boxes: optional ``[L,M,4]`` boxes ``(x0, y0, x1, y1)`` in pixels (pixel centres at
            integers; a pixel is inside when ``x0 <= x <= x1`` and ``y0 <= y <= y1``).
        valid: ``[L,M]`` bool, False for padding entries of ``boxes``.
        margin: boxes are grown by this many pixels on every side.

    Returns:
        ``[L,H,W]`` bool.
    """
    kernel = np.ones((3, 3), np.uint8)
    spread = [cv2.dilate(z, kernel) - cv2.erode(z, kernel) for z in log_depth]
    allowed = np.stack(spread) <= DEPTH_EDGE_LOG
    if boxes is not None:
        h, w = log_depth.shape[1:]
        for f, fb in enumerate(boxes):
            for x0, y0, x1, y1 in fb[valid[f]]:
                c0, r0 = int(np.ceil(max(x0 - margin, 0))), int(np.ceil(max(y0 - margin, 0)))
                c1, r1 = int(np.floor(min(x1 + margin, w))), int(np.floor(min(y1 + margin, h)))
                allowed[f, r0 : r1 + 1, c0 : c1 + 1] = False
    return allowed


def track(
    grey: np.ndarray, allowed: np.ndarray, s: RectifySettings
) -> tuple[np.ndarray, np.ndarray]:
    """Track reference corners through a window (pyramidal Lucas-Kanade, forward-backward).

    Tracks are chained frame to frame; a track ends at the first step whose backward
    track misses its start by ``s.fb_threshold`` px or more, or that leaves ``allowed``.

    Args:
        grey: ``[L,H,W]`` uint8 frames; frame 0 is the reference.
        allowed: ``[L,H,W]`` bool, see :func:`allowed_mask`.

    Returns:
        ``[L,N,2]`` float32 pixel positions (row 0: the corners; an ended track keeps its
        last position) and ``[L,N]`` bool: the track is alive at that frame.
    """
    L = len(grey)
    mask = allowed[0].astype(np.uint8)
    corners = cv2.goodFeaturesToTrack(
        grey[0], s.max_corners, CORNER_QUALITY, CORNER_MIN_DISTANCE, mask=mask
    )
    p0 = np.zeros((0, 2), np.float32) if corners is None else corners.reshape(-1, 2)
    xy = np.repeat(p0[None], L, axis=0)
    ok = np.zeros((L, len(p0)), dtype=bool)
    ok[0] = True
    lk = {"winSize": (s.lk_window, s.lk_window), "maxLevel": s.lk_levels}
    for f in range(1, L):
        live = ok[f - 1]
        if not live.any():
            break
        start = np.ascontiguousarray(xy[f - 1, live])
        p1, st1, _ = cv2.calcOpticalFlowPyrLK(grey[f - 1], grey[f], start, None, **lk)
        back, st2, _ = cv2.calcOpticalFlowPyrLK(grey[f], grey[f - 1], p1, None, **lk)
        fb = np.linalg.norm(back - start, axis=1)
        xy[f:, live] = p1
        ok[f, live] = (
            (st1[:, 0] == 1) & (st2[:, 0] == 1) & (fb < s.fb_threshold) & _inside(allowed[f], p1)
        )
    return xy, ok


def _sample(image: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Bilinear samples of ``image`` ``[H,W]`` float32 at ``xy`` ``[N,2]`` -> ``[N]``."""
    m = np.ascontiguousarray(xy, np.float32)[:, None]
    return cv2.remap(
        image, m[..., 0], m[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )[:, 0]


def rectify_depth(log_depth: np.ndarray, T: np.ndarray, rays: np.ndarray) -> np.ndarray:
    """A frame's pseudo-depth after moving its pixels into the reference camera.

    Args:
        log_depth: ``[H,W]`` pseudo-depth ``P`` of the frame.
        T: ``[4,4]`` frame camera -> reference camera.
        rays: ``[H,W,3]`` :func:`~asmp.geometry.backproject` of every pixel at depth 1.

    Returns:
        ``[H,W]`` float32 ``log z'``, ``z'`` the reference-camera depth of ``exp(P) * rays``
        under ``T`` (same pseudo unit, so the same median offset as ``P``); NaN where
        ``z' <= 0``.
    """
    z = np.exp(log_depth) * (rays @ T[2, :3].astype(np.float32)) + np.float32(T[2, 3])
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.log(np.where(z > 0, z, np.nan)).astype(np.float32)


def rectify_window(
    frames: np.ndarray,
    pseudo_depth: np.ndarray,
    K: np.ndarray,
    s: RectifySettings,
    boxes: np.ndarray | None = None,
    valid: np.ndarray | None = None,
    rng: np.random.Generator | None = None,
) -> WindowRectification:
    """Align every frame of one window to its first frame.

    Args:
        frames: ``[L,H,W,3]`` uint8 RGB.
        pseudo_depth: ``[L,H,W]`` finite pseudo-depth (``exp`` is depth up to scale).
        K: ``[3,3]`` intrinsics.
        s: settings; ICP's ``max_distance`` is ``s.icp_max_distance`` times the reference
            frame's median depth, which is also the RANSAC inlier threshold.
        boxes, valid: optional ``[L,M,4]``/``[L,M]`` object boxes to avoid (see
            :func:`allowed_mask`), used when ``s.reject_boxes``.
        rng: RANSAC's random source (default: seeded with 0).
    """
    L, h, w = pseudo_depth.shape
    rng = rng or np.random.default_rng(0)
    log_depth = np.asarray(pseudo_depth, np.float32)
    grey = np.stack([cv2.cvtColor(im, cv2.COLOR_RGB2GRAY) for im in frames])
    use_boxes = s.reject_boxes and boxes is not None
    allowed = allowed_mask(log_depth, boxes if use_boxes else None, valid, s.lk_window // 2)
    xy, ok = track(grey, allowed, s)
    pts = np.stack([backproject(xy[f], np.exp(_sample(log_depth[f], xy[f])), K) for f in range(L)])
    dist = s.icp_max_distance * float(np.exp(np.median(log_depth[0])))
    transforms = np.tile(np.eye(4), (L, 1, 1))
    fitness, rmse, tracks = np.zeros(L), np.full(L, np.nan), np.zeros(L, np.int64)
    fitness[0], rmse[0], tracks[0] = 1.0, 0.0, ok.shape[1]
    for f in range(1, L):
        src, dst = pts[f, ok[f]], pts[0, ok[f]]
        if len(src) < MIN_TRACKS:
            continue
        init, inliers = ransac_rigid(src, dst, dist, RANSAC_ITERATIONS, rng)
        if inliers.sum() < MIN_TRACKS:
            continue
        res = icp(src[inliers], dst[inliers], init, dist, s.icp_iterations)
        transforms[f] = res.transform
        fitness[f], rmse[f], tracks[f] = res.fitness, res.rmse, res.correspondences
    ys, xs = np.mgrid[0:h, 0:w]
    rays = backproject(np.stack([xs, ys], axis=-1), np.ones((h, w)), K).astype(np.float32)
    rect = np.stack([rectify_depth(log_depth[f], transforms[f], rays) for f in range(L)])
    return WindowRectification(transforms, fitness, rmse, tracks, rect)


def video_boxes(path: str | Path, n_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`~asmp.preprocess.common.read_boxes` of a video of ``n_frames`` frames, checked."""
    boxes, valid = read_boxes(path)
    if boxes.ndim != 3 or boxes.shape[2] != 4 or valid.shape != boxes.shape[:2]:
        raise AsmpError(
            f"boxes of shape {boxes.shape} and valid of shape {valid.shape} are "
            "not [T,M,4] and [T,M]",
            path,
        )
    if len(boxes) != n_frames:
        raise AsmpError(f"boxes for {len(boxes)} frames, the video has {n_frames}", path)
    return boxes, valid


def rectify(
    decode: str | Path,
    depth: str | Path,
    cfg: Config,
    out: str | Path,
    boxes: str | Path | None = None,
) -> Path:
    """Write the rectify stage file for one video (see docs/rectify.md)."""
    s = RectifySettings.from_config(cfg)
    L = cfg["video"]["window_frames"]
    with read_stage(decode, "decode") as fd, read_stage(depth, "depth") as fz:
        frames = read_frames(fd, decode)
        pd = fz.get("pseudo_depth")
        if not isinstance(pd, h5py.Dataset) or pd.shape != frames.shape[:3]:
            found = pd.shape if isinstance(pd, h5py.Dataset) else None
            raise AsmpError(
                f"'pseudo_depth' of shape {found} does not match the decode file's "
                f"frames [T,H,W] = {frames.shape[:3]}",
                depth,
            )
        n, h, w = pd.shape
        starts = window_starts(n, L, decode)
        box_data = video_boxes(boxes, n) if boxes is not None else (None, None)
        K = intrinsics(cfg["camera"]["hfov_deg"], w, h)
        per_window = []  # (transforms, fitness, rmse, tracks) of each window
        with stage_file(out, "rectify", cfg, backend="lk-icp", window_frames=L) as dst:
            rect = dst.create_dataset(
                "rectified_depth", (n, h, w), np.float16, chunks=(1, h, w), fillvalue=np.nan
            )
            for wi, s0 in enumerate(tqdm(starts, desc="rectify", unit="window", disable=None)):
                z = pd[s0 : s0 + L].astype(np.float32)
                if not np.isfinite(z).all():
                    raise AsmpError(
                        f"'pseudo_depth' is not finite in frames {s0}..{s0 + L - 1}", depth
                    )
                win = slice(s0, s0 + L)
                res = rectify_window(
                    frames[win],
                    z,
                    K,
                    s,
                    *(None if b is None else b[win] for b in box_data),
                    rng=np.random.default_rng(wi),
                )
                rect[win] = res.rectified_depth
                per_window.append((res.transforms, res.fitness, res.rmse, res.tracks))
            names = ("transforms", "fitness", "rmse", "tracks")
            dtypes = (np.float32, np.float32, np.float32, np.int32)
            for name, dtype, data in zip(names, dtypes, zip(*per_window, strict=True), strict=True):
                dst[name] = np.stack(data).astype(dtype)
    return Path(out)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """``asmp stage rectify DECODE DEPTH --config CFG --out OUT [--boxes BOXES]``."""
    add_stage_arguments(
        p, {"decode": "decode stage file (frames)", "depth": "depth stage file (pseudo_depth)"}
    )
    p.add_argument(
        "--boxes",
        type=Path,
        default=None,
        help="object boxes whose tracks are dropped: an HDF5 file with 'boxes' [T,M,4] "
        "(x1, y1, x2, y2 px) and 'valid' [T,M], or a synthetic ground-truth file",
    )


def run(args: argparse.Namespace) -> int:
    """Run the stage from parsed arguments."""
    rectify(args.decode, args.depth, stage_config(args), args.out, args.boxes)
    return 0
