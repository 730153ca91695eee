"""Audio front end speed: the audio stage on 10-s clips, and the log-frequency warp.

Prints JSON lines: ``audio_stage`` (clips per second end to end, decode file in, stage file
out, and the output's size per clip), ``crop_stft`` (the STFTs alone), and ``warp`` /
``unwarp`` / ``grid_sample`` (spectrograms of 512x256 per second, batched; ``grid_sample``
is the released code's way of warping, for comparison).

    uv run python benchmarks/bench_audio.py [--clips 8] [--seconds 10] [--batch 64]
    uv run python benchmarks/bench_audio.py --device cuda   # warp on a GPU machine
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from asmp.config import load_config
from asmp.preprocess.audio import audio, crop_starts, crop_stft
from asmp.preprocess.common import stage_file
from asmp.spectrogram import unwarp, warp

REPO = Path(__file__).resolve().parents[1]


def emit(**fields: object) -> None:
    print(json.dumps({**fields, "torch_threads": torch.get_num_threads()}), flush=True)


def best_time(fn: Callable[[], object], repeats: int, sync: Callable[[], None]) -> float:
    """Fastest of ``repeats`` timed calls of ``fn`` (seconds), after one warm-up call."""
    fn()
    sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return min(times)


def bench_stage(n_clips: int, seconds: float) -> None:
    cfg = load_config(REPO / "workflow" / "config" / "synth.yaml")
    a = cfg["audio"]
    sr, crop, n_fft, hop = a["sample_rate"], a["crop_samples"], a["n_fft"], a["hop_length"]
    rng = np.random.default_rng(0)
    waves = rng.uniform(-0.8, 0.8, (n_clips, round(seconds * sr))).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        decodes = []
        for i, wave in enumerate(waves):
            decodes.append(Path(tmp) / f"decode{i}.h5")
            with stage_file(decodes[-1], "decode", cfg) as f:
                f["frames"] = np.zeros((round(seconds * 8), 8, 8, 3), np.uint8)
                f["audio"] = wave
                f.attrs["sample_rate"] = sr
        outs = [Path(tmp) / f"audio{i}.h5" for i in range(n_clips)]
        audio(decodes[0], cfg, outs[0])  # warm-up
        t0 = time.perf_counter()
        for d, o in zip(decodes, outs, strict=True):
            audio(d, cfg, o)
        dt = time.perf_counter() - t0
        size = np.mean([o.stat().st_size for o in outs])
    starts = crop_starts(waves.shape[1], sr, crop)
    emit(
        bench="audio_stage",
        clip_s=seconds,
        crops_per_clip=len(starts),
        clips=n_clips,
        clips_per_s=round(n_clips / dt, 2),
        ms_per_clip=round(1e3 * dt / n_clips, 1),
        mib_per_clip=round(size / 2**20, 3),
    )
    dt = best_time(lambda: crop_stft(waves[0], starts, crop, n_fft, hop), 5, lambda: None)
    emit(bench="crop_stft", crops=len(starts), ms_per_clip=round(1e3 * dt, 1))


def bench_warp(batch: int, device: torch.device, repeats: int) -> None:
    x = torch.rand(batch, 512, 256, device=device)
    warped = warp(x)
    y = torch.linspace(-1, 1, 256, device=device)
    gx = torch.linspace(-1, 1, 256, device=device)
    gy = (21 ** ((y + 1) / 2) - 11) / 10
    grid = torch.stack(torch.broadcast_tensors(gx[None, :], gy[:, None]), dim=-1)
    grid = grid.expand(batch, -1, -1, -1)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    cases = {
        "warp": lambda: warp(x),
        "unwarp": lambda: unwarp(warped, 512),
        "grid_sample": lambda: F.grid_sample(x[:, None], grid, align_corners=False),
    }
    for name, fn in cases.items():
        dt = best_time(fn, repeats, sync)
        emit(
            bench=name,
            device=device.type,
            batch=batch,
            spectrograms_per_s=round(batch / dt, 1),
            us_per_spectrogram=round(1e6 * dt / batch, 1),
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clips", type=int, default=8, help="timed clips for the stage")
    p.add_argument("--seconds", type=float, default=10.0, help="clip length (s)")
    p.add_argument("--batch", type=int, default=64, help="spectrograms per warp call")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--device", default="cpu", help="device for the warp timings")
    args = p.parse_args()
    device = torch.device(args.device)
    if device.type == "cpu":
        bench_stage(args.clips, args.seconds)
    bench_warp(args.batch, device, args.repeats)


if __name__ == "__main__":
    main()
