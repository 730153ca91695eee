"""Throughput of the detect stage's torchvision backend (docs/detect.md).

Times :func:`asmp.preprocess.detect.run_detector` end to end (torchvision's resize to the
800-px network input, backbone, RPN, box head, NMS, re-pooling of the final boxes, the
background crop and its feature) on random frames, with randomly initialised weights:
nothing is downloaded. By default the classifier bias of one class is raised so that
every frame yields the maximum 100 detections (the slowest case); ``--plain`` keeps the
random weights, which detect next to nothing above 0.4. Prints one JSON line.

    uv run python benchmarks/bench_detect.py --frames 8 --size 256x256 [--device cuda]
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np
import torch

from asmp.preprocess.detect import (
    BATCH_SIZE,
    NETWORK_SIZE,
    TorchvisionDetector,
    build_torchvision,
    crop_rng,
    run_detector,
)


def frame_size(text: str) -> tuple[int, int]:
    """``HxW`` -> ``(H, W)``."""
    h, w = text.lower().split("x")
    return int(h), int(w)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--frames", type=int, default=8, help="frames timed (after one warm-up batch)")
    p.add_argument("--size", type=frame_size, default=(256, 256), help="frame size HxW")
    p.add_argument("--batch-size", type=int, default=BATCH_SIZE)
    p.add_argument("--threshold", type=float, default=0.4, help="detection score threshold")
    p.add_argument("--plain", action="store_true", help="untouched random weights")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = p.parse_args()

    torch.manual_seed(0)
    model = build_torchvision()
    if not args.plain:
        with torch.no_grad():
            model.roi_heads.box_predictor.cls_score.bias[1] = 8.0
    detector = TorchvisionDetector(model, args.threshold, args.device)
    frames = np.random.default_rng(0).integers(0, 256, (args.frames, *args.size, 3), np.uint8)
    rngs = [crop_rng(0, "bench", w) for w in range(args.frames)]

    run_detector(
        detector, frames[: args.batch_size], rngs, batch_size=args.batch_size, progress=False
    )
    t0 = time.perf_counter()
    out = run_detector(detector, frames, rngs, batch_size=args.batch_size, progress=False)
    seconds = time.perf_counter() - t0  # results come back as NumPy: the device has finished
    found = sum(len(d) for d in out.detections)
    cuda = detector.device.type == "cuda"
    if cuda:
        device = torch.cuda.get_device_name(detector.device)
    else:
        device = f"cpu {platform.machine()}, {torch.get_num_threads()} threads"
    print(
        json.dumps(
            {
                "backend": "torchvision fasterrcnn_resnet50_fpn_v2",
                "device": device,
                "autocast": cuda,
                "weights": "random" if args.plain else "random, confident classifier",
                "frames": args.frames,
                "frame_size": list(args.size),
                "network_size": list(NETWORK_SIZE),
                "batch_size": args.batch_size,
                "detections_per_frame": round(found / args.frames, 1),
                "seconds": round(seconds, 3),
                "frames_per_s": round(args.frames / seconds, 3),
                "torch": torch.__version__,
            }
        )
    )


if __name__ == "__main__":
    main()
