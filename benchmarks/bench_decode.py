"""Decode stage throughput: source frames decoded per second (PyAV, resampled to 8 fps).

Writes a textured H.264 test video (default 10 s at 25 fps, 256x256, with AAC audio), then
times ``asmp.preprocess.decode.decode`` on it and prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from asmp.config import load_config
from asmp.io.video import write_video
from asmp.preprocess.decode import decode

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--fps", type=float, default=25.0)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    rng = np.random.default_rng(0)
    n = round(args.seconds * args.fps)
    base = cv2.resize(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8), (2 * args.size,) * 2)
    frames = np.stack([np.roll(base, 3 * k, axis=1)[: args.size, : args.size] for k in range(n)])
    t = np.arange(round(args.seconds * 44100)) / 44100
    audio = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    cfg = load_config(REPO / "workflow" / "config" / "synth.yaml")
    with tempfile.TemporaryDirectory() as tmp:
        video = Path(tmp) / "v.mp4"
        write_video(video, frames, args.fps, audio, 44100)
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            decode(video, cfg, Path(tmp) / "d.h5", progress=False)
            times.append(time.perf_counter() - t0)
    best = min(times)
    print(
        json.dumps(
            {
                "bench": "decode",
                "source_frames": n,
                "size": args.size,
                "source_frames_per_s": round(n / best, 1),
                "seconds": round(best, 3),
                "machine": platform.machine(),
            }
        )
    )


if __name__ == "__main__":
    main()
