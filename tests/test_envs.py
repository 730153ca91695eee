"""The conda environments of the workflow pin what uv.lock pins."""

from __future__ import annotations

import tomllib

import pytest
import yaml


@pytest.mark.parametrize("env", ["preprocess", "train"])
def test_env_pins_match_the_lock_file(repo_root, env):
    lock = tomllib.loads((repo_root / "uv.lock").read_text())
    locked: dict[str, set[str]] = {}
    for p in lock["package"]:
        locked.setdefault(p["name"], set()).add(p.get("version"))
    spec = yaml.safe_load((repo_root / "envs" / f"{env}.yaml").read_text())
    pip = next(d["pip"] for d in spec["dependencies"] if isinstance(d, dict))
    pins = dict(line.split("==") for line in pip)
    assert pins, env
    # The lock may fork per Python version; a pin must be one of the locked versions.
    assert {name: v for name, v in pins.items() if v not in locked.get(name, set())} == {}
    project = lock_project_deps(lock)
    assert set(pins) <= project


def lock_project_deps(lock: dict) -> set[str]:
    """Names of the asmp package's direct dependencies in the lock file."""
    asmp = next(p for p in lock["package"] if p["name"] == "asmp")
    return {d["name"] for d in asmp["dependencies"]}
