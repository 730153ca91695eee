"""The depth stage: gt and MiDaS backends, conversion to pseudo-depth, failures."""

from __future__ import annotations

import argparse
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
import yaml
from torch import nn

from asmp.config import load_config
from asmp.errors import AsmpError
from asmp.io.hdf5 import sha256_file
from asmp.preprocess import depth
from asmp.preprocess.common import stage_file
from asmp.preprocess.midas import MiDaS

SMALL = "midas_v21_small_256"
#: float16 round-to-nearest error bound, relative to the value.
F16_REL = 2.0**-11


def write_decode(path: Path, frames: np.ndarray, video: Path, cfg: dict) -> Path:
    """A decode stage file as the decode stage writes it (the parts depth reads)."""
    with stage_file(path, "decode", cfg, backend="test", source=str(video), fps=8.0) as f:
        f.create_dataset("frames", data=frames, chunks=(1, *frames.shape[1:]))
    return path


def write_config(tmp_path: Path, synth_config_path: Path, **depth_cfg: object) -> Path:
    """synth.yaml with ``depth`` overrides, as a file for ``--config``."""
    raw = yaml.safe_load(synth_config_path.read_text())
    raw["depth"] = {**raw.get("depth", {}), **depth_cfg}
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def run_cli(decode_h5: Path, config: Path, out: Path) -> int:
    parser = argparse.ArgumentParser()
    depth.add_arguments(parser)
    args = parser.parse_args([str(decode_h5), "--config", str(config), "--out", str(out)])
    return depth.run(args)


def small_checkpoint(path: Path, final_bias: float) -> Path:
    """A random midas_v21_small_256 checkpoint whose output is offset by ``final_bias``."""
    torch.manual_seed(0)
    state = MiDaS(SMALL).state_dict()
    state["scratch.output_conv.4.bias"].fill_(final_bias)
    torch.save(state, path)
    return path


def exact_pseudo(z: np.ndarray) -> np.ndarray:
    return np.log(z) - np.median(np.log(z))


def assert_no_output(out: Path) -> None:
    assert not out.exists() and not list(out.parent.glob(f".{out.name}*"))


@pytest.fixture()
def cfg(synth_config_path):
    return load_config(synth_config_path)


@pytest.fixture()
def synth_clip(tmp_path, cfg):
    """A synthetic-dataset layout: ``videos/c0.mp4`` (path only), ``gt/c0.h5`` and its decode."""
    (tmp_path / "gt").mkdir()
    video = tmp_path / "videos" / "c0.mp4"
    frames = np.zeros((3, 8, 10, 3), np.uint8)
    return write_decode(tmp_path / "decode.h5", frames, video, cfg), tmp_path / "gt" / "c0.h5"


def write_gt(path: Path, z: np.ndarray) -> None:
    with h5py.File(path, "w") as f:
        f.create_dataset("depth", data=z.astype(np.float32))


def test_gt_path_for(tmp_path):
    video = tmp_path / "videos" / "clip_7.mp4"
    with pytest.raises(AsmpError, match="no ground truth for video clip_7.mp4") as exc:
        depth.gt_path_for(video)
    assert exc.value.path == str(tmp_path / "gt" / "clip_7.h5")
    (tmp_path / "gt").mkdir()
    (tmp_path / "gt" / "clip_7.h5").touch()
    assert depth.gt_path_for(video) == tmp_path / "gt" / "clip_7.h5"


def test_gt_backend_writes_log_depth_minus_median(tmp_path, synth_config_path, synth_clip):
    decode_h5, gt = synth_clip
    z = np.random.default_rng(0).uniform(0.5, 40.0, (3, 8, 10))
    write_gt(gt, z)
    out = tmp_path / "depth.h5"
    assert run_cli(decode_h5, synth_config_path, out) == 0
    with h5py.File(out) as f:
        ds = f["pseudo_depth"]
        assert (ds.shape, ds.dtype, ds.chunks) == ((3, 8, 10), np.float16, (1, 8, 10))
        assert {"axes", "unit", "doc"} <= set(ds.attrs)
        assert f.attrs["kind"] == "stage/depth" and f.attrs["backend"] == "gt"
        assert "weights_sha256" not in f.attrs
        p = ds[()].astype(np.float64)
    exact = exact_pseudo(z.astype(np.float32).astype(np.float64))
    assert np.abs(p - exact).max() <= F16_REL * np.abs(exact).max()


PIXEL = np.arange(240).reshape(3, 8, 10)


@pytest.mark.parametrize(
    ("z", "match"),
    [
        (np.ones((2, 8, 10)), r"is \(2, 8, 10\) \(T,H,W\) but the decoded frames are \(3, 8, 10\)"),
        (
            np.where(PIXEL == 5, np.nan, 2.0),
            "1 of 240 values of the gt depth .* are NaN or infinite",
        ),
        (np.where(PIXEL < 2, 0.0, 2.0), "2 of 240 values of the gt depth .* are non-positive"),
    ],
)
def test_bad_gt_is_rejected_without_output(tmp_path, cfg, synth_clip, z, match):
    decode_h5, gt = synth_clip
    write_gt(gt, z)
    out = tmp_path / "depth.h5"
    with pytest.raises(AsmpError, match=match) as exc:
        depth.depth(decode_h5, cfg, out)
    assert exc.value.path == str(gt)
    assert_no_output(out)


