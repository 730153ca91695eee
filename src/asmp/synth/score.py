"""``asmp synth-score``: how well the preprocessing recovered a synthetic dataset's truth.

Stage outputs are looked up as ``RESULTS/stages/{stage}/{clip_id}.h5`` (the layout the
workflow writes). Metrics (docs/synth.md#scoring):

- ``direction10_agreement``, ``direction28_agreement``: fraction of (sounding object,
  window) pairs whose estimated class equals the ground truth, over windows where the
  object is visible in the reference frame (a missing estimate counts as a miss);
- ``camera_rotation_error_deg``: median over non-reference frames of the angle between
  the estimated and true frame -> reference rotations;
- ``camera_translation_error``: the same for translations, in metres, after fitting the
  one unknown pseudo-depth scale per clip by least squares;
- ``depth_rank_correlation``: median over frames of the Spearman correlation between
  the depth stage's pseudo-depth and the true log-depth.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import h5py
import numpy as np
from scipy.stats import spearmanr

from asmp.errors import AsmpError
from asmp.io.hdf5 import open_h5
from asmp.preprocess.motion import DIRECTION_CLASSES

_DEPTH_SAMPLES = 4096  # pixels per frame for the rank correlation


def rotation_angle_deg(Ra: np.ndarray, Rb: np.ndarray) -> np.ndarray:
    """Angle (degrees) of ``Ra^T Rb`` for ``[...,3,3]`` rotations."""
    tr = np.einsum("...ji,...ji->...", Ra, Rb)
    return np.degrees(np.arccos(np.clip((tr - 1) / 2, -1.0, 1.0)))


def _true_relative(cam_T_world: np.ndarray, starts: np.ndarray, L: int) -> np.ndarray:
    """``[W,L,4,4]`` true transforms frame -> window reference camera."""
    idx = starts[:, None] + np.arange(L)
    return cam_T_world[starts][:, None] @ np.linalg.inv(cam_T_world[idx])


def _clip_scores(gt: h5py.File, results: Path, clip: str, rng: np.random.Generator) -> dict:
    out: dict[str, list] = {"agree10": [], "agree28": [], "rot": [], "trans": [], "rho": []}
    sounding = [k for k in sorted(gt["objects"], key=int) if gt[f"objects/{k}"].attrs["sounding"]]
    motion_path = results / "stages" / "motion" / f"{clip}.h5"
    if motion_path.exists():
        with open_h5(motion_path) as fm:
            for n in DIRECTION_CLASSES:
                est = fm[f"direction{n}"][()]  # [W, M]
                true = gt[f"direction{n}"][()]  # [K, W]
                for k in map(int, sounding):
                    seen = true[k] != n - 1
                    out[f"agree{n}"] += list(est[: true.shape[1], k][seen] == true[k][seen])
    rect_path = results / "stages" / "rectify" / f"{clip}.h5"
    if rect_path.exists():
        with open_h5(rect_path) as fr:
            est = fr["transforms"][()].astype(np.float64)
        W, L = est.shape[:2]
        true = _true_relative(gt["cam_T_world"][()], np.arange(W) * L, L)
        keep = np.ones((W, L), bool)
        keep[:, 0] = False
        out["rot"] += list(rotation_angle_deg(est[..., :3, :3], true[..., :3, :3])[keep])
        te, tt = est[..., :3, 3][keep], true[..., :3, 3][keep]
        scale = (te * tt).sum() / max((te * te).sum(), 1e-12)
        out["trans"] += list(np.linalg.norm(scale * te - tt, axis=-1))
    depth_path = results / "stages" / "depth" / f"{clip}.h5"
    if depth_path.exists():
        with open_h5(depth_path) as fd:
            est = fd["pseudo_depth"]
            for t in range(est.shape[0]):
                e, z = est[t].ravel(), gt["depth"][t].ravel()
                pick = rng.choice(e.size, min(_DEPTH_SAMPLES, e.size), replace=False)
                out["rho"].append(spearmanr(e[pick], np.log(z[pick])).statistic)
    return out


def score(synth_dir: str | Path, results: str | Path) -> dict[str, float | int]:
    """Scores of the preprocessing outputs under ``results`` against ``synth_dir``'s truth."""
    synth_dir, results = Path(synth_dir), Path(results)
    manifest = synth_dir / "manifest.csv"
    if not manifest.exists():
        raise AsmpError("not an asmp synth directory (no manifest.csv)", synth_dir)
    with open(manifest, newline="") as f:
        clips = [row["clip_id"] for row in csv.DictReader(f)]
    rng = np.random.default_rng(0)
    acc: dict[str, list] = {"agree10": [], "agree28": [], "rot": [], "trans": [], "rho": []}
    scored = 0
    for clip in clips:
        with open_h5(synth_dir / "gt" / f"{clip}.h5") as gt:
            part = _clip_scores(gt, results, clip, rng)
        scored += any(part.values())
        for key, values in part.items():
            acc[key] += values
    if not scored:
        raise AsmpError(
            "no stage outputs found for any clip (expected stages/<stage>/<clip>.h5)", results
        )

    def stat(values: list, fn) -> float | None:
        return float(fn(values)) if values else None

    return {
        "direction10_agreement": stat(acc["agree10"], np.mean),
        "direction28_agreement": stat(acc["agree28"], np.mean),
        "camera_rotation_error_deg": stat(acc["rot"], np.median),
        "camera_translation_error": stat(acc["trans"], np.median),
        "depth_rank_correlation": stat(acc["rho"], np.median),
        "object_windows": len(acc["agree10"]),
        "clips": scored,
    }


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--synth", required=True, type=Path, help="directory written by asmp synth")
    p.add_argument(
        "--results",
        required=True,
        type=Path,
        help="results directory holding stages/<stage>/<clip_id>.h5",
    )


def run(args: argparse.Namespace) -> int:
    print(json.dumps(score(args.synth, args.results)))
    return 0
