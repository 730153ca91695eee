"""Training data loader throughput: two-video mixtures per second built from shards.

Writes ASIW-sized shards: 10-s clips, 2 auditory objects with 20 context nodes each plus
the background, 2048-d features, 10 windows, and 5 cached crops of paper-size STFTs
(512 x 256 complex64). It then times `StepBatches` (what the trainer's DataLoader runs:
read the records, recompute the edge weights, label the windows, sum the crop STFTs into
the mixture) in this process and through `torch.utils.data.DataLoader` with 1..N worker
processes. Prints one JSON line per setting. The GPU trainer needs `samples_per_s` of the
model (bench_train.py) from the loader, so workers = model rate / per-worker rate.

    uv run python benchmarks/bench_loader.py [--videos 64] [--batch 25] [--workers 1 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from bench_shards import realistic_records

from asmp.config import load_config
from asmp.io.shards import write_manifest, write_shard
from asmp.testing import shard_attrs
from asmp.train.data import ShardSet, StepBatches
from asmp.train.trainer import make_sampler

#: The paper's audio sizes (docs/audio.md).
PAPER_STFT = {
    "n_fft": 1022,
    "hop_length": 256,
    "crop_samples": 65535,
    "stft_bins": 512,
    "stft_frames": 256,
}
CROPS = 5


def write_paper_shards(
    out: Path, videos: int, per_shard: int = 16, splits: list[str] | None = None
) -> Path:
    """ASIW-sized shards under ``out`` (video ``i`` in ``splits[i]``, default all train);
    returns the manifest path."""
    rng = np.random.default_rng(1)
    records = realistic_records(videos, 2048)
    shape = (CROPS, PAPER_STFT["stft_bins"], PAPER_STFT["stft_frames"])
    for i, rec in enumerate(records):
        rec.split = splits[i] if splits else "train"
        rec.crop_start = np.arange(CROPS, dtype=np.int64) * 11025
        rec.crop_stft = (rng.normal(size=shape) + 1j * rng.normal(size=shape)).astype(np.complex64)
    attrs = shard_attrs(feature_dim=2048, window_frames=8, **PAPER_STFT)
    paths = [
        write_shard(out / f"shard-{k:05d}.h5", records[i : i + per_shard], attrs)
        for k, i in enumerate(range(0, videos, per_shard))
    ]
    return write_manifest(paths, out / "manifest.csv")


def rate(dataset: StepBatches, steps: int, workers: int) -> float:
    """Mixtures per second over ``steps`` batches (after one warm-up batch per worker)."""
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=None,
        sampler=range(steps + max(workers, 1)),
        num_workers=workers,
        prefetch_factor=4 if workers else None,
    )
    it = iter(loader)
    for _ in range(max(workers, 1)):  # start-up: worker processes, first reads
        next(it)
    t = time.perf_counter()
    n = sum(1 for _ in it)
    return n * dataset.batch_size / (time.perf_counter() - t)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--videos", type=int, default=64)
    p.add_argument("--batch", type=int, default=25)
    p.add_argument("--steps", type=int, default=8, help="timed batches per setting")
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = p.parse_args()
    torch.set_num_threads(1)
    cfg = load_config("workflow/config/asiw.yaml")
    with tempfile.TemporaryDirectory() as tmp:
        manifest = write_paper_shards(Path(tmp), args.videos)
        sampler = make_sampler(cfg, ShardSet(manifest), "train")
        dataset = StepBatches(sampler, args.batch, seed=0)
        for workers in [0, *args.workers]:
            print(
                json.dumps(
                    {
                        "workers": workers,
                        "batch": args.batch,
                        "videos": args.videos,
                        "samples_per_s": round(rate(dataset, args.steps, workers), 1),
                        "cpus": os.cpu_count(),
                        "machine": platform.machine(),
                    }
                )
            )


if __name__ == "__main__":
    main()
