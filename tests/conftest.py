"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
#: Third-party data with known answers, beside the checkout (../shared in CI).
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """``../shared``. Tests that need it skip with a clear message when it is absent on a
    developer's machine; in CI (``CI`` set), where it is always present, they fail instead,
    so a missing folder can never pass for a green run."""
    if not (SHARED / "testdata").is_dir():
        message = f"third-party test data not found at {SHARED / 'testdata'}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return SHARED


@pytest.fixture(scope="session")
def synth_config_path() -> Path:
    return REPO / "workflow" / "config" / "synth.yaml"


@pytest.fixture(scope="session")
def frcnn_checkpoint(tmp_path_factory) -> Path:
    """Randomly initialised Faster R-CNN v2 weights in torchvision's format (the official
    file cannot be downloaded here); the gt detect backend describes true boxes with it."""
    import torch

    from asmp.preprocess.detect import build_torchvision

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "frcnn_v2_random.pth"
    torch.save(build_torchvision().state_dict(), path)
    return path


#: 8 synthetic clips of 4 s: 4 train, 2 val, 2 test.
SPLITS = ["train"] * 4 + ["val"] * 2 + ["test"] * 2


@pytest.fixture(scope="session")
def train_cfg(synth_config_path, frcnn_checkpoint) -> dict:
    """The synth config with the random detector weights and a tiny, fast schedule."""
    from asmp.config import load_config

    return load_config(
        synth_config_path,
        {
            "detect": {"weights": str(frcnn_checkpoint)},
            "train": {
                "batch_size": 4,
                "num_workers": 0,
                "log_every": 5,
                "validate_every": 10,
                "validation_mixtures": 4,
                "checkpoint_every": 10,
            },
        },
    )


@pytest.fixture(scope="session")
def synth_shards(tmp_path_factory, train_cfg) -> Path:
    """The shard manifest of 8 preprocessed synthetic clips."""
    from asmp.io.shards import pack
    from asmp.preprocess import preprocess
    from asmp.synth import generate

    root = tmp_path_factory.mktemp("train_data")
    data = generate(root / "synth", clips=len(SPLITS), seed=5, duration=4.0)
    videos = sorted((data / "videos").glob("*.mp4"))
    records = [
        preprocess(v, train_cfg, root / "records" / f"{v.stem}.h5", split=split)
        for v, split in zip(videos, SPLITS, strict=True)
    ]
    pack(records, root / "shards", records_per_shard=3)
    return root / "shards" / "manifest.csv"


@pytest.fixture(scope="session")
def overfit_run(tmp_path_factory, train_cfg, synth_shards) -> Path:
    """``last.pt`` of the small model trained 300 steps on the 4 training clips: the synth
    config's short-schedule options, 128 warped bins, 6 mixtures per step, lr 1e-3."""
    import copy

    from asmp.train.trainer import train

    cfg = copy.deepcopy(train_cfg)
    cfg["audio"]["spectrogram_bins"] = 128
    cfg["train"].update(batch_size=6, lr=1e-3, validate_every=100, log_every=25)
    out = tmp_path_factory.mktemp("overfit")
    train(cfg, synth_shards, out, steps=300, progress=False)
    return out / "last.pt"
