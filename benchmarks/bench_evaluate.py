"""The whole `asmp evaluate` with the paper-size model: seconds for N test pairs.

Writes ASIW-sized shards (bench_loader.py: 10-s clips, 5 cached crops of 512 x 256 STFTs,
2048-d features), trains the paper configuration for one step to get a real checkpoint,
then times `evaluate()` on `--pairs` fixed pairs of test videos: per pair, every crop
separated with all slots, the classifier and the direction network, overlap-add, the
mixture / IBM / IRM baselines, BSS-Eval of all four methods, and the report (figures
off). Prints one JSON line. The target (issue 8) is 322 pairs in under 2 minutes on an
H100-class GPU.

    uv run python benchmarks/bench_evaluate.py [--pairs 322] [--device cuda]
"""

from __future__ import annotations

import argparse
import csv
import json
import tempfile
import time
from pathlib import Path

import torch
from bench_loader import write_paper_shards

from asmp.config import load_config
from asmp.evaluate.protocol import evaluate
from asmp.train.trainer import train


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pairs", type=int, default=322)
    p.add_argument("--videos", type=int, default=64, help="test videos the pairs come from")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = p.parse_args()
    # The synthetic world's classes (those of the shards) with the paper's model and losses.
    overrides = {
        "model": {
            "size": "paper",
            "graph_norm": False,
            "feature_norm": "none",
            "condition": "normalized",
        },
        "loss": {"consistency": 0.05, "coseparation_target": "binary"},
        "train": {"batch_size": 2, "num_workers": 0, "validate_every": 10},
    }
    cfg = load_config("workflow/config/synth.yaml", overrides)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        splits = ["train"] * 8 + ["val"] * 4 + ["test"] * args.videos
        manifest = write_paper_shards(root / "shards", len(splits), splits=splits)
        ckpt = train(cfg, manifest, root / "run", steps=1, device=args.device, progress=False)
        # A fixed list of the wanted size from the test videos' disjoint-class pairs.
        rows = list(csv.DictReader(open(manifest, newline="")))
        test = [(r["video_id"], set(r["sound_classes"].split(";"))) for r in rows]
        test = [t for t, s in zip(test, splits, strict=True) if s == "test"]
        pairs = [
            (a, b) for i, (a, ca) in enumerate(test) for b, cb in test[i + 1 :] if not ca & cb
        ][: args.pairs]
        pairs_csv = root / "pairs.csv"
        with open(pairs_csv, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["video1", "video2"])
            w.writerows(pairs)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        t = time.perf_counter()
        evaluate(
            [ckpt],
            cfg,
            manifest,
            root / "evaluate",
            pairs_file=pairs_csv,
            device=args.device,
            figures=False,
            progress=False,
        )
        seconds = time.perf_counter() - t
    print(
        json.dumps(
            {
                "device": torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu",
                "pairs": len(pairs),
                "crops_per_pair": 5,
                "seconds": round(seconds, 1),
                "seconds_per_pair": round(seconds / len(pairs), 2),
                "extrapolated_322_s": round(322 * seconds / len(pairs), 1),
            }
        )
    )


if __name__ == "__main__":
    main()
