"""Clips and datasets of the synthetic world: arrays, files and the manifest.

A dataset directory holds ``manifest.csv``, ``videos/{clip_id}.mp4``, ``audio/{clip_id}.wav``
and ``gt/{clip_id}.h5``; docs/synth.md describes every field and unit.
"""

from __future__ import annotations

import contextlib
import csv
import multiprocessing
import os
import shutil
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm import tqdm

from asmp.config import Config, config_hash
from asmp.errors import AsmpError
from asmp.io.audio import write_wav
from asmp.io.hdf5 import write_h5
from asmp.io.video import write_video
from asmp.preprocess.common import window_starts
from asmp.preprocess.motion import DIRECTION_CLASSES, direction_class
from asmp.synth.options import SynthOptions, resolve_options
from asmp.synth.render import boxes_from_instance, render_video
from asmp.synth.scene import ClipSpec, Scene, plan_clips, sample_scene
from asmp.synth.sound import render_audio

MANIFEST_COLUMNS = ("clip_id", "split", "video", "audio", "classes")


@dataclass(frozen=True, eq=False)
class Clip:
    """Everything about one clip, in memory (``K`` objects, ``T`` frames, ``S`` samples,
    ``W`` windows, ``N`` sounding objects; objects ``0..N-1`` are the sounding ones).

    Attributes:
        frames: ``[T,H,W,3]`` uint8 RGB.
        depth: ``[T,H,W]`` float32 metres along the optical axis.
        instance: ``[T,H,W]`` int8 index of the object seen at each pixel, -1 for background.
        boxes: ``[K,T,4]`` float32 pixel ``x1, y1, x2, y2`` of the visible pixels, NaN
            where not visible.
        visible: ``[K,T]`` bool.
        positions: ``[K,T,3]`` float64 camera-frame object centres (m).
        sources: ``[N,S]`` float32 each sounding object as heard at the camera.
        background: ``[S]`` float32 ambience.
        mixture: ``[S]`` float32 ``sources.sum(0) + background``.
        gain: the common gain already applied to every source.
        displacement: ``[K,W,3]`` float64 true relative motion per window.
        direction10, direction28: ``[K,W]`` int64 direction classes.
    """

    spec: ClipSpec
    scene: Scene
    frames: np.ndarray
    depth: np.ndarray
    instance: np.ndarray
    boxes: np.ndarray
    visible: np.ndarray
    positions: np.ndarray
    sources: np.ndarray
    background: np.ndarray
    mixture: np.ndarray
    gain: float
    displacement: np.ndarray
    direction10: np.ndarray
    direction28: np.ndarray


def make_clip(spec: ClipSpec, options: SynthOptions) -> Clip:
    """Render one planned clip to arrays (no files)."""
    scene = sample_scene(spec, options)
    frames, depth, instance = render_video(scene)
    boxes, visible = boxes_from_instance(instance, len(scene.objects))
    sources, background, gain = render_audio(scene)
    mixture = (sources.sum(axis=0, dtype=np.float64) + background).astype(np.float32)
    displacement = scene.window_displacement(options.window_frames)
    valid = visible[:, window_starts(scene.n_frames, options.window_frames)]
    labels = {
        n: direction_class(displacement, n, options.still_uv, options.still_d, valid)
        for n in DIRECTION_CLASSES
    }
    return Clip(
        spec=spec,
        scene=scene,
        frames=frames,
        depth=depth,
        instance=instance,
        boxes=boxes,
        visible=visible,
        positions=scene.positions(),
        sources=sources,
        background=background,
        mixture=mixture,
        gain=gain,
        displacement=displacement,
        direction10=labels[10],
        direction28=labels[28],
    )


def synth_clip(
    index: int = 0, seed: int = 0, config: str | Path | Config | None = None, **options: Any
) -> Clip:
    """Clip ``index`` of the dataset ``generate(..., seed=seed, **options)`` would make, in
    memory (a test factory)."""
    opts = resolve_options(config, **options)
    return make_clip(plan_clips(index + 1, seed, opts)[index], opts)


def split_of(index: int, n_clips: int) -> str:
    """Split of clip ``index``: the first 80% train, then 10% val, the last 10% test (at
    least one each when there are 3 or more clips; all train below)."""
    if n_clips < 3:
        return "train"
    n_held = max(1, round(0.1 * n_clips))
    if index >= n_clips - n_held:
        return "test"
    return "val" if index >= n_clips - 2 * n_held else "train"


