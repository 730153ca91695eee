"""Test factories shipped with the package: small, internally consistent fake data.

Used by this project's tests and usable by anyone writing tests against asmp's formats.
"""

from __future__ import annotations

import itertools
import os
from typing import Any

import numpy as np

from asmp.io.shards import AUDITORY, BACKGROUND, CONTEXT, VideoRecord
from asmp.io.video import write_video
from asmp.preprocess.motion import direction_class

SOUND_CLASSES = ["bell", "engine", "bird", "dog", "horn", "water"]
DETECTOR_CLASSES = [*SOUND_CLASSES, "person", "tree", "crate"]


#: STFT size of the test factories: small, so fake records stay small.
TEST_STFT = {"n_fft": 30, "hop_length": 8, "crop_samples": 63, "stft_bins": 16, "stft_frames": 8}


def random_record(
    rng: np.random.Generator,
    video_id: str = "clip",
    n_objects: int = 2,
    n_context: int = 2,
    n_windows: int = 3,
    window_frames: int = 8,
    feature_dim: int = 16,
    sample_rate: int = 11025,
) -> VideoRecord:
    """A random but valid video record: ``n_objects`` auditory nodes with ``n_context``
    context nodes each, one background node, a complete graph and per-window motion."""
    n_frames = n_windows * window_frames
    roles = []
    for k in range(n_objects):
        roles += [(AUDITORY, k)] + [(CONTEXT, k)] * n_context
    roles.append((BACKGROUND, -1))
    n = len(roles)
    xy = rng.uniform(0, 200, (n, 2))
    wh = rng.uniform(8, 56, (n, 2))
    obj_classes = rng.choice(len(SOUND_CLASSES), n_objects, replace=False)
    role = np.array([r for r, _ in roles], dtype=np.int8)
    obj = np.array([o for _, o in roles], dtype=np.int16)
    sound = np.where(role == AUDITORY, obj_classes[np.maximum(obj, 0)], -1).astype(np.int16)
    pairs = np.array(list(itertools.combinations(range(n), 2)), dtype=np.int32).reshape(-1, 2)
    chamfer = rng.uniform(0.01, 1.0, len(pairs)).astype(np.float32)
    disp = rng.normal(0, 0.1, (n_objects, n_windows, 3))
    cam_T = np.tile(np.eye(4, dtype=np.float32), (n_windows, window_frames, 1, 1))
    return VideoRecord(
        id=video_id,
        sha256=rng.bytes(32).hex(),
        split="train",
        sound_classes=[SOUND_CLASSES[c] for c in obj_classes],
        fps=8.0,
        source_fps=25.0,
        duration=n_frames / 8.0,
        frame_size=(256, 256),
        window_start_frame=np.arange(n_windows, dtype=np.int32) * window_frames,
        window_cam_T=cam_T,
        window_icp_fitness=rng.uniform(0.5, 1, (n_windows, window_frames)).astype(np.float32),
        window_icp_rmse=rng.uniform(0, 0.1, (n_windows, window_frames)).astype(np.float32),
        node_box=np.concatenate([xy, xy + wh], axis=1).astype(np.float32),
        node_frame=np.zeros(n, dtype=np.int32),
        node_det_class=np.where(role == AUDITORY, sound, len(SOUND_CLASSES)).astype(np.int32),
        node_score=rng.uniform(0.4, 1, n).astype(np.float32),
        node_feature=rng.normal(size=(n, feature_dim)).astype(np.float16),
        node_role=role,
        node_object=obj,
        node_sound_class=sound,
        edge_index=pairs,
        edge_chamfer=chamfer,
        edge_weight=np.exp(-chamfer / chamfer.max()).astype(np.float32),
        object_node=np.flatnonzero(role == AUDITORY).astype(np.int32),
        object_sound_class=obj_classes.astype(np.int16),
        motion_displacement=disp.astype(np.float32),
        motion_direction10=direction_class(disp, 10, 0.03, 0.03).astype(np.int8),
        motion_direction28=direction_class(disp, 28, 0.03, 0.03).astype(np.int8),
        waveform=rng.uniform(-0.5, 0.5, int(n_frames / 8.0 * sample_rate)).astype(np.float32),
        crop_start=np.arange(2, dtype=np.int64) * sample_rate,
        crop_stft=(
            rng.normal(size=(2, TEST_STFT["stft_bins"], TEST_STFT["stft_frames"]))
            + 1j * rng.normal(size=(2, TEST_STFT["stft_bins"], TEST_STFT["stft_frames"]))
        ).astype(np.complex64),
    )


