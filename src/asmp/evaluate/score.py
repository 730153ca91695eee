"""``asmp score``: BSS-Eval v3 of estimated against reference sources in WAV files.

Prints one JSON object ``{"sdr", "sir", "sar", "perm", "silent"}`` with one entry per
reference (a list per frame with ``--framewise``), encoded as
:meth:`asmp.evaluate.metrics.BssEval.to_json` says (docs/evaluation.md#metrics).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import soundfile as sf

from asmp.errors import AsmpError
from asmp.evaluate.metrics import bss_eval


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """A sound file as mono: ``([S] float64 samples, sample rate in Hz)``.

    Integer PCM is scaled to [-1, 1); several channels are averaged ((L+R)/2 for stereo).

    Raises:
        AsmpError: a missing or unreadable file, no samples, NaN or infinite samples.
    """
    path = Path(path)
    if not path.is_file():
        raise AsmpError("no such file", path)
    try:
        data, rate = sf.read(str(path), dtype="float64", always_2d=True)
    except (sf.SoundFileError, OSError) as exc:
        raise AsmpError(f"cannot read audio: {exc}", path) from exc
    if data.shape[0] == 0:
        raise AsmpError("no samples", path)
    if not np.isfinite(data).all():
        raise AsmpError("contains NaN or infinite samples", path)
    return data.mean(axis=1), rate


def read_sources(paths: list[Path]) -> tuple[np.ndarray, int]:
    """``([n, S] float64, sample rate in Hz)``: the files read by :func:`read_wav`, which
    must all have the first file's sample rate and length.

    Raises:
        AsmpError: as :func:`read_wav`; a sample rate or length that differs from the first
            file's, naming both files.
    """
    first, rate0 = paths[0], 0
    signals: list[np.ndarray] = []
    for path in paths:
        x, rate = read_wav(path)
        if not signals:
            rate0 = rate
        elif rate != rate0:
            raise AsmpError(f"sample rate {rate} Hz differs from {first}'s {rate0} Hz", path)
        elif x.size != signals[0].size:
            raise AsmpError(f"{x.size} samples differ from {first}'s {signals[0].size}", path)
        signals.append(x)
    return np.stack(signals), rate0


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--ref",
        nargs="+",
        required=True,
        type=Path,
        metavar="WAV",
        help="reference sources, one file each (stereo is scored as (L+R)/2)",
    )
    p.add_argument(
        "--est",
        nargs="+",
        required=True,
        type=Path,
        metavar="WAV",
        help="estimated sources, one per reference, in the same order unless --permutation "
        "(same sample rate and length; stereo is scored as (L+R)/2)",
    )
    p.add_argument(
        "--framewise",
        nargs=2,
        type=int,
        metavar=("WIN", "HOP"),
        help="score windows of WIN samples every HOP samples (mir_eval's "
        "bss_eval_sources_framewise): each list becomes [source][frame]",
    )
    p.add_argument(
        "--permutation",
        action="store_true",
        help="match estimates to references by the best mean SIR; perm[j] is the estimate "
        "scored against reference j",
    )
    p.add_argument(
        "--backend",
        choices=["fast", "mir_eval"],
        default="fast",
        help="fast: exact float64 solver (default); mir_eval: the reference implementation",
    )


def run(args: argparse.Namespace) -> int:
    if len(args.ref) != len(args.est):
        raise AsmpError(
            f"{len(args.ref)} --ref files but {len(args.est)} --est files (one estimate per "
            "reference)"
        )
    signals, _ = read_sources([*args.ref, *args.est])
    ref, est = signals[: len(args.ref)], signals[len(args.ref) :]
    window, hop = args.framewise or (None, None)
    result = bss_eval(
        ref, est, permutation=args.permutation, window=window, hop=hop, backend=args.backend
    )
    print(json.dumps(result.to_json(), allow_nan=False))
    return 0
