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
