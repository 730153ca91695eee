"""The ``depth`` stage: per-frame pseudo-depth of a decoded video (paper section 3.2).

``asmp stage depth DECODE.h5 --config CFG --out DEPTH.h5`` writes ``pseudo_depth``
``[T,H,W]`` float16, ``P = log(Z) - median(log Z)`` over the video
(:mod:`asmp.geometry`), from one of two backends (config ``depth.backend``):

* a MiDaS model (:mod:`asmp.preprocess.midas`): relative inverse depth per frame,
  converted with :func:`~asmp.geometry.pseudo_depth_from_inverse`;
* ``gt``: the metric depth that ``asmp synth`` stores beside each clip
  (:func:`gt_path_for`), converted with :func:`~asmp.geometry.pseudo_depth_from_depth`.

float16 keeps 11 significant bits: a stored value is within ``2**-11 * |P|`` of ``P`` (3e-8
near 0), at most 0.00195 for ``|P| < 8``, i.e. a 0.2% error in depth ratio, far below the
error of monocular depth.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from asmp.config import Config
from asmp.errors import AsmpError
from asmp.geometry import pseudo_depth_from_depth, pseudo_depth_from_inverse
from asmp.io.hdf5 import json_attr, open_h5
from asmp.preprocess.common import add_stage_arguments, read_stage, stage_config, stage_file
from asmp.weights import fetch_weights

if TYPE_CHECKING:  # timm takes seconds to import; the gt backend never needs it
    from asmp.preprocess.midas import MiDaS


class DepthEstimator:
    """Batched MiDaS inference on RGB frames, with autocast on CUDA.

    Args:
        net: a MiDaS network (see :func:`~asmp.preprocess.midas.load_midas`).
        batch_size: frames per forward pass.
        device: torch device; default CUDA when available, else CPU.
        progress: show a progress bar over batches.
    """

    def __init__(
        self,
        net: MiDaS,
        batch_size: int = 8,
        device: str | torch.device | None = None,
        progress: bool = True,
    ) -> None:
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.net = net.to(self.device).eval()
        self.batch_size = batch_size
        self.progress = progress

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        """``[T,H,W,3]`` uint8 RGB -> ``[T,H,W]`` float32 relative inverse depth.

        Larger is closer; the scale and shift are unknown (MiDaS output resized back to
        ``H x W`` with bicubic interpolation, which may undershoot slightly below 0).
        """
        starts = range(0, len(frames), self.batch_size)
        bar = tqdm(
            starts, desc=f"depth {self.net.model_type}", unit="batch", disable=not self.progress
        )
        batches = [self._infer(frames[s : s + self.batch_size]) for s in bar]
        return np.concatenate(batches) if batches else np.empty(frames.shape[:3], np.float32)

    @torch.inference_mode()
    def _infer(self, frames: np.ndarray) -> np.ndarray:
        from asmp.preprocess.midas import preprocess

        x = preprocess(frames, self.net.model_type).to(self.device)
        with torch.autocast(self.device.type, enabled=self.device.type == "cuda"):
            pred = self.net(x)
        pred = F.interpolate(
            pred.float()[:, None], size=frames.shape[1:3], mode="bicubic", align_corners=False
        )
        return pred[:, 0].cpu().numpy()


def gt_path_for(video_path: str | Path) -> Path:
    """Ground-truth file of a synthetic clip: ``DIR/videos/ID.mp4`` -> ``DIR/gt/ID.h5``.

    Raises:
        AsmpError: naming the expected file when it does not exist.
    """
    video_path = Path(video_path)
    path = video_path.parent.parent / "gt" / f"{video_path.stem}.h5"
    if not path.is_file():
        raise AsmpError(
            f"no ground truth for video {video_path.name} (the gt depth backend "
            "needs a dataset made by 'asmp synth')",
            path,
        )
    return path


def read_gt_depth(path: str | Path, shape: tuple[int, ...]) -> np.ndarray:
    """The ``depth`` ``[T,H,W]`` (metres) of a gt file, checked against the frames' ``shape``."""
    with open_h5(path) as f:
        if "depth" not in f:
            raise AsmpError("no 'depth' dataset in the ground-truth file", path)
        z = f["depth"][()]
    if z.shape != tuple(shape):
        raise AsmpError(
            f"depth is {z.shape} (T,H,W) but the decoded frames are {tuple(shape)}", path
        )
    return z


def _check_values(ok: np.ndarray, problem: str, what: str, source: Path) -> None:
    """Raise an :class:`AsmpError` naming ``source`` unless ``ok`` is all True."""
    bad = ok.size - int(np.count_nonzero(ok))
    if bad:
        raise AsmpError(f"{bad} of {ok.size} values of the {what} are {problem}", source)


def depth(decode_path: str | Path, cfg: Config, out: str | Path, progress: bool = True) -> Path:
    """Write the depth stage file ``out`` for the decode stage file ``decode_path``.

    Raises:
        AsmpError: for a missing weight or gt file, mismatched gt, or a depth with NaN,
            infinite or non-positive values (naming the gt or weight file); ``out`` is
            then not written.
    """
    backend = cfg["depth"]["backend"]
    with read_stage(decode_path, "decode") as f:
        frames = f["frames"][()]
        video = json_attr(f, "source")
    if len(frames) == 0:
        raise AsmpError("the decode file holds no frames", decode_path)
    if backend == "gt":
        if video is None:
            raise AsmpError("no 'source' attribute: cannot locate the ground truth", decode_path)
        source = gt_path_for(video)
        raw, to_pseudo = read_gt_depth(source, frames.shape[:3]), pseudo_depth_from_depth
        sha256 = None
    else:
        from asmp.preprocess.midas import load_midas, spec_for

        weights = fetch_weights(cfg["depth"]["weights"], spec_for(backend).url)
        estimator = DepthEstimator(
            load_midas(backend, weights.path), cfg["depth"]["batch_size"], progress=progress
        )
        raw, to_pseudo = estimator(frames), pseudo_depth_from_inverse
        source, sha256 = weights.path, weights.sha256
    what = f"{backend} depth of {decode_path}"
    _check_values(np.isfinite(raw), "NaN or infinite", what, source)
    pseudo = to_pseudo(raw)
    _check_values(np.isfinite(pseudo), "non-positive", what, source)
    with stage_file(out, "depth", cfg, backend=backend, weights_sha256=sha256) as f:
        ds = f.create_dataset(
            "pseudo_depth", data=pseudo.astype(np.float16), chunks=(1, *pseudo.shape[1:])
        )
        ds.attrs["axes"] = "T,H,W"
        ds.attrs["unit"] = "natural log of depth minus its median over the video (dimensionless)"
        ds.attrs["doc"] = (
            f"pseudo-depth P = log Z - median(log Z) per pixel; exp(P) is "
            f"depth up to one scale per video; from {backend}"
        )
    return Path(out)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``asmp stage depth DECODE.h5 --config CFG --out DEPTH.h5``."""
    add_stage_arguments(parser, {"decode": "decode stage file"})


def run(args: argparse.Namespace) -> int:
    """Run the stage from parsed arguments; 0 on success."""
    depth(args.decode, stage_config(args), args.out)
    return 0
