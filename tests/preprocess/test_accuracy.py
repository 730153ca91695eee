"""Preprocessing I against synthetic ground truth (issue acceptance): 20 clips with camera
motion, ground-truth depth and boxes, DIS flow; decode -> depth -> rectify -> flow ->
motion, scored by ``asmp synth-score``."""

from __future__ import annotations

import json

import pytest

from asmp.cli import main
from asmp.config import load_config
from asmp.preprocess.decode import decode
from asmp.preprocess.depth import depth
from asmp.preprocess.flow import flow
from asmp.preprocess.motion import motion
from asmp.preprocess.rectify import rectify
from asmp.synth import generate


def run_stages(video, gt, cfg, results):
    clip = video.stem
    path = {
        s: results / "stages" / s / f"{clip}.h5"
        for s in ("decode", "depth", "rectify", "flow", "motion")
    }
    decode(video, cfg, path["decode"], progress=False)
    depth(path["decode"], cfg, path["depth"], progress=False)
    rectify(path["decode"], path["depth"], cfg, path["rectify"], boxes=gt)
    flow(path["decode"], cfg, path["flow"])
    motion(path["depth"], path["rectify"], path["flow"], gt, cfg, path["motion"])


@pytest.fixture(scope="module")
def scored(tmp_path_factory, synth_config_path):
    root = tmp_path_factory.mktemp("accuracy")
    cfg = load_config(synth_config_path, {"flow": {"backend": "dis"}})
    data = root / "synth"
    generate(data / "pan", clips=10, seed=11, camera="pan", duration=4.0)
    generate(data / "dolly", clips=10, seed=12, camera="dolly", duration=4.0)
    for sub in ("pan", "dolly"):
        for video in sorted((data / sub / "videos").glob("*.mp4")):
            run_stages(video, data / sub / "gt" / f"{video.stem}.h5", cfg, root / sub)
    return {sub: (data / sub, root / sub) for sub in ("pan", "dolly")}


def score(capsys, synth, results):
    assert main(["synth-score", "--synth", str(synth), "--results", str(results)]) == 0
    return json.loads(capsys.readouterr().out)


def test_direction_labels_and_camera_recovered(scored, capsys):
    parts = {sub: score(capsys, *paths) for sub, paths in scored.items()}
    n = sum(p["object_windows"] for p in parts.values())
    assert sum(p["clips"] for p in parts.values()) == 20 and n >= 100

    def pooled(key):
        return sum(p[key] * p["object_windows"] for p in parts.values()) / n

    print("synth-score:", json.dumps(parts))
    assert pooled("direction10_agreement") >= 0.85
    assert pooled("direction28_agreement") >= 0.70
    for p in parts.values():
        assert p["camera_rotation_error_deg"] < 1.0
        assert p["depth_rank_correlation"] == pytest.approx(1.0, abs=1e-3)
