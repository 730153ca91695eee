"""Time the rectify stage's per-window work (LK tracking, RANSAC, ICP, rectified depth).

The scene is a textured plane facing the camera at constant depth while the camera rolls
about its optical axis and slides sideways, so frames are exact 2D rigid warps of one
texture and depth is constant. Prints one JSON line: median wall time per window and the
mean process CPU time (all threads; robust to other load on the machine). The target is
<= 150 ms per 8-frame 256x256 window on a 2-core CPU.

    uv run python benchmarks/bench_rectify.py [--size 256] [--windows 20]
"""

from __future__ import annotations

import argparse
import json
import math
import time

import cv2
import numpy as np

from asmp.config import load_config
from asmp.geometry import intrinsics
from asmp.preprocess.rectify import RectifySettings, rectify_window

ROLL_DEG, SHIFT_PX = 0.5, (1.5, -0.5)  # camera motion per frame


def window(size: int, L: int) -> np.ndarray:
    """``[L,size,size,3]`` uint8 frames of the rolling, sliding camera."""
    noise = np.random.default_rng(0).random((2 * size, 2 * size)).astype(np.float32)
    tex = cv2.GaussianBlur(noise, (0, 0), 1.5) + 0.5 * cv2.GaussianBlur(noise, (0, 0), 5)
    tex = cv2.normalize(tex, None, 0, 255, cv2.NORM_MINMAX)
    frames = []
    for f in range(L):
        m = cv2.getRotationMatrix2D((size - 0.5, size - 0.5), ROLL_DEG * f, 1.0)
        m[:, 2] += np.array(SHIFT_PX) * f - size / 2
        grey = cv2.warpAffine(tex, m, (size, size), flags=cv2.INTER_CUBIC)
        frames.append(np.repeat(np.clip(grey, 0, 255).astype(np.uint8)[..., None], 3, axis=-1))
    return np.stack(frames)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=256, help="frame side (px)")
    p.add_argument("--windows", type=int, default=20, help="timed windows")
    p.add_argument("--config", default="workflow/config/synth.yaml")
    args = p.parse_args()
    cfg = load_config(args.config)
    L = cfg["video"]["window_frames"]
    frames = window(args.size, L)
    depth = np.zeros((L, args.size, args.size), np.float32)
    K = intrinsics(cfg["camera"]["hfov_deg"], args.size, args.size)
    s = RectifySettings.from_config(cfg)
    rectify_window(frames, depth, K, s)  # warm-up
    times = []
    cpu0 = time.process_time()
    for _ in range(args.windows):
        t0 = time.perf_counter()
        res = rectify_window(frames, depth, K, s)
        times.append(time.perf_counter() - t0)
    cpu_ms = 1e3 * (time.process_time() - cpu0) / args.windows
    # Frame f is the reference image turned by f * ROLL_DEG about the principal point, so
    # its camera -> reference rotation is a roll by that angle about the optical axis.
    roll = math.degrees(math.atan2(res.transforms[-1, 1, 0], res.transforms[-1, 0, 0]))
    print(
        json.dumps(
            {
                "bench": "rectify",
                "size": [args.size, args.size],
                "window_frames": L,
                "windows": args.windows,
                "ms_per_window": round(1e3 * np.median(times), 1),
                "cpu_ms_per_window": round(cpu_ms, 1),
                "tracks_last": int(res.tracks[-1]),
                "roll_error_deg": round(abs(roll - ROLL_DEG * (L - 1)), 4),
            }
        )
    )


if __name__ == "__main__":
    main()
