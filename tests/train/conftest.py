"""Synthetic shards for the trainer tests (made once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest

from asmp.config import load_config
from asmp.io.shards import pack
from asmp.preprocess import preprocess
from asmp.synth import generate

#: 8 synthetic clips of 4 s: 4 train, 2 val, 2 test.
SPLITS = ["train"] * 4 + ["val"] * 2 + ["test"] * 2


@pytest.fixture(scope="session")
def train_cfg(synth_config_path, frcnn_checkpoint) -> dict:
    """The synth config with the random detector weights and a tiny, fast schedule."""
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
    root = tmp_path_factory.mktemp("train_data")
    data = generate(root / "synth", clips=len(SPLITS), seed=5, duration=4.0)
    videos = sorted((data / "videos").glob("*.mp4"))
    records = [
        preprocess(v, train_cfg, root / "records" / f"{v.stem}.h5", split=split)
        for v, split in zip(videos, SPLITS, strict=True)
    ]
    pack(records, root / "shards", records_per_shard=3)
    return root / "shards" / "manifest.csv"
