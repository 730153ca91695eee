"""``asmp inspect`` reads every kind of file the project writes (stage outputs, synthetic
ground truth, shards) and names its kind."""

from __future__ import annotations

import h5py
import pytest

from asmp.cli import main
from asmp.config import load_config
from asmp.preprocess.audio import audio
from asmp.preprocess.decode import decode
from asmp.preprocess.depth import depth
from asmp.preprocess.flow import flow
from asmp.preprocess.motion import motion
from asmp.preprocess.rectify import rectify
from asmp.synth import generate


@pytest.fixture(scope="module")
def files(tmp_path_factory, synth_config_path):
    root = tmp_path_factory.mktemp("inspect")
    cfg = load_config(synth_config_path)
    data = generate(root / "synth", clips=1, seed=3, duration=2.0)
    video = next((data / "videos").glob("*.mp4"))
    gt = data / "gt" / f"{video.stem}.h5"
    out = {s: root / f"{s}.h5" for s in ("decode", "depth", "rectify", "flow", "motion", "audio")}
    decode(video, cfg, out["decode"], progress=False)
    depth(out["decode"], cfg, out["depth"], progress=False)
    rectify(out["decode"], out["depth"], cfg, out["rectify"], boxes=gt)
    flow(out["decode"], cfg, out["flow"])
    motion(out["depth"], out["rectify"], out["flow"], gt, cfg, out["motion"])
    audio(out["decode"], cfg, out["audio"])
    return {**out, "gt": gt}


@pytest.mark.parametrize("name", ["decode", "depth", "rectify", "flow", "motion", "audio", "gt"])
def test_inspect_reads_every_file(files, name, capsys):
    assert main(["inspect", str(files[name])]) == 0
    out = capsys.readouterr().out
    with h5py.File(files[name]) as f:
        kind = f.attrs["kind"]
        datasets = []
        f.visititems(lambda n, o: datasets.append(n) if isinstance(o, h5py.Dataset) else None)
    assert f"kind={kind}" in out.splitlines()[0]
    assert all(n.rsplit("/", 1)[-1] + ":" in out for n in datasets)
