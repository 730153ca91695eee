"""Decoding audio with PyAV: mono float32 at a fixed sample rate."""

from __future__ import annotations

import os

import av
import numpy as np
import soundfile as sf

from asmp.errors import AsmpError
from asmp.io.video import open_container


def decode_audio(path: str | os.PathLike[str], sample_rate: int) -> tuple[np.ndarray, int]:
    """The first audio stream of a media file, downmixed to mono and resampled, cut to the
    stream's declared duration (encoder padding removed).

    Returns:
        ``([S] float32 samples in [-1, 1] at sample_rate, number of bad packets skipped)``.

    Raises:
        AsmpError: the file has no audio stream.
    """
    with open_container(path) as container:
        if not container.streams.audio:
            raise AsmpError("no audio stream", path)
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
        chunks, bad = [], 0
        for packet in container.demux(stream):
            try:
                frames = packet.decode()
            except av.error.FFmpegError:
                bad += 1
                continue
            for frame in frames:
                chunks += [r.to_ndarray().reshape(-1) for r in resampler.resample(frame)]
        chunks += [r.to_ndarray().reshape(-1) for r in resampler.resample(None)]
        declared = stream.duration * stream.time_base if stream.duration else None
    samples = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    if declared is not None:
        # Codecs such as AAC pad the last frame; the container states the true length.
        samples = samples[: round(declared * sample_rate)]
    return samples.astype(np.float32, copy=False), bad


def write_wav(path: str | os.PathLike[str], audio: np.ndarray, sample_rate: int) -> None:
    """Mono float32 WAV."""
    sf.write(str(path), np.asarray(audio, np.float32), sample_rate, subtype="FLOAT", format="WAV")
