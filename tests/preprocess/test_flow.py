"""The flow stage: DIS accuracy on MPI-Sintel, RAFT weight loading, the stage end to end."""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest
import torch
import yaml

from asmp.config import Config, load_config
from asmp.errors import AsmpError
from asmp.io.hdf5 import sha256_file
from asmp.preprocess import flow
from asmp.preprocess.common import read_stage, stage_file


def read_flo(path: Path) -> np.ndarray:
    """A Middlebury ``.flo`` file as ``[H,W,2]`` float32 ``(u, v)``."""
    raw = path.read_bytes()
    assert np.frombuffer(raw[:4], "<f4")[0] == 202021.25
    w, h = np.frombuffer(raw[4:12], "<i4")
    return np.frombuffer(raw[12:], "<f4").reshape(h, w, 2)


def read_rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


@pytest.mark.parametrize(("level", "max_epe"), [("easy", 0.5), ("medium", 2.5)])
def test_dis_sintel_epe(shared_dir: Path, level: str, max_epe: float) -> None:
    seq = shared_dir / "testdata" / "sintel-flow" / "clean" / level
    ref, tgt = (read_rgb(seq / f"frame_000{i}.png")[None] for i in (2, 3))
    est = flow.DisFlow()(ref, tgt)[0]
    epe = np.linalg.norm(est - read_flo(seq / "gt" / "frame_0002.flo"), axis=-1).mean()
    assert epe <= max_epe


@pytest.mark.parametrize("backend", ["raft_small", "raft_large"])
def test_raft_loads_torchvision_state_dict(tmp_path: Path, backend: str) -> None:
    build = flow.RAFT_MODELS[backend][0]
    torch.manual_seed(0)
    saved = build(weights=None).state_dict()
    path = tmp_path / f"{backend}.pth"
    torch.save(saved, path)
    model, sha = flow.load_raft(backend, str(path))
    assert sha == sha256_file(path)
    loaded = model.state_dict()
    assert list(loaded) == list(build(weights=None).state_dict())
    assert all(torch.equal(loaded[k], saved[k]) for k in saved)
    # 64x96 is padded to RAFT's 128x128 minimum and cropped back.
    frames = np.random.default_rng(0).integers(0, 256, (2, 1, 64, 96, 3), dtype=np.uint8)
    est = flow.RaftFlow(model, iterations=2, device=torch.device("cpu"))(*frames)
    assert est.shape == (1, 64, 96, 2) and est.dtype == np.float32 and np.isfinite(est).all()


def test_raft_rejects_wrong_weights(tmp_path: Path) -> None:
    path = tmp_path / "small.pth"
    torch.save(flow.RAFT_MODELS["raft_small"][0](weights=None).state_dict(), path)
    with pytest.raises(AsmpError, match="not a raft_large state dict"):
        flow.load_raft("raft_large", path)
    with pytest.raises(AsmpError, match="weight file not found"):
        flow.load_raft("raft_small", tmp_path / "missing.pth")


def shifted_frames(n: int, shift: tuple[float, float], size: tuple[int, int]) -> np.ndarray:
    """``[n,H,W,3]`` uint8: a smooth random texture moved by ``f * shift`` px in frame ``f``."""
    h, w = size
    noise = np.random.default_rng(1).random((h + 64, w + 64)).astype(np.float32)
    tex = cv2.normalize(cv2.GaussianBlur(noise, (0, 0), 2.0), None, 0, 255, cv2.NORM_MINMAX)
    frames = []
    for f in range(n):
        m = np.float32([[1, 0, f * shift[0] - 32], [0, 1, f * shift[1] - 32]])
        grey = cv2.warpAffine(tex, m, (w, h), flags=cv2.INTER_CUBIC)
        frames.append(np.repeat(np.clip(grey, 0, 255).astype(np.uint8)[..., None], 3, axis=-1))
    return np.stack(frames)


