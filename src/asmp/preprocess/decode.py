"""The decode stage: a video file -> frames at ``video.fps`` and mono audio at
``audio.sample_rate`` (docs/stages.md#decode).

Output (kind ``stage/decode``): ``frames`` ``[T,H,W,3]`` uint8 RGB chunked per frame,
``audio`` ``[S]`` float32; attributes ``source``, ``source_sha256``, ``fps``,
``source_fps``, ``duration`` (s), ``audio_duration`` (s), ``frame_size``,
``source_frame_size``, ``sample_rate``, ``bad_packets``, ``variable_frame_rate``,
``rotation``, ``has_audio``.
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

import numpy as np

from asmp.config import Config
from asmp.errors import AsmpError
from asmp.io.audio import decode_audio
from asmp.io.hdf5 import put, sha256_file
from asmp.io.video import decode_video
from asmp.preprocess.common import add_stage_arguments, stage_config, stage_file

log = logging.getLogger(__name__)


def decode(
    video: str | os.PathLike[str], cfg: Config, out: str | os.PathLike[str], progress: bool = True
) -> Path:
    """Decode ``video`` into the stage file ``out`` (written atomically).

    Raises:
        AsmpError: unreadable or empty file, no video stream, fewer frames than one
            window, or no audio stream while ``decode.require_audio`` is set.
    """
    fps, L = cfg["video"]["fps"], cfg["video"]["window_frames"]
    sr = cfg["audio"]["sample_rate"]
    vid = decode_video(video, fps, cfg["decode"]["max_side"], progress=progress)
    if len(vid.frames) < L:
        raise AsmpError(
            f"video shorter than one window ({len(vid.frames)} frames at {fps} fps < {L})", video
        )
    try:
        audio, bad_audio = decode_audio(video, sr)
        has_audio = True
    except AsmpError as exc:
        if cfg["decode"]["require_audio"] or exc.cause != "no audio stream":
            raise
        log.warning("%s: no audio stream; using silence (decode.require_audio is false)", video)
        audio, bad_audio, has_audio = np.zeros(round(vid.duration * sr), np.float32), 0, False
    bad = vid.bad_packets + bad_audio
    if bad:
        log.warning("%s: skipped %d undecodable packets", video, bad)
    if vid.variable_frame_rate:
        log.warning("%s: variable frame rate; frames resampled by timestamp", video)
    with stage_file(
        out,
        "decode",
        cfg,
        backend="pyav",
        source=str(video),
        source_sha256=sha256_file(video),
        fps=fps,
        source_fps=vid.source_fps,
        duration=vid.duration,
        audio_duration=len(audio) / sr,
        frame_size=vid.frames.shape[1:3],
        source_frame_size=vid.source_size,
        sample_rate=sr,
        bad_packets=bad,
        variable_frame_rate=vid.variable_frame_rate,
        rotation=vid.rotation,
        has_audio=has_audio,
    ) as f:
        put(f, "frames", vid.frames, "uint8 RGB", "frames resampled to fps, [T,H,W,3]", True)
        put(f, "audio", audio, "1", "mono audio at sample_rate")
    return Path(out)


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_stage_arguments(p, {"video": "input video file"})


def run(args: argparse.Namespace) -> int:
    decode(args.video, stage_config(args), args.out)
    return 0
