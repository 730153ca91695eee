"""``asmp train``: train ASMP (or an ablation preset) on a dataset's shards."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from asmp.train.trainer import PRESETS


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, required=True, help="dataset config YAML")
    p.add_argument(
        "--shards", type=Path, required=True, help="shard manifest CSV (asmp shard --manifest)"
    )
    p.add_argument(
        "--out", type=Path, required=True, help="run directory: best.pt, last.pt, log.csv"
    )
    p.add_argument("--preset", choices=list(PRESETS), help="ablation preset (default train.preset)")
    p.add_argument("--steps", type=int, help="total steps (default train.steps)")
    p.add_argument(
        "--resume", action="store_true", help="continue exactly where OUT/last.pt stopped"
    )
    p.add_argument("--device", help="torch device (default: the GPU of this rank, else CPU)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from asmp.config import load_config
    from asmp.train.trainer import train

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    best = train(
        load_config(args.config),
        args.shards,
        args.out,
        preset=args.preset,
        steps=args.steps,
        resume=args.resume,
        device=args.device,
        progress=not args.quiet,
    )
    print(best)
    return 0
