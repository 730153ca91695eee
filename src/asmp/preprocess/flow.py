"""Stage ``flow``: dense optical flow across each window (paper section 3.2, RAFT).

For window ``w`` (frames ``[w*L, (w+1)*L)``, see :func:`~asmp.preprocess.common.window_starts`)
the flow runs from the window's reference frame ``w*L`` to its last frame ``w*L + L - 1``:
``flow[w, y, x] = (dx, dy)`` says the reference pixel ``(x, y)`` is at ``(x + dx, y + dy)``
in the last frame, in pixels at the frame resolution (docs/flow.md).

Backends: torchvision's RAFT (``raft_large``, ``raft_small``; CUDA with float16 autocast when
present) and OpenCV's DIS (preset medium, on grey frames; no weights).
"""

from __future__ import annotations

import argparse
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torchvision.models import optical_flow
from tqdm import tqdm

from asmp.config import Config
from asmp.errors import AsmpError
from asmp.preprocess.common import (
    add_stage_arguments,
    read_frames,
    read_stage,
    stage_config,
    stage_file,
    window_starts,
)
from asmp.weights import fetch_weights, load_state_dict

#: ``[N,H,W,3]`` uint8 RGB reference frames, ``[N,H,W,3]`` targets -> ``[N,H,W,2]`` float32.
FlowFn = Callable[[np.ndarray, np.ndarray], np.ndarray]

#: torchvision builders and official weights of the RAFT backends.
RAFT_MODELS = {
    "raft_large": (optical_flow.raft_large, optical_flow.Raft_Large_Weights.DEFAULT),
    "raft_small": (optical_flow.raft_small, optical_flow.Raft_Small_Weights.DEFAULT),
}
#: Frame pairs per RAFT forward pass (candidate config key ``flow.batch_size``).
RAFT_BATCH = 4
#: torchvision's RAFT needs both padded sides >= 128 (16 cells at 1/8 resolution).
RAFT_MIN_SIZE = 128
#: Stored flow precision: float16 rounds by at most |flow| * 2**-11 (< 0.125 px below 512 px).
FLOW_DTYPE = np.float16


class DisFlow:
    """OpenCV DIS optical flow on grey frames: the medium preset, refined down to pyramid
    level ``finest_scale`` (0 = full resolution; the preset stops at 1, half resolution,
    which loses small objects) with ``refinement_iterations`` of variational refinement
    (the preset's 5 smooth small fast objects away; 0 keeps them)."""

    def __init__(self, finest_scale: int = 0, refinement_iterations: int = 0) -> None:
        self.finest_scale, self.refinement_iterations = finest_scale, refinement_iterations
        self._local = threading.local()
        self._workers = max(1, min(os.cpu_count() or 1, 8))

    def _dis(self) -> cv2.DISOpticalFlow:
        """This thread's DIS instance (an instance keeps state and is not thread-safe)."""
        if not hasattr(self._local, "dis"):
            dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
            dis.setFinestScale(self.finest_scale)
            dis.setVariationalRefinementIterations(self.refinement_iterations)
            self._local.dis = dis
        return self._local.dis

    def _pair(self, ref: np.ndarray, tgt: np.ndarray) -> np.ndarray:
        grey = [cv2.cvtColor(im, cv2.COLOR_RGB2GRAY) for im in (ref, tgt)]
        return self._dis().calc(grey[0], grey[1], None)

    def __call__(self, ref: np.ndarray, tgt: np.ndarray) -> np.ndarray:
        """``[N,H,W,3]`` uint8 RGB pairs -> ``[N,H,W,2]`` float32 flow ``ref -> tgt`` (px).

        Pairs run in parallel threads, one per core (OpenCV releases the GIL)."""
        with ThreadPoolExecutor(min(self._workers, len(ref))) as pool:
            return np.stack(list(pool.map(self._pair, ref, tgt)))


