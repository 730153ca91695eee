"""The audio stage: the exact STFT of every training crop of a clip (docs/audio.md).

Crops of ``audio.crop_samples`` samples start on every whole second ``s = 0, 1, ...`` while
``s * sample_rate + crop_samples <= S``, so a crop's start stays aligned with the 1-s video
windows; a clip shorter than one crop gives one crop at 0, zero-padded at the end. Since the
STFT is linear, the trainer builds the exact STFT of a mixture of crops by adding their cached
STFTs.

Output (kind ``stage/audio``): ``crop_start`` ``[C]`` int64 (samples), ``stft`` ``[C,F,T]``
complex64 chunked one crop per chunk, ``waveform`` ``[S]`` float32 (the decoded audio,
unpadded); attributes ``sample_rate``, ``n_fft``, ``hop_length``, ``crop_samples``,
``window``, ``pad_mode``, ``center``, ``source``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from asmp.config import Config
from asmp.errors import AsmpError
from asmp.io.hdf5 import put
from asmp.preprocess.common import add_stage_arguments, read_stage, stage_config, stage_file
from asmp.spectrogram import PAD_MODE, WINDOW, stft


def crop_starts(n_samples: int, sample_rate: int, crop: int) -> np.ndarray:
    """First samples ``[C]`` int64 of the crops of a clip: whole seconds ``s * sample_rate``
    with ``s * sample_rate + crop <= n_samples``, or ``[0]`` for a clip shorter than a crop."""
    n = max(n_samples - crop, 0) // sample_rate + 1
    return np.arange(n, dtype=np.int64) * sample_rate


def crops(waveform: np.ndarray, starts: np.ndarray, crop: int) -> np.ndarray:
    """Crops ``[C, crop]`` of ``waveform`` ``[S]``, zero-padded past its end."""
    padded = np.pad(waveform, (0, max(int(starts.max()) + crop - len(waveform), 0)))
    return np.stack([padded[s : s + crop] for s in starts])


def crop_stft(
    waveform: np.ndarray, starts: np.ndarray, crop: int, n_fft: int, hop: int
) -> np.ndarray:
    """STFTs ``[C, F, T]`` complex64 of the crops of ``waveform`` ``[S]`` float32 starting at
    ``starts`` ``[C]`` (samples), each ``crop`` samples long (:func:`asmp.spectrogram.stft`)."""
    return stft(torch.from_numpy(crops(waveform, starts, crop)), n_fft, hop).numpy()


def read_audio(decode_path: str | Path, sample_rate: int) -> np.ndarray:
    """The decode stage's ``audio`` ``[S]`` float32, checked.

    Raises:
        AsmpError: naming ``decode_path`` for a file that is not a decode stage file, no
            1-D ``audio`` dataset, a sample rate other than ``sample_rate``, no samples, or
            NaN/inf samples.
    """
    with read_stage(decode_path, "decode") as f:
        ds = f.get("audio")
        if ds is None or ds.ndim != 1:
            raise AsmpError("no 1-D 'audio' dataset", decode_path)
        rate = f.attrs.get("sample_rate")
        if rate != sample_rate:
            raise AsmpError(
                f"audio sample rate {rate} Hz differs from audio.sample_rate {sample_rate} Hz",
                decode_path,
            )
        audio = ds[()].astype(np.float32)
    if not len(audio):
        raise AsmpError("audio has no samples", decode_path)
    bad = int(np.count_nonzero(~np.isfinite(audio)))
    if bad:
        raise AsmpError(f"audio has {bad} non-finite (NaN or inf) samples", decode_path)
    return audio


def audio(decode_path: str | Path, cfg: Config, out: str | Path) -> Path:
    """Write the crop STFTs of the decode stage file ``decode_path`` to ``out`` (atomically).

    Raises:
        AsmpError: bad audio (:func:`read_audio`), or ``audio.spectrogram_frames`` other
            than the ``1 + crop_samples // hop_length`` frames the STFT gives.
    """
    a = cfg["audio"]
    sr, n_fft, hop, crop = a["sample_rate"], a["n_fft"], a["hop_length"], a["crop_samples"]
    if 1 + crop // hop != a["spectrogram_frames"]:
        raise AsmpError(
            f"audio.spectrogram_frames is {a['spectrogram_frames']} but crop_samples {crop} "
            f"and hop_length {hop} give {1 + crop // hop} STFT frames"
        )
    waveform = read_audio(decode_path, sr)
    starts = crop_starts(len(waveform), sr, crop)
    spec = crop_stft(waveform, starts, crop, n_fft, hop)
    with stage_file(
        out,
        "audio",
        cfg,
        backend="torch",
        source=str(decode_path),
        sample_rate=sr,
        n_fft=n_fft,
        hop_length=hop,
        crop_samples=crop,
        window=WINDOW,
        pad_mode=PAD_MODE,
        center=True,
    ) as f:
        put(f, "crop_start", starts, "samples", "first sample of each crop, whole seconds")
        put(f, "stft", spec, "1", "complex STFT of each crop, [C,F,T]", per_row=True)
        put(f, "waveform", waveform, "1", "mono audio at sample_rate, unpadded")
    return Path(out)


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_stage_arguments(p, {"decode": "decode stage file"})


def run(args: argparse.Namespace) -> int:
    """Run the stage from parsed arguments."""
    audio(args.decode, stage_config(args), args.out)
    return 0
