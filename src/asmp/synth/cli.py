"""``asmp synth``: generate the synthetic audio-visual dataset (docs/synth.md)."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from asmp.errors import AsmpError
from asmp.synth.dataset import generate
from asmp.synth.options import CAMERA_MOTIONS


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--out", required=True, type=Path, help="dataset directory to create (new or empty)"
    )
    p.add_argument("--clips", required=True, type=int, help="number of clips")
    p.add_argument("--seed", type=int, default=0, help="dataset seed (default 0)")
    p.add_argument("--duration", type=float, default=6.0, help="clip length in seconds (default 6)")
    p.add_argument("--fps", type=float, help="frame rate (default: the config's video.fps)")
    p.add_argument("--size", help="frame size HxW (default 256x256)")
    p.add_argument("--height", type=int, help="frame height (overrides --size)")
    p.add_argument("--width", type=int, help="frame width (overrides --size)")
    p.add_argument(
        "--classes",
        nargs="+",
        metavar="CLASS",
        help="sound classes to draw from, space- or comma-separated (default: all)",
    )
    p.add_argument(
        "--camera",
        default="random",
        help=f"camera motion: {', '.join(CAMERA_MOTIONS)} "
        "or random (one of them per clip; default)",
    )
    p.add_argument(
        "--sources", type=int, help="sounding objects per clip, 1 or 2 (default: random)"
    )
    p.add_argument(
        "--config", type=Path, help="dataset config YAML (default: the built-in synth config)"
    )
    p.add_argument("--workers", type=int, default=1, help="clips made in parallel (default 1)")


def _size(text: str | None) -> tuple[int | None, int | None]:
    if text is None:
        return None, None
    match = re.fullmatch(r"(\d+)[xX](\d+)", text.strip())
    if not match:
        raise AsmpError(f"--size must look like 256x256 (height x width), got {text!r}")
    return int(match[1]), int(match[2])


def run(args: argparse.Namespace) -> int:
    height, width = _size(args.size)
    height = height if args.height is None else args.height
    width = width if args.width is None else args.width
    classes = (
        None if args.classes is None else [c for word in args.classes for c in word.split(",") if c]
    )
    out = generate(
        args.out,
        args.clips,
        args.seed,
        config=args.config,
        workers=args.workers,
        progress=True,
        duration=args.duration,
        fps=args.fps,
        height=height,
        width=width,
        classes=classes,
        camera=args.camera,
        sources=args.sources,
    )
    print(f"{out}: {args.clips} clip{'s' * (args.clips != 1)}")
    return 0