class RaftFlow:
    """A torchvision RAFT model run on frame pairs, padded as RAFT needs, in batches."""

    def __init__(
        self,
        model: torch.nn.Module,
        iterations: int,
        device: torch.device,
        batch_size: int = RAFT_BATCH,
    ) -> None:
        self.model = model.eval().to(device)
        self.iterations = iterations
        self.device = device
        self.batch_size = batch_size

    def _tensor(self, frames: np.ndarray, height: int, width: int) -> torch.Tensor:
        """``[N,h,w,3]`` uint8 -> ``[N,3,height,width]`` in [-1, 1], edge-padded bottom/right."""
        x = torch.from_numpy(np.ascontiguousarray(frames)).to(self.device)
        x = x.permute(0, 3, 1, 2).float() / 127.5 - 1.0
        h, w = x.shape[-2:]
        return F.pad(x, (0, width - w, 0, height - h), mode="replicate")

    @torch.inference_mode()
    def __call__(self, ref: np.ndarray, tgt: np.ndarray) -> np.ndarray:
        """``[N,H,W,3]`` uint8 RGB pairs -> ``[N,H,W,2]`` float32 flow ``ref -> tgt`` (px)."""
        n, h, w = ref.shape[:3]
        ph, pw = (max(-(-s // 8) * 8, RAFT_MIN_SIZE) for s in (h, w))
        out = np.empty((n, h, w, 2), dtype=np.float32)
        cuda = self.device.type == "cuda"
        for i in range(0, n, self.batch_size):
            a, b = (self._tensor(x[i : i + self.batch_size], ph, pw) for x in (ref, tgt))
            with torch.autocast(self.device.type, dtype=torch.float16, enabled=cuda):
                flow = self.model(a, b, num_flow_updates=self.iterations)[-1]
            out[i : i + len(a)] = flow[:, :, :h, :w].float().permute(0, 2, 3, 1).cpu().numpy()
        return out


def load_raft(backend: str, weights: str | Path | None) -> tuple[torch.nn.Module, str]:
    """A torchvision RAFT model with its weights loaded strictly, and the weights' SHA-256.

    Args:
        backend: ``raft_large`` or ``raft_small``.
        weights: a torchvision state-dict file; ``None`` uses torchvision's official file
            (downloaded once into the torch hub cache, :func:`asmp.weights.fetch_weights`).
    """
    build, official = RAFT_MODELS[backend]
    file = fetch_weights(weights, official.url)
    state = load_state_dict(file.path)
    model = build(weights=None)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError:
        expected = set(model.state_dict())
        missing, unexpected = len(expected - set(state)), len(set(state) - expected)
        raise AsmpError(
            f"not a {backend} state dict ({missing} missing, {unexpected} unexpected keys)",
            file.path,
        ) from None
    return model, file.sha256


def default_device() -> torch.device:
    """CUDA when present, else CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def make_flow(cfg: Config, device: torch.device | None = None) -> tuple[FlowFn, str | None]:
    """The configured flow estimator (config section ``flow``) and its weights' SHA-256."""
    fc = cfg["flow"]
    if fc["backend"] == "dis":
        return DisFlow(fc["dis_finest_scale"], fc["dis_refinement_iterations"]), None
    model, sha = load_raft(fc["backend"], fc["weights"])
    return RaftFlow(model, fc["raft_iterations"], device or default_device()), sha


def compose(steps: np.ndarray) -> np.ndarray:
    """Chain consecutive flows ``[n,H,W,2]`` (frame t -> t+1) into one ``[H,W,2]`` flow from
    the first frame to the last: each pixel follows its track, the next step's flow sampled
    bilinearly where the track has arrived (edge values outside the frame)."""
    h, w = steps.shape[1:3]
    grid = np.stack(np.meshgrid(np.arange(w), np.arange(h)), axis=-1).astype(np.float32)
    total = steps[0].astype(np.float32)
    for step in steps[1:]:
        where = grid + total
        total = total + cv2.remap(
            step.astype(np.float32), where[..., 0], where[..., 1], cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
        )  # fmt: skip
    return total


def flow(
    decode: str | Path, cfg: Config, out: str | Path, device: torch.device | None = None
) -> Path:
    """Write the flow stage file for one decoded video (see module docstring)."""
    L = cfg["video"]["window_frames"]
    with read_stage(decode, "decode") as src:
        frames = read_frames(src, decode)
        n, h, w = frames.shape[:3]
        starts = window_starts(n, L, decode)
        pairs = np.stack([starts, starts + L - 1], axis=1)
        flow_fn, sha = make_flow(cfg, device)
        with stage_file(
            out, "flow", cfg, backend=cfg["flow"]["backend"], weights_sha256=sha, window_frames=L
        ) as dst:
            dst["pairs"] = pairs
            flow_ds = dst.create_dataset(
                "flow", (len(pairs), h, w, 2), dtype=FLOW_DTYPE, chunks=(1, h, w, 2)
            )
            flow_ds.attrs["unit"] = "px"
            flow_ds.attrs["doc"] = "flow (x, y) from each window's reference frame to its last"
            flow_ds.attrs["chained"] = cfg["flow"]["chain"]
            with tqdm(total=len(pairs), desc="flow", unit="window", disable=None) as bar:
                if cfg["flow"]["chain"]:
                    for i, (ref, last) in enumerate(pairs):
                        clip = frames[ref : last + 1]
                        flow_ds[i] = compose(flow_fn(clip[:-1], clip[1:]))
                        bar.update()
                else:
                    for i in range(0, len(pairs), RAFT_BATCH):
                        batch = pairs[i : i + RAFT_BATCH]
                        ref, last = frames[batch[:, 0]], frames[batch[:, 1]]
                        flow_ds[i : i + len(batch)] = flow_fn(ref, last)
                        bar.update(len(batch))
    return Path(out)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """``asmp stage flow DECODE --config CFG --out OUT [--device DEV]``."""
    add_stage_arguments(p, {"decode": "decode stage file (frames)"})
    p.add_argument(
        "--device",
        default=None,
        help="torch device for RAFT (default: cuda when present, else cpu)",
    )


def run(args: argparse.Namespace) -> int:
    """Run the stage from parsed arguments."""
    device = torch.device(args.device) if args.device else None
    flow(args.decode, stage_config(args), args.out, device)
    return 0