def shard_attrs(window_frames: int = 8, feature_dim: int = 16, **extra: Any) -> dict[str, Any]:
    """Root attributes matching :func:`random_record`'s defaults."""
    return {
        "window_frames": window_frames,
        "feature_dim": feature_dim,
        "sample_rate": 11025,
        **TEST_STFT,
        "sound_classes": SOUND_CLASSES,
        "detector_classes": DETECTOR_CLASSES,
        "edge_mode": "rbf",
        **extra,
    }


def make_test_video(
    path: str | os.PathLike[str],
    seconds: float = 2.0,
    fps: float = 25.0,
    size: tuple[int, int] = (48, 64),
    tone_hz: float | None = 440.0,
    sample_rate: int = 44100,
    times: np.ndarray | None = None,
) -> np.ndarray:
    """Write an mp4 whose frame ``k`` is a flat grey of level ``4k mod 256`` (so a test can
    tell which source frame it got) with a sine of ``tone_hz`` at amplitude 0.5 (no audio
    stream when ``tone_hz`` is None). Returns the frames ``[T,H,W,3]``."""
    n = len(times) if times is not None else round(seconds * fps)
    levels = (4 * np.arange(n)) % 256
    frames = np.broadcast_to(levels[:, None, None, None], (n, *size, 3)).astype(np.uint8)
    audio = None
    if tone_hz is not None:
        t = np.arange(round(seconds * sample_rate)) / sample_rate
        audio = (0.5 * np.sin(2 * np.pi * tone_hz * t)).astype(np.float32)
    write_video(path, frames, fps, audio, sample_rate, times)
    return frames


def random_batch(
    n_mixtures: int,
    *,
    slots: int = 3,
    feature_dim: int = 2048,
    nodes: int = 43,
    freq_bins: int = 512,
    frames: int = 256,
    windows: int = 6,
    sound_classes: int = 14,
    direction_classes: int = 28,
    seed: int = 0,
) -> Any:
    """A random :class:`~asmp.train.data.Batch` of ``n_mixtures`` two-video mixtures at the
    paper's sizes by default: every video with ``slots - 1`` objects plus background,
    ``nodes`` fully connected nodes, a ``freq_bins x frames`` crop STFT and ``windows``
    labelled windows (for benchmarks and tests that need no shards)."""
    from asmp.train.data import collate

    rng = np.random.default_rng(seed)
    src, dst = np.nonzero(~np.eye(nodes, dtype=bool))
    parts = []
    for _ in range(2 * n_mixtures):
        labels = np.zeros(slots, np.int64)
        labels[: slots - 1] = rng.choice(np.arange(1, sound_classes + 1), slots - 1, replace=False)
        directions = rng.integers(0, direction_classes - 1, (slots, windows))
        directions[-1] = direction_classes - 1
        spec = rng.normal(size=(freq_bins, frames)) + 1j * rng.normal(size=(freq_bins, frames))
        parts.append(
            {
                "x": np.abs(rng.normal(size=(nodes, feature_dim))).astype(np.float32),
                "edge_index": np.stack([src, dst]).astype(np.int64),
                "edge_weight": rng.uniform(0, 1, len(src)).astype(np.float32),
                "labels": labels,
                "valid": np.ones(slots, bool),
                "directions": directions,
                "window_valid": np.ones(windows, bool),
                "stft": spec.astype(np.complex64),
                "crop_start": np.int64(0),
            }
        )
    return collate(parts, np.repeat(np.arange(n_mixtures), 2))
