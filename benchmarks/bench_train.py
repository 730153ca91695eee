"""Training throughput of ASMP: samples per second, one sample = one two-video mixture
with all its slots (3 per video: two objects and the background), forward and backward
with the four losses, Adam step included, on random batches at the paper's data sizes
(2048-d features, 43 nodes per graph, 512x256 STFT crops, 6 windows).

Prints one JSON line per model size with samples/s (median over the timed steps after
two warm-up steps) and, on a GPU, the peak memory.

    uv run python benchmarks/bench_train.py [--size small paper] [--batch 25] [--device cuda]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from asmp.config import load_config
from asmp.testing import random_batch
from asmp.train.trainer import _autocast_dtype, apply_preset, build_forward

SHARDS_ATTRS = {"sample_rate": 11025, "hop_length": 256, "crop_samples": 65535}


def bench(size: str, batch_size: int, device: torch.device, steps: int, precision: str) -> dict:
    cfg = apply_preset(load_config("workflow/config/asiw.yaml", {"model": {"size": size}}))
    torch.manual_seed(0)
    fwd = build_forward(cfg, 2048, SHARDS_ATTRS).to(device)
    opt = torch.optim.Adam(fwd.parameters(), lr=1e-4)
    batch = random_batch(batch_size).to(device)
    amp = _autocast_dtype(precision, device)
    times = []
    for k in range(steps + 2):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        with torch.autocast(device.type, dtype=amp or torch.float32, enabled=amp is not None):
            loss = fwd.losses.weights.total(fwd(batch).terms)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if k >= 2:  # warm-up
            times.append(time.perf_counter() - t)
    out = {
        "size": size,
        "device": str(device),
        "precision": str(amp or "fp32"),
        "batch": batch_size,
        "samples_per_s": batch_size / statistics.median(times),
        "parameters": sum(p.numel() for p in fwd.parameters()),
    }
    if device.type == "cuda":
        out["peak_gib"] = torch.cuda.max_memory_allocated() / 2**30
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", nargs="+", default=["small", "paper"])
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--precision", default="auto")
    args = p.parse_args()
    for size in args.size:
        print(
            json.dumps(
                bench(size, args.batch, torch.device(args.device), args.steps, args.precision)
            )
        )


if __name__ == "__main__":
    main()
