"""The record stage: one video's stage outputs -> one validated video record, a shard with
a single video (docs/shards.md).

Windows come from the rectify stage (camera transforms, ICP fitness and RMSE; a frame ICP
could not align has RMSE NaN there and -1 here), the graph from the graph stage, audio and
crop STFTs from the audio stage, and the video's identity from the decode stage.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from asmp.config import Config, config_hash
from asmp.io.hdf5 import json_attr
from asmp.io.shards import VideoRecord, field_name, write_shard
from asmp.preprocess.common import add_stage_arguments, read_stage, stage_config

#: The graph stage's groups, which are shard tables.
GRAPH_TABLES = ("nodes", "edges", "objects", "motion")


def shard_attrs(
    cfg: Config, graph_attrs: dict[str, Any], backends: dict[str, Any], weights: dict[str, Any]
) -> dict[str, Any]:
    """Root attributes of a record or shard made with ``cfg``."""
    a = cfg["audio"]
    return {
        "window_frames": cfg["video"]["window_frames"],
        "feature_dim": int(graph_attrs["feature_dim"]),
        "sample_rate": a["sample_rate"],
        "n_fft": a["n_fft"],
        "hop_length": a["hop_length"],
        "crop_samples": a["crop_samples"],
        "stft_bins": a["n_fft"] // 2 + 1,
        "stft_frames": a["crop_samples"] // a["hop_length"] + 1,
        "sound_classes": json.dumps(cfg["dataset"]["sound_classes"]),
        "detector_classes": json.dumps(graph_attrs["detector_classes"]),
        "edge_mode": cfg["graph"]["edge_mode"],
        "config": cfg,
        "config_hash": config_hash(cfg),
        "backends": backends,
        "weights_sha256": weights,
    }


def record(
    decode: str | Path,
    rectify: str | Path,
    graph: str | Path,
    audio: str | Path,
    cfg: Config,
    out: str | Path,
    split: str = "test",
    clip_id: str | None = None,
) -> Path:
    """Assemble and write (atomically, validated) the record of one video."""
    files = {"decode": decode, "rectify": rectify, "graph": graph, "audio": audio}
    handles = {s: read_stage(p, s) for s, p in files.items()}
    try:
        fd, fr, fg, fa = (handles[s] for s in files)
        g = {field_name(t, n): fg[t][n][()] for t in GRAPH_TABLES for n in fg[t]}
        sound = cfg["dataset"]["sound_classes"]
        classes = json_attr(fg, "video_sound_classes") or [
            sound[c] for c in sorted(set(g["object_sound_class"].tolist()))
        ]
        n_win = len(fr["transforms"])
        rec = VideoRecord(
            id=clip_id or Path(json_attr(fd, "source")).stem,
            sha256=json_attr(fd, "source_sha256"),
            split=split,
            sound_classes=classes,
            fps=float(json_attr(fd, "fps")),
            source_fps=float(json_attr(fd, "source_fps")),
            duration=float(json_attr(fd, "duration")),
            frame_size=tuple(int(x) for x in fd.attrs["frame_size"]),
            window_start_frame=np.arange(n_win, dtype=np.int32) * cfg["video"]["window_frames"],
            window_cam_T=fr["transforms"][()],
            window_icp_fitness=fr["fitness"][()],
            window_icp_rmse=np.nan_to_num(fr["rmse"][()], nan=-1.0),
            **g,
            waveform=fa["waveform"][()],
            crop_start=fa["crop_start"][()],
            crop_stft=fa["stft"][()],
        )
        graph_attrs = {
            "feature_dim": fg.attrs["feature_dim"],
            "detector_classes": json_attr(fg, "detector_classes"),
        }
        backends = {
            **(json_attr(fg, "backends") or {}),
            **{s: json_attr(h, "backend") for s, h in handles.items()},
        }
        weights = {
            s: json_attr(h, "weights_sha256")
            for s, h in handles.items()
            if json_attr(h, "weights_sha256")
        }
    finally:
        for h in handles.values():
            h.close()
    return write_shard(out, [rec], shard_attrs(cfg, graph_attrs, backends, weights))


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_stage_arguments(
        p,
        {
            "decode": "decode stage file",
            "rectify": "rectify stage file",
            "graph": "graph stage file",
            "audio": "audio stage file",
        },
    )
    p.add_argument(
        "--split",
        default="test",
        choices=["train", "val", "test"],
        help="the video's split (default test)",
    )
    p.add_argument("--id", dest="clip_id", help="video id (default: the video file's stem)")


def run(args: argparse.Namespace) -> int:
    record(
        args.decode,
        args.rectify,
        args.graph,
        args.audio,
        stage_config(args),
        args.out,
        args.split,
        args.clip_id,
    )
    return 0