class KnownInverseDepth(nn.Module):
    """Stands in for MiDaS: inverse depth ``3 + (normalised green channel)``, pixelwise."""

    model_type = SMALL

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 3.0 + x[:, 1]


def test_midas_inverse_depth_becomes_pseudo_depth(tmp_path, synth_config_path, cfg, monkeypatch):
    """A known inverse-depth map r comes out as log(1/r) - median(log(1/r))."""
    frames = np.random.default_rng(1).integers(0, 256, (3, 256, 256, 3), dtype=np.uint8)
    weights = tmp_path / "stub.pt"
    weights.write_bytes(b"stub")
    config = write_config(
        tmp_path, synth_config_path, backend=SMALL, weights=str(weights), batch_size=2
    )
    decode_h5 = write_decode(tmp_path / "decode.h5", frames, tmp_path / "v.mp4", cfg)
    # The depth stage imports MiDaS (and timm) only when it runs a MiDaS backend.
    monkeypatch.setattr(
        "asmp.preprocess.midas.load_midas", lambda model_type, path: KnownInverseDepth()
    )
    out = tmp_path / "depth.h5"
    run_cli(decode_h5, config, out)  # 256x256 is the network size: no resampling either way
    with h5py.File(out) as f:
        p = f["pseudo_depth"][()].astype(np.float64)
        assert f.attrs["weights_sha256"] == sha256_file(weights)
    r = 3.0 + (frames[..., 1] / 255 - 0.456) / 0.224
    exact = exact_pseudo(1 / r)
    assert np.abs(p - exact).max() <= F16_REL * np.abs(exact).max() + 1e-5


def test_midas_stage_end_to_end(tmp_path, synth_config_path, cfg):
    frames = np.random.default_rng(2).integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)
    ckpt = small_checkpoint(tmp_path / "small.pt", final_bias=1.0)
    config = write_config(tmp_path, synth_config_path, backend=SMALL, weights=str(ckpt))
    decode_h5 = write_decode(tmp_path / "decode.h5", frames, tmp_path / "v.mp4", cfg)
    out = tmp_path / "depth.h5"
    assert run_cli(decode_h5, config, out) == 0
    with h5py.File(out) as f:
        ds = f["pseudo_depth"]
        assert (ds.shape, ds.dtype, ds.chunks) == ((3, 64, 64), np.float16, (1, 64, 64))
        assert ds.attrs["axes"] == "T,H,W" and "median" in ds.attrs["unit"]
        assert f.attrs["kind"] == "stage/depth" and f.attrs["backend"] == SMALL
        assert f.attrs["weights_sha256"] == sha256_file(ckpt)
        p = ds[()]
    assert np.isfinite(p).all() and abs(np.median(p.astype(np.float64))) < 1e-3


def test_estimator_batches_and_resizes_back():
    net = MiDaS(SMALL)
    frames = np.random.default_rng(3).integers(0, 256, (5, 48, 80, 3), dtype=np.uint8)
    one = depth.DepthEstimator(net, batch_size=5, device="cpu", progress=False)(frames)
    two = depth.DepthEstimator(net, batch_size=2, device="cpu", progress=False)(frames)
    assert one.shape == (5, 48, 80) and one.dtype == np.float32
    np.testing.assert_allclose(one, two, rtol=1e-4, atol=1e-6)


def test_nan_midas_depth_is_rejected_without_output(tmp_path, synth_config_path, cfg):
    ckpt = small_checkpoint(tmp_path / "nan.pt", final_bias=float("nan"))
    frames = np.zeros((3, 64, 64, 3), np.uint8)
    decode_h5 = write_decode(tmp_path / "decode.h5", frames, tmp_path / "v.mp4", cfg)
    midas_cfg = load_config(synth_config_path, {"depth": {"backend": SMALL, "weights": str(ckpt)}})
    out = tmp_path / "depth.h5"
    with pytest.raises(AsmpError, match="12288 of 12288 values .* are NaN or infinite") as exc:
        depth.depth(decode_h5, midas_cfg, out, progress=False)
    assert exc.value.path == str(ckpt)
    assert_no_output(out)


def test_missing_weights_is_one_line_error_without_output(tmp_path, synth_config_path, cfg):
    missing = tmp_path / "nowhere" / "midas.pt"
    config = write_config(tmp_path, synth_config_path, backend=SMALL, weights=str(missing))
    decode_h5 = write_decode(
        tmp_path / "decode.h5", np.zeros((3, 64, 64, 3), np.uint8), tmp_path / "v.mp4", cfg
    )
    out = tmp_path / "depth.h5"
    with pytest.raises(AsmpError) as exc:
        run_cli(decode_h5, config, out)
    assert str(exc.value) == f"{missing}: weight file not found"
    assert_no_output(out)


def test_input_must_be_a_decode_file(tmp_path, cfg):
    with stage_file(tmp_path / "flow.h5", "flow", cfg) as f:
        f.create_dataset("x", data=np.zeros(1))
    with pytest.raises(AsmpError, match="expected a 'decode' stage file"):
        depth.depth(tmp_path / "flow.h5", cfg, tmp_path / "depth.h5")
