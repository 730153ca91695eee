"""Throughput of the depth stage's MiDaS inference (docs/depth.md).

Times :class:`asmp.preprocess.depth.DepthEstimator` end to end (OpenCV resize and
normalisation, the network under autocast on CUDA, bicubic resize back to the frame size)
on random frames, with randomly initialised weights (speed does not depend on them, and
nothing is downloaded). Prints one JSON line.

    uv run python benchmarks/bench_depth.py --model dpt_hybrid_384 --frames 8 --size 256x256
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np
import torch

from asmp.preprocess.depth import DepthEstimator
from asmp.preprocess.midas import SPECS, MiDaS, network_size


def frame_size(text: str) -> tuple[int, int]:
    """``HxW`` -> ``(H, W)``."""
    h, w = text.lower().split("x")
    return int(h), int(w)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--model", choices=list(SPECS), default="midas_v21_small_256")
    p.add_argument("--frames", type=int, default=8, help="frames timed (after one warm-up batch)")
    p.add_argument("--size", type=frame_size, default=(256, 256), help="frame size HxW")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = p.parse_args()

    torch.manual_seed(0)
    estimator = DepthEstimator(MiDaS(args.model), args.batch_size, args.device, progress=False)
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (args.frames, *args.size, 3), dtype=np.uint8)
    estimator(frames[: args.batch_size])  # warm-up: allocator, kernels, cuDNN autotuning
    t0 = time.perf_counter()
    estimator(frames)  # returns NumPy, so the device has finished
    seconds = time.perf_counter() - t0
    cuda = estimator.device.type == "cuda"
    if cuda:
        device = torch.cuda.get_device_name(estimator.device)
    else:
        device = f"cpu {platform.machine()}, {torch.get_num_threads()} threads"
    print(
        json.dumps(
            {
                "model": args.model,
                "device": device,
                "autocast": cuda,
                "frames": args.frames,
                "frame_size": list(args.size),
                "network_input": list(network_size(*args.size, args.model)),
                "batch_size": args.batch_size,
                "seconds": round(seconds, 3),
                "frames_per_s": round(args.frames / seconds, 2),
                "torch": torch.__version__,
            }
        )
    )


if __name__ == "__main__":
    main()
