"""A tiny synthetic dataset shared by the synth tests (made once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest

from asmp.synth import generate

#: Small but complete: 3 clips (train, val, test), 2 windows each, every camera motion.
TINY = {"clips": 3, "seed": 7, "duration": 2.0, "height": 96, "width": 128}


@pytest.fixture(scope="session")
def tiny() -> dict:
    """The arguments of :func:`asmp.synth.generate` that made ``tiny_dataset``."""
    return dict(TINY)


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate(tmp_path_factory.mktemp("synth") / "data", **TINY)