def write_decode(path: Path, frames: np.ndarray, cfg: Config) -> None:
    with stage_file(path, "decode", cfg) as f:
        f["frames"] = frames
        f.attrs["fps"] = 8.0
        f.attrs["source"] = "synthetic"


def run_stage(tmp_path: Path, cfg: Config, decode: Path, out: Path) -> int:
    cfg_path = tmp_path / "config.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg))
    parser = argparse.ArgumentParser()
    flow.add_arguments(parser)
    return flow.run(parser.parse_args([str(decode), "--config", str(cfg_path), "--out", str(out)]))


def test_stage_dis_recovers_shift(tmp_path: Path, synth_config_path: Path) -> None:
    cfg = load_config(synth_config_path)
    shift = np.array([1.5, -0.75])
    decode, out = tmp_path / "decode.h5", tmp_path / "flow.h5"
    write_decode(decode, shifted_frames(17, tuple(shift), (96, 128)), cfg)
    assert run_stage(tmp_path, cfg, decode, out) == 0
    with read_stage(out, "flow") as f:
        assert f.attrs["backend"] == "dis"
        np.testing.assert_array_equal(f["pairs"][()], [[0, 7], [8, 15]])
        est = f["flow"]
        assert est.shape == (2, 96, 128, 2) and est.dtype == np.float16
        assert est.chunks == (1, 96, 128, 2)
        err = np.abs(est[:, 16:-16, 16:-16].astype(np.float32) - 7 * shift)
    # Seven chained steps (the synth config chains) of a 1.7-px shift: sub-pixel overall.
    assert np.median(err) < 0.1


def test_stage_raft_from_config_weights(tmp_path: Path, synth_config_path: Path) -> None:
    weights = tmp_path / "raft_small.pth"
    torch.save(flow.RAFT_MODELS["raft_small"][0](weights=None).state_dict(), weights)
    over = {"flow": {"backend": "raft_small", "weights": str(weights), "raft_iterations": 2}}
    cfg = load_config(synth_config_path, over)
    decode, out = tmp_path / "decode.h5", tmp_path / "flow.h5"
    write_decode(decode, shifted_frames(8, (1.0, 0.0), (64, 72)), cfg)
    assert run_stage(tmp_path, cfg, decode, out) == 0
    with read_stage(out, "flow") as f:
        assert f.attrs["backend"] == "raft_small"
        assert f.attrs["weights_sha256"] == sha256_file(weights)
        assert f["flow"].shape == (1, 64, 72, 2)


def test_stage_rejects_short_video(tmp_path: Path, synth_config_path: Path) -> None:
    cfg = load_config(synth_config_path)
    decode, out = tmp_path / "decode.h5", tmp_path / "flow.h5"
    write_decode(decode, shifted_frames(5, (1.0, 0.0), (32, 32)), cfg)
    with pytest.raises(AsmpError, match="5 frames, shorter than one window of 8") as exc:
        run_stage(tmp_path, cfg, decode, out)
    assert exc.value.path == str(decode)
    assert not out.exists()
    with h5py.File(decode, "a") as f:
        f.attrs["kind"] = "stage/depth"
    with pytest.raises(AsmpError, match="expected a 'decode' stage file"):
        run_stage(tmp_path, cfg, decode, out)


def test_compose_follows_tracks() -> None:
    """Two steps: a uniform shift of +3 px then a field that depends on x: the composed flow
    at x samples the second step where the first step landed (x + 3)."""
    h, w = 8, 16
    first = np.zeros((h, w, 2), np.float32)
    first[..., 0] = 3.0
    second = np.zeros((h, w, 2), np.float32)
    second[..., 1] = np.arange(w, dtype=np.float32)[None, :] * 0.5
    total = flow.compose(np.stack([first, second]))
    np.testing.assert_allclose(total[..., 0], 3.0)
    expected_y = np.minimum(np.arange(w) + 3, w - 1) * 0.5  # edge-replicated outside
    np.testing.assert_allclose(total[..., 1], np.broadcast_to(expected_y, (h, w)))
