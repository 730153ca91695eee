"""The audio stage: crop rule, cached STFTs against torch.stft, exact mixtures, bad input."""

from __future__ import annotations

import argparse
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
import yaml

from asmp.config import Config, load_config
from asmp.errors import AsmpError
from asmp.preprocess import audio
from asmp.preprocess.common import read_stage, stage_file

SR, CROP, N_FFT, HOP = 11025, 65535, 1022, 256


@pytest.fixture(scope="module")
def cfg(synth_config_path: Path) -> Config:
    return load_config(synth_config_path)


def write_decode(path: Path, wave: np.ndarray, cfg: Config, sample_rate: int = SR) -> Path:
    n_frames = max(8, int(len(wave) / sample_rate * 8))
    with stage_file(path, "decode", cfg) as f:
        f["frames"] = np.zeros((n_frames, 8, 8, 3), np.uint8)
        f["audio"] = wave
        f.attrs["sample_rate"] = sample_rate
    return path


def run_stage(tmp_path: Path, cfg: Config, decode: Path, out: Path) -> int:
    cfg_path = tmp_path / "config.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg))
    parser = argparse.ArgumentParser()
    audio.add_arguments(parser)
    return audio.run(parser.parse_args([str(decode), "--config", str(cfg_path), "--out", str(out)]))


def clip(seconds: float, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-0.8, 0.8, round(seconds * SR)).astype(np.float32)


def reference_stft(crop: np.ndarray) -> np.ndarray:
    """torch.stft with the stated parameters, independently of asmp.spectrogram."""
    window = torch.hann_window(N_FFT, periodic=True)
    return torch.stft(
        torch.from_numpy(crop),
        N_FFT,
        HOP,
        window=window,
        center=True,
        pad_mode="reflect",
        return_complex=True,
    ).numpy()


def cached(tmp_path: Path, cfg: Config, name: str, wave: np.ndarray) -> tuple[np.ndarray, ...]:
    """Run the stage on ``wave``; return ``(crop_start, stft, waveform)`` from its output."""
    decode, out = tmp_path / f"{name}_decode.h5", tmp_path / f"{name}_audio.h5"
    assert run_stage(tmp_path, cfg, write_decode(decode, wave, cfg), out) == 0
    with read_stage(out, "audio") as f:
        assert f.attrs["n_fft"] == N_FFT and f.attrs["hop_length"] == HOP
        assert f.attrs["sample_rate"] == SR and f.attrs["pad_mode"] == "reflect"
        assert f.attrs["window"] == "hann (periodic)"
        assert f["stft"].chunks == (1, N_FFT // 2 + 1, 256)
        return f["crop_start"][()], f["stft"][()], f["waveform"][()]


@pytest.mark.parametrize(
    ("n_samples", "starts"),
    [
        (10 * SR, [0, 1, 2, 3, 4]),  # 4 s + 65535 = 109635 <= 110250
        (6 * SR, [0]),  # 1 s + 65535 = 76560 > 66150
        (4 * SR + CROP, [0, 1, 2, 3, 4]),  # the last crop ends on the last sample
        (4 * SR + CROP - 1, [0, 1, 2, 3]),
        (CROP, [0]),
        (3 * SR, [0]),  # shorter than a crop: one zero-padded crop
    ],
)
def test_crop_starts(n_samples: int, starts: list[int]) -> None:
    got = audio.crop_starts(n_samples, SR, CROP)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, np.array(starts) * SR)


def test_stage_caches_exact_crop_stfts(tmp_path: Path, cfg: Config) -> None:
    wave = clip(10.0, 0)
    starts, spec, waveform = cached(tmp_path, cfg, "a", wave)
    np.testing.assert_array_equal(starts, np.arange(5) * SR)
    assert spec.shape == (5, 512, 256) and spec.dtype == np.complex64
    np.testing.assert_array_equal(waveform, wave)
    for s, got in zip(starts, spec, strict=True):
        ref = reference_stft(wave[s : s + CROP])
        assert np.abs(got - ref).max() <= 1e-6 * np.abs(ref).max()


def test_mixtures_of_cached_crops_are_exact(tmp_path: Path, cfg: Config) -> None:
    """STFT(crop of a + crop of b) == cached STFT of a + cached STFT of b."""
    a, b = clip(10.0, 1), clip(6.5, 2)
    starts_a, spec_a, _ = cached(tmp_path, cfg, "a", a)
    starts_b, spec_b, _ = cached(tmp_path, cfg, "b", b)
    np.testing.assert_array_equal(starts_b, [0])
    for i in (0, 3):
        mix = a[starts_a[i] : starts_a[i] + CROP] + b[:CROP]
        ref = reference_stft(mix)
        err = np.abs(spec_a[i] + spec_b[0] - ref).max() / np.abs(ref).max()
        assert err < 1e-5


def test_short_clip_is_zero_padded(tmp_path: Path, cfg: Config) -> None:
    wave = clip(3.0, 3)
    starts, spec, waveform = cached(tmp_path, cfg, "short", wave)
    np.testing.assert_array_equal(starts, [0])
    np.testing.assert_array_equal(waveform, wave)  # stored unpadded
    ref = reference_stft(np.pad(wave, (0, CROP - len(wave))))
    assert spec.shape == (1, *ref.shape)
    assert np.abs(spec[0] - ref).max() <= 1e-6 * np.abs(ref).max()


def test_nan_audio_is_rejected(tmp_path: Path, cfg: Config) -> None:
    wave = clip(7.0, 4)
    wave[[10, 500]] = [np.nan, np.inf]
    decode, out = write_decode(tmp_path / "decode.h5", wave, cfg), tmp_path / "audio.h5"
    with pytest.raises(AsmpError, match="2 non-finite") as exc:
        run_stage(tmp_path, cfg, decode, out)
    assert exc.value.path == str(decode)
    assert not out.exists()


def test_bad_inputs_are_rejected(tmp_path: Path, cfg: Config) -> None:
    out = tmp_path / "audio.h5"
    decode = write_decode(tmp_path / "decode.h5", clip(7.0, 5), cfg, sample_rate=16000)
    with pytest.raises(AsmpError, match="16000 Hz differs from audio.sample_rate 11025"):
        run_stage(tmp_path, cfg, decode, out)
    with h5py.File(decode, "a") as f:
        f.attrs["kind"] = "stage/depth"
    with pytest.raises(AsmpError, match="expected a 'decode' stage file"):
        run_stage(tmp_path, cfg, decode, out)
    bad_cfg = {**cfg, "audio": {**cfg["audio"], "spectrogram_frames": 128}}
    with pytest.raises(AsmpError, match="spectrogram_frames is 128 but .* give 256"):
        audio.audio(decode, bad_cfg, out)
    assert not out.exists()
