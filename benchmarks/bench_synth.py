"""Synthetic-clip generation speed (docs/synth.md), single process on one core.

Generates ``--clips`` clips with ``asmp.synth.generate`` (default: 6-s 256x256 clips, every
camera motion) into a temporary directory with numerical libraries limited to one thread,
and prints one JSON line: clips per second of wall time and CPU seconds per clip.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # before numpy is imported: measure one core

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402

from asmp.synth import generate  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--clips", type=int, default=12)
    p.add_argument("--duration", type=float, default=6.0)
    p.add_argument("--size", type=int, default=256, help="frame height and width")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    cv2.setNumThreads(1)
    with tempfile.TemporaryDirectory() as tmp:
        wall, cpu = time.perf_counter(), time.process_time()
        root = generate(Path(tmp) / "synth", args.clips, args.seed, duration=args.duration,
                        height=args.size, width=args.size)  # fmt: skip
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        size = sum(f.stat().st_size for f in root.rglob("*") if f.is_file())
    print(
        json.dumps(
            {
                "clips": args.clips,
                "duration_s": args.duration,
                "size": f"{args.size}x{args.size}",
                "wall_s": round(wall, 2),
                "clips_per_s": round(args.clips / wall, 2),
                "cpu_s_per_clip": round(cpu / args.clips, 3),
                "MB_per_clip": round(size / args.clips / 1e6, 2),
                "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
                "cpus": os.cpu_count(),
            }
        )
    )


if __name__ == "__main__":
    main()
