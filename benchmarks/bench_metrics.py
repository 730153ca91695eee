"""Separation metrics speed: BSS-Eval v3 of a test set with the fast path (docs/evaluation.md).

Scores ``--pairs`` clips of two sources (default: 322 clips of 10 s at 11025 Hz, the
evaluator's workload) with ``asmp.evaluate.metrics.bss_eval_batch``, and ``--mir-eval``
of them with mir_eval's ``bss_eval_sources`` one clip at a time; the mir_eval time for the
whole set is **extrapolated** from that subset. The sources are a harmonic tone with
vibrato and an amplitude-modulated noise; each estimate is its source plus filtered
leakage of the other and white noise. Prints one JSON line: wall and process CPU seconds
(all threads), and the largest difference between the two backends on the subset. The
target is < 20 s for the 322 clips on a 2-core CPU. On a machine shared with other jobs,
compare with ``OPENBLAS_NUM_THREADS=1`` (docs/evaluation.md#metrics, Speed).

    OPENBLAS_NUM_THREADS=1 uv run python benchmarks/bench_metrics.py [--pairs 322]
        [--seconds 10] [--mir-eval 2]
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
import scipy.signal

from asmp.evaluate.metrics import bss_eval, bss_eval_batch

RATE = 11025  # Hz


def clips(pairs: int, samples: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``reference, estimate``: float32 ``[pairs, 2, samples]``, peak about 1."""
    rng = np.random.default_rng(seed)
    t = np.arange(samples) / RATE
    ref = np.empty((pairs, 2, samples), np.float32)
    est = np.empty((pairs, 2, samples), np.float32)
    leak = scipy.signal.firwin(64, 0.3)
    for p in range(pairs):
        f0 = rng.uniform(110, 440)
        phase = 2 * np.pi * f0 * t + 3 * np.sin(2 * np.pi * rng.uniform(3, 6) * t)
        tone = sum(np.sin(h * phase) / h for h in range(1, 6))
        envelope = 0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(1, 4) * t) ** 2
        noise = envelope * scipy.signal.lfilter([1], [1, -0.9], rng.standard_normal(samples))
        r = np.stack([tone / np.abs(tone).max(), noise / np.abs(noise).max()])
        mixed = r + 0.3 * scipy.signal.lfilter(leak, [1], r[::-1], axis=-1)
        ref[p], est[p] = r, mixed + 0.02 * rng.standard_normal(r.shape)
    return ref, est


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pairs", type=int, default=322, help="clips of two sources")
    p.add_argument("--seconds", type=float, default=10.0, help="clip duration")
    p.add_argument("--mir-eval", type=int, default=2, help="clips also scored with mir_eval")
    args = p.parse_args()
    ref, est = clips(args.pairs, round(args.seconds * RATE))
    wall, cpu = time.perf_counter(), time.process_time()
    fast = bss_eval_batch(ref, est)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    out = {
        "bench": "metrics",
        "pairs": args.pairs,
        "sources": 2,
        "seconds_per_clip": args.seconds,
        "sample_rate": RATE,
        "fast_wall_s": round(wall, 2),
        "fast_cpu_s": round(cpu, 2),
        "cpus": os.cpu_count(),
        "openblas_threads": os.environ.get("OPENBLAS_NUM_THREADS", "default"),
        "mean_sdr_db": round(float(fast.sdr.mean()), 3),
    }
    if args.mir_eval:
        n = min(args.mir_eval, args.pairs)
        wall = time.perf_counter()
        slow = [bss_eval(ref[i], est[i], backend="mir_eval") for i in range(n)]
        wall = time.perf_counter() - wall
        diff = max(
            np.abs(getattr(s, f) - getattr(fast, f)[i]).max()
            for i, s in enumerate(slow)
            for f in ("sdr", "sir", "sar")
        )
        out |= {
            "mir_eval_pairs_timed": n,
            "mir_eval_wall_s_extrapolated": round(wall / n * args.pairs, 1),
            "max_abs_diff_db": float(f"{diff:.2e}"),
        }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