def write_clip(clip: Clip, root: Path, split: str, config: Config) -> dict[str, str]:
    """Write a clip's MP4, WAV and ground truth under ``root``; return its manifest row."""
    spec, scene = clip.spec, clip.scene
    video, audio = Path("videos", f"{spec.clip_id}.mp4"), Path("audio", f"{spec.clip_id}.wav")
    write_video(root / video, clip.frames, scene.fps, clip.mixture, scene.sample_rate)
    write_wav(root / audio, clip.mixture, scene.sample_rate)
    write_ground_truth(root / "gt" / f"{spec.clip_id}.h5", clip, config)
    return {
        "clip_id": spec.clip_id,
        "split": split,
        "video": video.as_posix(),
        "audio": audio.as_posix(),
        "classes": ";".join(spec.classes),
    }


def write_ground_truth(path: Path, clip: Clip, config: Config) -> None:
    """The ``synth/gt`` HDF5 file of a clip (layout in docs/synth.md)."""
    spec, scene = clip.spec, clip.scene
    packed = {"compression": "lzf", "shuffle": True, "chunks": (1, scene.height, scene.width)}
    with write_h5(
        path,
        "synth/gt",
        clip_id=spec.clip_id,
        fps=scene.fps,
        sample_rate=scene.sample_rate,
        duration=scene.duration,
        seed=spec.seed,
        index=spec.index,
        camera_motion=spec.camera,
        classes=list(spec.classes),
        hfov_deg=scene.hfov_deg,
        gain=clip.gain,
        config=config,
        config_hash=config_hash(config),
    ) as f:
        f.create_dataset("depth", data=clip.depth, **packed)
        f.create_dataset("instance", data=clip.instance, **packed)
        f["K"] = scene.K
        f["cam_T_world"] = scene.cam_T_world
        for k, obj in enumerate(scene.objects):
            g = f.create_group(f"objects/{k}")
            g.attrs["class"], g.attrs["sounding"] = obj.cls, obj.sounding
            g["box"] = clip.boxes[k]
            g["position"] = clip.positions[k]
            g["visible"] = clip.visible[k]
        for k, source in enumerate(clip.sources):
            f[f"sources/{k}"] = source
        f["sources/background"] = clip.background
        f["displacement"] = clip.displacement
        f["direction10"], f["direction28"] = clip.direction10, clip.direction28


def _check_out_dir(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise AsmpError("exists and is not an empty directory", out)


def _produce(job: tuple[ClipSpec, str, SynthOptions, Path]) -> dict[str, str]:
    spec, split, options, root = job
    return write_clip(make_clip(spec, options), root, split, options.config)


def _single_threaded() -> None:
    cv2.setNumThreads(1)


def generate(
    out_dir: str | Path,
    clips: int,
    seed: int = 0,
    *,
    config: str | Path | Config | None = None,
    workers: int = 1,
    progress: bool = False,
    **options: Any,
) -> Path:
    """Generate a synthetic dataset into ``out_dir`` (new or empty).

    Everything is written into a temporary sibling directory that is renamed to ``out_dir``
    at the end, so a failure leaves nothing behind.

    Args:
        out_dir: dataset directory.
        clips: number of clips (>= 1).
        seed: dataset seed (>= 0); the same seed and options give the same data.
        config: dataset config (see :func:`~asmp.synth.options.resolve_options`).
        workers: clips made in parallel processes.
        progress: show a progress bar.
        options: :class:`~asmp.synth.options.SynthOptions` fields.

    Returns:
        ``out_dir`` as a :class:`~pathlib.Path`.
    """
    out = Path(out_dir)
    if not isinstance(clips, int) or clips < 1:
        raise AsmpError(f"the number of clips must be a positive integer, got {clips!r}")
    if not isinstance(seed, int) or seed < 0:
        raise AsmpError(f"the seed must be a non-negative integer, got {seed!r}")
    if workers < 1:
        raise AsmpError(f"workers must be at least 1, got {workers}")
    opts = resolve_options(config, **options)
    _check_out_dir(out)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    try:
        for sub in ("videos", "audio", "gt"):
            (tmp / sub).mkdir(parents=True)
        jobs = [
            (spec, split_of(spec.index, clips), opts, tmp) for spec in plan_clips(clips, seed, opts)
        ]
        with contextlib.ExitStack() as stack:
            mapper = map
            if workers > 1:  # spawn, not fork: a forked child can inherit a held thread lock
                spawn = multiprocessing.get_context("spawn")
                pool = ProcessPoolExecutor(workers, mp_context=spawn, initializer=_single_threaded)
                mapper = stack.enter_context(pool).map
            shown = None if progress else True  # None: only on a terminal
            made = mapper(_produce, jobs)
            rows = list(tqdm(made, total=clips, desc="asmp synth", unit="clip", disable=shown))
        with open(tmp / "manifest.csv", "w", newline="") as fh:
            writer = csv.DictWriter(fh, MANIFEST_COLUMNS)
            writer.writeheader()
            writer.writerows(rows)
        _check_out_dir(out)
        if out.exists():
            out.rmdir()
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out
