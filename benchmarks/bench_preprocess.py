"""The whole per-video preprocessing (``asmp preprocess``) of synthetic clips with the
classical and ground-truth backends (gt depth, gt boxes described by Faster R-CNN v2 at
256 px, DIS flow): seconds per clip, one JSON line per clip and a summary.

Faster R-CNN weights are randomly initialised (speed does not depend on them).
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import torch

from asmp.config import load_config
from asmp.preprocess import preprocess
from asmp.preprocess.detect import build_torchvision
from asmp.synth import generate

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clips", type=int, default=3)
    p.add_argument("--duration", type=float, default=6.0)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        weights = root / "frcnn.pth"
        torch.save(build_torchvision().state_dict(), weights)
        cfg = load_config(
            REPO / "workflow" / "config" / "synth.yaml", {"detect": {"weights": str(weights)}}
        )
        data = generate(root / "synth", clips=args.clips, seed=0, duration=args.duration)
        times = []
        for video in sorted((data / "videos").glob("*.mp4")):
            t0 = time.perf_counter()
            preprocess(video, cfg, root / "records" / f"{video.stem}.h5")
            times.append(time.perf_counter() - t0)
            print(json.dumps({"clip": video.stem, "seconds": round(times[-1], 2)}), flush=True)
    print(
        json.dumps(
            {
                "bench": "preprocess",
                "clips": len(times),
                "duration_s": args.duration,
                "size": "256x256",
                "mean_seconds_per_clip": round(sum(times) / len(times), 2),
                "max_seconds_per_clip": round(max(times), 2),
                "threads": torch.get_num_threads(),
                "machine": platform.machine(),
            }
        )
    )


if __name__ == "__main__":
    main()
