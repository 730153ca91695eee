"""What every per-video stage shares: its command-line contract, output file and windows.

A stage is a library function plus ``asmp stage NAME INPUT... --config CFG --out OUT.h5``.
Its output is an HDF5 file of kind ``stage/NAME`` written atomically, carrying the
resolved config, its hash, the backend and the weight file's SHA-256 (docs/stages.md).

The decode stage's file, read by every later stage, holds ``frames`` ``[T,H,W,3]`` uint8
RGB at ``video.fps`` and ``audio`` ``[S]`` float32 mono at ``audio.sample_rate``.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from asmp.config import Config, config_hash, load_config
from asmp.errors import AsmpError
from asmp.io.hdf5 import open_h5, write_h5


def add_stage_arguments(p: argparse.ArgumentParser, inputs: dict[str, str]) -> None:
    """Positional inputs (name -> help), plus ``--config`` and ``--out``."""
    for name, help_ in inputs.items():
        p.add_argument(name, type=Path, help=help_)
    p.add_argument("--config", required=True, type=Path, help="dataset config YAML")
    p.add_argument("--out", required=True, type=Path, help="output HDF5 file (written atomically)")


def stage_config(args: argparse.Namespace) -> Config:
    """The resolved config named by ``--config``."""
    return load_config(args.config)


@contextlib.contextmanager
def stage_file(
    out: str | Path,
    stage: str,
    cfg: Config,
    backend: str | None = None,
    weights_sha256: str | None = None,
    **attrs: Any,
) -> Iterator[h5py.File]:
    """Open a stage output atomically with the common provenance attributes."""
    with write_h5(
        out,
        f"stage/{stage}",
        config=cfg,
        config_hash=config_hash(cfg),
        backend=backend,
        weights_sha256=weights_sha256,
        **attrs,
    ) as f:
        yield f


def read_stage(path: str | Path, stage: str) -> h5py.File:
    """Open a stage output, checking it is of kind ``stage/<stage>``."""
    f = open_h5(path)
    kind = f.attrs.get("kind")
    if kind != f"stage/{stage}":
        f.close()
        raise AsmpError(f"expected a '{stage}' stage file, found kind {kind!r}", path)
    return f


def window_starts(n_frames: int, window_frames: int, path: str | Path | None = None) -> np.ndarray:
    """Start frames of the complete windows of a video (``[W]`` int).

    Window ``w`` covers frames ``[w*L, (w+1)*L)``; its first frame is the reference frame;
    a trailing partial window is dropped.

    Raises:
        AsmpError: naming ``path`` when the video has no complete window.
    """
    if n_frames < window_frames:
        raise AsmpError(
            f"video has {n_frames} frames, shorter than one window of {window_frames}", path
        )
    return np.arange(n_frames // window_frames, dtype=np.int64) * window_frames


def read_frames(f: h5py.File, path: str | Path) -> h5py.Dataset:
    """The decode stage's ``frames`` ``[T,H,W,3]`` uint8, checked."""
    frames = f.get("frames")
    if (
        not isinstance(frames, h5py.Dataset)
        or frames.ndim != 4
        or frames.shape[3] != 3
        or frames.dtype != np.uint8
    ):
        raise AsmpError("no 'frames' dataset of shape [T,H,W,3] uint8", path)
    return frames


def read_boxes(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame object boxes from a boxes file or a synthetic ground-truth file.

    A boxes file holds ``boxes`` ``[T,M,4]`` (x1, y1, x2, y2 pixels) and ``valid``
    ``[T,M]``; a ``synth/gt`` file holds them per object (``objects/{k}/box``, ``visible``).

    Returns:
        ``(boxes [T,M,4] float64, valid [T,M] bool)``; M is the number of object tracks.
    """
    with open_h5(path) as f:
        if f.attrs.get("kind") == "synth/gt":
            keys = sorted(f["objects"], key=int)
            boxes = np.stack([f[f"objects/{k}/box"][()] for k in keys], axis=1)
            valid = np.stack([f[f"objects/{k}/visible"][()] for k in keys], axis=1)
        elif "boxes" in f and "valid" in f:
            boxes, valid = f["boxes"][()], f["valid"][()]
        else:
            raise AsmpError(
                "no boxes: expected datasets 'boxes' and 'valid' or a synth/gt file", path
            )
    return boxes.astype(np.float64), valid.astype(bool)
