"""Decoding video frames with PyAV, resampled to a fixed frame rate.

Behaviour on awkward input (docs/stages.md#decode):
- frames are chosen by presentation time, so variable frame rate is handled: output frame
  ``k`` is the last source frame shown at time ``k / fps`` (sample-and-hold);
- rotation metadata (display matrix) is applied, so frames come out upright;
- packets that fail to decode are skipped and counted, never silently dropped;
- frames are downscaled (area interpolation) so the longer side is at most ``max_side``.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import av
import cv2
import numpy as np
from tqdm import tqdm

from asmp.errors import AsmpError


@dataclass
class DecodedVideo:
    """Frames resampled to ``fps``: ``frames`` ``[T,H,W,3]`` uint8 RGB."""

    frames: np.ndarray
    fps: float
    source_fps: float
    duration: float  # s, end of the last source frame
    source_size: tuple[int, int]  # (H, W) before resizing, after rotation
    bad_packets: int
    variable_frame_rate: bool
    rotation: int  # degrees counter-clockwise applied to upright the frames


def _upright(img: np.ndarray, rotation: int) -> np.ndarray:
    """Undo a display rotation of ``rotation`` degrees (multiples of 90)."""
    return np.ascontiguousarray(np.rot90(img, k=(rotation // 90) % 4))


def _resize(img: np.ndarray, max_side: int | None) -> np.ndarray:
    h, w = img.shape[:2]
    if max_side is None or max(h, w) <= max_side:
        return img
    s = max_side / max(h, w)
    return cv2.resize(img, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)


def open_container(path: str | os.PathLike[str]) -> av.container.InputContainer:
    """Open a media file, turning PyAV's failures into one-line errors."""
    if not os.path.exists(path):
        raise AsmpError("no such file", path)
    if os.path.getsize(path) == 0:
        raise AsmpError("empty file", path)
    try:
        return av.open(str(path))
    except (av.error.FFmpegError, UnicodeDecodeError) as exc:
        raise AsmpError(f"cannot open as media ({exc.__class__.__name__})", path) from None


def decode_video(
    path: str | os.PathLike[str], fps: float, max_side: int | None = None, progress: bool = False
) -> DecodedVideo:
    """Decode a video's frames at ``fps`` frames per second.

    Raises:
        AsmpError: no video stream, or no frame could be decoded.
    """
    with open_container(path) as container:
        if not container.streams.video:
            raise AsmpError("no video stream", path)
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        times, images, bad, rotation, src_size = [], [], 0, 0, (0, 0)
        packets = container.demux(stream)
        for packet in tqdm(
            packets, desc="decode", unit="pkt", disable=None if progress else True, leave=False
        ):
            try:
                decoded = packet.decode()
            except av.error.FFmpegError:
                bad += 1
                continue
            for frame in decoded:
                if frame.pts is None:
                    continue
                rotation = int(getattr(frame, "rotation", 0) or 0)
                times.append(float(frame.pts * frame.time_base))
                img = _upright(frame.to_ndarray(format="rgb24"), rotation)
                src_size = img.shape[:2]
                images.append(_resize(img, max_side))
        if not images:
            raise AsmpError(f"no decodable video frame ({bad} bad packets)", path)
        rate = stream.average_rate or stream.guessed_rate
        source_fps = float(rate) if rate else float("nan")
    order = np.argsort(times, kind="stable")
    t = np.asarray(times)[order]
    t -= t[0]
    step = np.median(np.diff(t)) if len(t) > 1 else 1.0 / (source_fps or fps)
    duration = float(t[-1] + step)
    vfr = len(t) > 2 and bool(np.ptp(np.diff(t)) > 0.5 * step)
    n_out = max(1, math.floor(duration * fps + 1e-6))
    pick = np.searchsorted(t, np.arange(n_out) / fps + 1e-9, side="right") - 1
    frames = np.stack([images[order[i]] for i in pick])
    return DecodedVideo(frames, fps, source_fps, duration, src_size, bad, vfr, rotation)


def write_video(
    path: str | os.PathLike[str],
    frames: np.ndarray,
    fps: float,
    audio: np.ndarray | None = None,
    sample_rate: int = 11025,
    times: np.ndarray | None = None,
    crf: int = 18,
) -> None:
    """Encode ``frames`` ``[T,H,W,3]`` uint8 RGB and optional mono ``audio`` ``[S]`` float32
    into an mp4: H.264 (libx264, yuv420p, ``crf`` 18 is visually lossless; one encoder
    thread, so the output is reproducible) and AAC at ``sample_rate``.

    ``times`` (seconds, ``[T]``) gives each frame's presentation time for variable frame
    rate output; by default frame ``k`` is shown at ``k / fps``. The encoder's audio priming
    is recorded in the mp4 edit list, so decoders start at sample 0, and the stream's
    duration is the audio's exact length.
    """
    from fractions import Fraction

    T, H, W, _ = frames.shape
    with av.open(str(path), "w", format="mp4") as out:
        vs = out.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        vs.width, vs.height, vs.pix_fmt = W, H, "yuv420p"
        vs.options = {"crf": str(crf), "preset": "veryfast"}
        vs.codec_context.thread_count = 1
        if times is not None:
            vs.codec_context.time_base = Fraction(1, 1000)
        a_s = None if audio is None else out.add_stream("aac", rate=sample_rate, layout="mono")
        for k in range(T):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frames[k]), format="rgb24")
            if times is not None:
                frame.pts, frame.time_base = round(times[k] * 1000), Fraction(1, 1000)
            out.mux(vs.encode(frame))
        out.mux(vs.encode(None))
        if a_s is not None:
            chunk = av.AudioFrame.from_ndarray(
                np.asarray(audio, np.float32)[None], format="fltp", layout="mono"
            )
            chunk.sample_rate, chunk.pts = sample_rate, 0
            out.mux(a_s.encode(chunk))
            out.mux(a_s.encode(None))
