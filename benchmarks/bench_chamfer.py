"""Time the full Chamfer matrix of one scene graph (asmp.graph.chamfer_matrix).

The clouds are real node clouds (asmp.graph.box_cloud): boxes of ``--points`` pixels at
random places on a smooth random 256x256 pseudo-depth map, so neighbouring boxes overlap
as context boxes do. Prints one JSON line with the median wall seconds per matrix on
each device (CPU always, CUDA when available or asked for) and the mean process CPU
seconds (all threads; robust to other load on the machine). The targets are < 2 s on a
2-core CPU and < 20 ms on an H100 for 43 nodes x 2,000 points.

    uv run python benchmarks/bench_chamfer.py [--nodes 43] [--points 2000] [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import time

import cv2
import numpy as np
import torch

from asmp.graph import box_cloud, chamfer_matrix

SIZE = 256  # frame side (px)


def node_clouds(nodes: int, points: int, seed: int = 0) -> list[np.ndarray]:
    """``nodes`` clouds of ``points`` points each (boxes of aspect about 4:5)."""
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((SIZE, SIZE)).astype(np.float32)
    depth = cv2.GaussianBlur(noise, (0, 0), 20)
    depth = (depth - np.median(depth)) / depth.std()  # pseudo-depth: median 0, log units
    w = max(1, min(SIZE, round(np.sqrt(points * 0.8))))
    h = -(-points // w)
    if h > SIZE:
        raise SystemExit(f"--points {points} does not fit a {SIZE}x{SIZE} frame")
    x0, y0 = rng.integers(0, SIZE - w + 1, nodes), rng.integers(0, SIZE - h + 1, nodes)
    boxes = np.stack([x0, y0, x0 + w - 1, y0 + h - 1], axis=1).astype(np.float64)
    return [box_cloud(depth, b, max_points=points) for b in boxes]


def seconds(clouds: list[np.ndarray], device: str, repeats: int) -> tuple[float, float]:
    """Median wall time and mean process CPU time (all threads) of ``chamfer_matrix``.

    One untimed warm-up call first (it compiles the CUDA kernel).
    """
    on_device = [torch.from_numpy(c).to(device) for c in clouds]
    chamfer_matrix(on_device, device=device)
    times = []
    cpu0 = time.process_time()
    for _ in range(repeats):
        t0 = time.perf_counter()
        chamfer_matrix(on_device, device=device)  # returns a host array: synchronised
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), (time.process_time() - cpu0) / repeats


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nodes", type=int, default=43, help="graph nodes (2 x (1 + 20) + 1)")
    p.add_argument("--points", type=int, default=2000, help="points per node")
    p.add_argument("--device", choices=["cpu", "cuda"], action="append", help="repeatable")
    p.add_argument("--repeats", type=int, default=5, help="timed matrices per device")
    args = p.parse_args()
    devices = args.device or ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    if "cuda" in devices and not torch.cuda.is_available():
        raise SystemExit("--device cuda: CUDA is not available")
    clouds = node_clouds(args.nodes, args.points)
    timed = {d: seconds(clouds, d, args.repeats) for d in devices}
    print(
        json.dumps(
            {
                "bench": "chamfer",
                "nodes": args.nodes,
                "points_per_node": args.points,
                "threads": torch.get_num_threads(),
                "seconds_per_matrix": {d: round(t[0], 4) for d, t in timed.items()},
                "cpu_seconds_per_matrix": {d: round(t[1], 4) for d, t in timed.items()},
            }
        )
    )


if __name__ == "__main__":
    main()
