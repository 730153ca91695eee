"""The decode stage on videos made by the tests, with known content."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from asmp.cli import main
from asmp.config import load_config
from asmp.errors import AsmpError
from asmp.preprocess.decode import decode
from asmp.testing import make_test_video


@pytest.fixture()
def cfg(synth_config_path):
    return load_config(synth_config_path)


def dominant_hz(x: np.ndarray, sr: int) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spec) * sr / len(x))


def test_frames_and_audio_resampled(tmp_path, cfg):
    src = tmp_path / "v.mp4"
    make_test_video(src, seconds=2.0, fps=25.0, size=(48, 64), tone_hz=440.0)
    out = decode(src, cfg, tmp_path / "d.h5", progress=False)
    with h5py.File(out) as f:
        frames, audio = f["frames"][()], f["audio"][()]
        assert f.attrs["kind"] == "stage/decode" and f.attrs["source"] == str(src)
        assert f.attrs["source_fps"] == 25.0 and f.attrs["duration"] == pytest.approx(2.0)
        assert tuple(f.attrs["frame_size"]) == (48, 64)
        assert f.attrs["bad_packets"] == 0 and not f.attrs["variable_frame_rate"]
    assert frames.shape == (16, 48, 64, 3) and frames.dtype == np.uint8
    # Output frame k at t = k/8 s is source frame floor(25k/8), grey level 4x that.
    expected = 4 * np.floor(np.arange(16) * 25 / 8)
    np.testing.assert_allclose(frames[:, 24, 32, 0], expected, atol=2)
    assert audio.dtype == np.float32 and len(audio) == 22050
    assert dominant_hz(audio, 11025) == pytest.approx(440, abs=1)
    assert np.abs(audio[1000:-3000]).max() == pytest.approx(0.5, abs=0.03)


def test_variable_frame_rate_is_resampled_by_timestamp(tmp_path, cfg):
    times = np.cumsum(np.r_[0, np.random.default_rng(0).uniform(0.02, 0.07, 49)])
    make_test_video(tmp_path / "vfr.mp4", seconds=2.3, times=times, tone_hz=220.0)
    out = decode(tmp_path / "vfr.mp4", cfg, tmp_path / "d.h5", progress=False)
    with h5py.File(out) as f:
        assert f.attrs["variable_frame_rate"]
        got = f["frames"][:, 0, 0, 0]
    shown = np.searchsorted(times, np.arange(len(got)) / 8 + 1e-9, side="right") - 1
    np.testing.assert_allclose(got, 4 * shown, atol=2)


def test_no_audio_is_an_error_unless_configured(tmp_path, cfg):
    src = tmp_path / "mute.mp4"
    make_test_video(src, seconds=1.5, tone_hz=None)
    with pytest.raises(AsmpError, match="no audio stream"):
        decode(src, cfg, tmp_path / "d.h5", progress=False)
    assert not (tmp_path / "d.h5").exists()
    cfg["decode"]["require_audio"] = False
    with h5py.File(decode(src, cfg, tmp_path / "d.h5", progress=False)) as f:
        assert not f.attrs["has_audio"] and len(f["audio"]) == round(f.attrs["duration"] * 11025)
        assert not f["audio"][()].any()


def test_bad_videos_fail_cleanly(tmp_path, cfg, synth_config_path, capsys):
    short = tmp_path / "short.mp4"
    make_test_video(short, seconds=0.5)
    empty = tmp_path / "empty.mp4"
    empty.touch()
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(np.random.default_rng(0).bytes(5000))
    cut = tmp_path / "cut.mp4"
    make_test_video(tmp_path / "whole.mp4", seconds=2.0)
    cut.write_bytes((tmp_path / "whole.mp4").read_bytes()[:3000])
    for path, cause in [
        (short, "video shorter than one window (3 frames at 8 fps < 8)"),
        (empty, "empty file"),
        (junk, "cannot open as media"),
        (cut, ""),
    ]:
        out = tmp_path / f"{path.stem}.h5"
        status = main(
            ["stage", "decode", str(path), "--config", str(synth_config_path), "--out", str(out)]
        )
        err = capsys.readouterr().err
        assert status == 2 and err.startswith(f"asmp: error: {path}: {cause}"), err
        assert err.count("\n") == 1 and not out.exists()
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".mp4"] * 5
