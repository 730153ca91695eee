"""Shard write/read throughput and size per compression filter (docs/shards.md).

Writes ASIW-sized records (10-s audio at 11025 Hz, 2 auditory objects with 20 context
nodes each plus background, 2048-d features, 10 windows) with each filter and prints one
JSON line per filter.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from asmp.io.shards import read_shard, write_shard
from asmp.testing import random_record, shard_attrs


def realistic_records(n: int, feature_dim: int, seed: int = 0) -> list:
    rng = np.random.default_rng(seed)
    t = np.arange(110250) / 11025
    records = []
    for i in range(n):
        rec = random_record(
            rng, f"v{i:05d}", n_objects=2, n_context=20, n_windows=10, feature_dim=feature_dim
        )
        # Audio-like waveform (tones + noise) and post-ReLU-like sparse features.
        tones = sum(np.sin(2 * np.pi * f * t) for f in rng.uniform(100, 3000, 5)) / 10
        rec.waveform = (tones + 0.05 * rng.normal(size=t.size)).astype(np.float32)
        rec.node_feature = np.maximum(rng.normal(size=rec.node_feature.shape), 0).astype(np.float16)
        records.append(rec)
    return records


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--videos", type=int, default=64)
    p.add_argument("--feature-dim", type=int, default=2048)
    args = p.parse_args()
    records = realistic_records(args.videos, args.feature_dim)
    with tempfile.TemporaryDirectory() as tmp:
        for comp in ("none", "lzf", "gzip"):
            path = Path(tmp) / f"{comp}.h5"
            t0 = time.perf_counter()
            write_shard(path, records, shard_attrs(feature_dim=args.feature_dim), compression=comp)
            t1 = time.perf_counter()
            read_shard(path)
            t2 = time.perf_counter()
            raw_mb = sum(r.waveform.nbytes + r.node_feature.nbytes for r in records) / 1e6
            print(
                json.dumps(
                    {
                        "compression": comp,
                        "videos": args.videos,
                        "payload_MB": round(raw_mb, 1),
                        "file_MB": round(path.stat().st_size / 1e6, 1),
                        "write_MB_per_s": round(raw_mb / (t1 - t0), 1),
                        "read_MB_per_s": round(raw_mb / (t2 - t1), 1),
                        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
                    }
                )
            )


if __name__ == "__main__":
    main()
