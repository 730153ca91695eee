"""Per-video preprocessing stages, one module per stage (paper sections 3.2-3.3), and
:func:`preprocess`, which runs them all for one video (``asmp preprocess``).

Stage modules import heavy libraries; this module imports them only when called.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import logging
import tempfile
from collections.abc import Sequence
from pathlib import Path

from asmp.config import Config, load_config

log = logging.getLogger(__name__)

#: The stages in the order they run.
STAGES = ("decode", "depth", "detect", "rectify", "flow", "motion", "graph", "audio")


def manifest_entry(video: str | Path) -> dict[str, str] | None:
    """The manifest row of ``video`` when it belongs to a dataset directory: ``manifest.csv``
    beside it or one level up (the layout of ``asmp synth``), else None."""
    video = Path(video).resolve()
    for manifest in (video.parent / "manifest.csv", video.parent.parent / "manifest.csv"):
        if manifest.is_file():
            with open(manifest, newline="") as f:
                for row in csv.DictReader(f):
                    if (manifest.parent / row.get("video", "")).resolve() == video:
                        return row
    return None


def preprocess(
    video: str | Path,
    cfg: Config,
    out: str | Path,
    classes: Sequence[str] | None = None,
    workdir: str | Path | None = None,
    split: str | None = None,
) -> Path:
    """Run every per-video stage on ``video`` and write its record to ``out``.

    The video's sound classes are ``classes``, else those of its manifest row (see
    :func:`manifest_entry`), else every sound class of the dataset (each detection whose
    class maps to some sound class is then an auditory candidate). Stage files go to
    ``workdir`` (kept) or a temporary directory (removed). With the ``gt`` detect backend
    the rectify stage masks the clip's true object boxes in every frame; otherwise the
    detections of the reference frames.
    """
    from asmp.preprocess.audio import audio
    from asmp.preprocess.decode import decode
    from asmp.preprocess.depth import depth, gt_path_for
    from asmp.preprocess.detect import detect
    from asmp.preprocess.flow import flow
    from asmp.preprocess.graph import graph
    from asmp.preprocess.motion import motion
    from asmp.preprocess.record import record
    from asmp.preprocess.rectify import rectify

    entry = manifest_entry(video)
    if classes is None and entry is not None:
        classes = [c for c in entry["classes"].split(";") if c]
    split = split or (entry["split"] if entry else "test")
    with contextlib.ExitStack() as stack:
        work = (
            Path(workdir) if workdir else Path(stack.enter_context(tempfile.TemporaryDirectory()))
        )
        work.mkdir(parents=True, exist_ok=True)
        p = {s: work / f"{s}.h5" for s in STAGES}
        decode(video, cfg, p["decode"])
        depth(p["decode"], cfg, p["depth"])
        detect(p["decode"], cfg, p["detect"])
        boxes = gt_path_for(video) if cfg["detect"]["backend"] == "gt" else p["detect"]
        rectify(p["decode"], p["depth"], cfg, p["rectify"], boxes=boxes)
        flow(p["decode"], cfg, p["flow"])
        motion(p["depth"], p["rectify"], p["flow"], p["detect"], cfg, p["motion"])
        graph(p["detect"], p["rectify"], p["motion"], cfg, p["graph"], classes)
        audio(p["decode"], cfg, p["audio"])
        return record(
            p["decode"], p["rectify"], p["graph"], p["audio"], cfg, out, split, Path(video).stem
        )


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("video", type=Path, help="input video file")
    p.add_argument("--config", required=True, type=Path, help="dataset config YAML")
    p.add_argument("--out", required=True, type=Path, help="output record (HDF5, atomic)")
    p.add_argument(
        "--classes",
        nargs="+",
        metavar="CLASS",
        help="the video's sound classes (default: its manifest row, else all)",
    )
    p.add_argument("--workdir", type=Path, help="keep the stage files here (default: discard)")
    p.add_argument(
        "--split",
        choices=["train", "val", "test"],
        help="the video's split (default: its manifest row, else test)",
    )


def run(args: argparse.Namespace) -> int:
    preprocess(
        args.video, load_config(args.config), args.out, args.classes, args.workdir, args.split
    )
    return 0
