"""``asmp separate`` on a synthetic clip."""

from __future__ import annotations

import csv
import json

import av
import h5py
import numpy as np
import pytest
import soundfile as sf
import torch

from asmp.errors import AsmpError
from asmp.evaluate.separate import crop_plan, separate
from asmp.io.shards import read_shard
from asmp.model import ASMP


@pytest.fixture(scope="module")
def clip(synth_shards):
    """A one-source test clip of the synthetic dataset and its classes."""
    data = synth_shards.parents[1] / "synth"
    rows = list(csv.DictReader(open(data / "manifest.csv", newline="")))
    row = next(r for r in rows if r["split"] == "test" and ";" not in r["classes"])
    return data / row["video"], row["classes"]


def test_one_track_per_object_and_background_whose_sum_is_the_mixture(
    clip, overfit_run, train_cfg, tmp_path, monkeypatch
):
    video, sound_class = clip
    # Masks that sum to one over the clip's two slots (its object and the background).
    monkeypatch.setattr(ASMP, "separate", lambda self, log_mix, y: torch.full_like(log_mix, 0.5))
    result = separate(video, overfit_run, tmp_path, train_cfg)
    names = [s["name"] for s in result["sources"]]
    assert names == [f"object0_{sound_class}", "background"]
    mixture = read_shard(tmp_path / "stages" / "record.h5")[0].waveform
    tracks = []
    for s in result["sources"]:
        audio, rate = sf.read(tmp_path / s["wav"])
        assert rate == 11025 and len(audio) == len(mixture) == result["samples"]
        tracks.append(audio)
    assert np.abs(np.sum(tracks, 0) - mixture).max() < 1e-3
    obj = result["sources"][0]
    assert len(obj["box"]) == 4 and len(obj["direction"]) == 4  # one per 1-s window
    assert json.loads((tmp_path / "sources.json").read_text()) == result
    assert (tmp_path / "sources.png").stat().st_size > 0


def test_trained_model_tracks_differ_and_the_annotated_video(
    clip, overfit_run, train_cfg, tmp_path
):
    result = separate(clip[0], overfit_run, tmp_path, train_cfg, video_out="background")
    a, _ = sf.read(tmp_path / result["sources"][0]["wav"])
    b, _ = sf.read(tmp_path / result["sources"][1]["wav"])
    assert not np.allclose(a, b)
    with h5py.File(tmp_path / "stages" / "decode.h5") as f:
        frames = f["frames"][()]
    with av.open(str(tmp_path / "background.mp4")) as c:
        video = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    with av.open(str(tmp_path / "background.mp4")) as c:
        samples = sum(f.samples for f in c.decode(audio=0))
    assert len(video) == len(frames) and samples >= len(b)
    # The object's box is drawn (red) on every frame; the original frame has no such edge.
    x1, y1, x2, y2 = (int(round(v)) for v in result["sources"][0]["box"])
    drawn = np.abs(video[0][y1, x1:x2].astype(int) - frames[0][y1, x1:x2]).mean()
    assert drawn > 30
    with pytest.raises(AsmpError, match="no source 'nope'"):
        separate(clip[0], overfit_run, tmp_path / "x", train_cfg, video_out="nope")


def test_checkpoint_of_other_classes_is_refused(clip, overfit_run, train_cfg, tmp_path):
    cfg = {**train_cfg, "dataset": {**train_cfg["dataset"], "sound_classes": ["x"]}}
    with pytest.raises(AsmpError, match="other sound classes"):
        separate(clip[0], overfit_run, tmp_path, cfg)


@pytest.mark.parametrize(
    ("n", "want"),
    [
        (44100, [0]),  # shorter than a crop: one zero-padded crop
        (76560, [0, 11025]),  # whole seconds reach the end exactly
        (110250, [0, 11025, 22050, 33075, 44100, 44715]),  # plus one crop ending at the end
    ],
)
def test_crop_plan_covers_the_clip(n, want):
    assert crop_plan(n, 11025, 65535) == want
