"""Time the flow stage's estimators on frame pairs: pairs per second per backend.

RAFT runs with randomly initialised torchvision weights (speed does not depend on the
weight values, and no download is needed) on CUDA when present, else CPU. Prints one JSON
line per backend. Targets: DIS <= 10 ms per 256x256 pair on a 2-core CPU.

    uv run python benchmarks/bench_flow.py [--size 256] [--backends dis raft_small raft_large]
    uv run python benchmarks/bench_flow.py --size 512 --device cuda   # on a GPU machine
"""

from __future__ import annotations

import argparse
import json
import time

import cv2
import numpy as np
import torch

from asmp.preprocess.flow import RAFT_BATCH, RAFT_MODELS, DisFlow, FlowFn, RaftFlow, default_device


def pairs(n: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` pairs of ``[size,size,3]`` uint8 frames: a smooth texture and it shifted."""
    noise = np.random.default_rng(0).random((size + 16, size + 16)).astype(np.float32)
    tex = cv2.normalize(cv2.GaussianBlur(noise, (0, 0), 2.0), None, 0, 255, cv2.NORM_MINMAX)
    rgb = np.repeat(tex.astype(np.uint8)[..., None], 3, axis=-1)
    ref, tgt = rgb[8 : 8 + size, 8 : 8 + size], rgb[5 : 5 + size, 10 : 10 + size]
    return np.repeat(ref[None], n, axis=0), np.repeat(tgt[None], n, axis=0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=256, help="frame side (px)")
    p.add_argument(
        "--backends",
        nargs="+",
        default=["dis", "raft_small", "raft_large"],
        choices=["dis", *RAFT_MODELS],
    )
    p.add_argument(
        "--pairs", type=int, default=None, help="timed pairs (default: 200 for DIS, 8 for RAFT)"
    )
    p.add_argument("--iterations", type=int, default=12, help="RAFT refinement iterations")
    p.add_argument("--device", default=None, help="RAFT device (default: cuda if present)")
    p.add_argument("--dis-finest-scale", type=int, default=0, help="DIS finest pyramid level")
    p.add_argument("--dis-refinement", type=int, default=0, help="DIS variational iterations")
    args = p.parse_args()
    device = torch.device(args.device) if args.device else default_device()
    for backend in args.backends:
        fn: FlowFn
        if backend == "dis":
            fn, dev, n = (
                DisFlow(args.dis_finest_scale, args.dis_refinement),
                "cpu",
                args.pairs or 200,
            )
        else:
            fn = RaftFlow(RAFT_MODELS[backend][0](weights=None), args.iterations, device)
            dev, n = device.type, args.pairs or 8
        ref, tgt = pairs(n, args.size)
        fn(ref[:RAFT_BATCH], tgt[:RAFT_BATCH])  # warm-up
        t0 = time.perf_counter()
        fn(ref, tgt)
        dt = time.perf_counter() - t0
        print(
            json.dumps(
                {
                    "bench": "flow",
                    "backend": backend,
                    **(
                        {"dis": [args.dis_finest_scale, args.dis_refinement]}
                        if backend == "dis"
                        else {}
                    ),
                    "device": dev,
                    "size": [args.size, args.size],
                    "pairs": n,
                    "pairs_per_s": round(n / dt, 2),
                    "ms_per_pair": round(1e3 * dt / n, 2),
                    "torch_threads": torch.get_num_threads(),
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
