"""The training loop: model shapes, presets, exact resume, safe checkpoints, overfitting."""

from __future__ import annotations

import copy
import itertools

import numpy as np
import pytest
import torch

from asmp.errors import AsmpError
from asmp.evaluate.separation import direction_hits, sdr_of_batch
from asmp.train.checkpoint import load_checkpoint, save_checkpoint
from asmp.train.data import Mixture, ShardSet
from asmp.train.trainer import apply_preset, build_forward, make_sampler, train


def with_train(cfg, **train_keys):
    out = copy.deepcopy(cfg)
    out["train"].update(train_keys)
    return out


@pytest.mark.parametrize("n_objects", [1, 2])
def test_shapes_through_the_whole_pass(train_cfg, synth_shards, n_objects):
    cfg = apply_preset(copy.deepcopy(train_cfg))
    cfg["graph"]["max_auditory"] = n_objects
    shards = ShardSet(synth_shards)
    fwd = build_forward(cfg, int(shards.attrs["feature_dim"]), shards.attrs)
    sampler = make_sampler(cfg, shards, "train")
    batch = sampler.batch(sampler.draw(np.random.default_rng(0), 3))
    out = fwd(batch)
    S, V, K = n_objects + 1, 6, len(cfg["dataset"]["sound_classes"])
    B, T = cfg["audio"]["spectrogram_bins"], cfg["audio"]["spectrogram_frames"]
    assert out.y.shape == (V, S, cfg["model"]["embedding_dim"])
    assert out.masks.shape == (V, S, B, T) and out.mixture_mag.shape == (3, B, T)
    assert out.class_logits.shape == (V, S, K + 1)
    assert out.direction_logits.shape == (V, S, 6, cfg["model"]["direction_classes"])
    assert torch.all(out.masks[~batch.valid] == 0)
    assert set(out.terms) == {"consistency", "coseparation", "orthogonality", "direction"}
    assert all(torch.isfinite(v) for v in out.terms.values())


def test_presets_set_the_ablation():
    base = {"train": {"preset": "asmp"}, "graph": {"edge_mode": "rbf"}, "loss": {}}
    only = apply_preset(base, "direction_only")["loss"]
    assert only == {"consistency": 0.0, "coseparation": 0.0, "orthogonality": 0.0}
    g2d = apply_preset(base, "graph2d")
    assert g2d["graph"]["edge_mode"] == "uniform" and g2d["loss"]["direction"] == 0.0
    assert apply_preset(base, "multiscale_edges")["graph"]["edge_mode"] == "multiscale"
    assert base["graph"]["edge_mode"] == "rbf"  # the input is left alone
    with pytest.raises(AsmpError, match="unknown preset"):
        apply_preset(base, "nope")


def test_resume_continues_exactly(train_cfg, synth_shards, tmp_path):
    cfg = with_train(train_cfg, batch_size=1, validate_every=1000, checkpoint_every=1000)
    train(cfg, synth_shards, tmp_path / "straight", steps=40, progress=False)
    train(cfg, synth_shards, tmp_path / "split", steps=20, progress=False)
    train(cfg, synth_shards, tmp_path / "split", steps=40, resume=True, progress=False)
    a = load_checkpoint(tmp_path / "straight" / "last.pt")
    b = load_checkpoint(tmp_path / "split" / "last.pt")
    assert a["step"] == b["step"] == 40
    for key, value in a["model"].items():
        assert torch.allclose(value.double(), b["model"][key].double(), atol=1e-6, rtol=0), key
    rows = (tmp_path / "split" / "log.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == [str(s) for s in range(5, 41, 5)]
    with pytest.raises(AsmpError, match="already has 40 steps"):
        train(cfg, synth_shards, tmp_path / "split", steps=40, resume=True, progress=False)


class Payload:
    """Any class: unpickling it would run arbitrary code."""


def test_checkpoint_with_a_pickled_object_is_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"format": "asmp-checkpoint", "version": 1, "x": Payload()}, path)
    with pytest.raises(AsmpError, match="refused: the checkpoint holds a pickled object") as err:
        load_checkpoint(path)
    assert str(path) in str(err.value)
    save_checkpoint(tmp_path / "ok.pt", {"model": {"w": torch.ones(2)}})
    assert torch.equal(load_checkpoint(tmp_path / "ok.pt")["model"]["w"], torch.ones(2))
    torch.save({"model": {}}, tmp_path / "other.pt")
    with pytest.raises(AsmpError, match="not an asmp checkpoint"):
        load_checkpoint(tmp_path / "other.pt")


def test_training_fits_the_four_training_clips(overfit_run, synth_shards):
    """Issue 7's overfitting check: 300 steps on the 4 training clips raise the SDR of the
    training mixtures by at least 6 dB over the mixture and predict the objects'
    directions in more than 90% of their windows (model in eval mode)."""
    state = load_checkpoint(overfit_run)
    assert state["step"] == 300
    shards = ShardSet(synth_shards)
    sampler = make_sampler(state["config"], shards, "train")
    pairs = [
        Mixture(a, b, 0, 0)
        for a, b in itertools.combinations(sampler.videos, 2)
        if not (a.classes & b.classes)
    ]
    assert len(pairs) >= 4
    batch = sampler.batch(pairs)
    fwd = build_forward(state["config"], int(shards.attrs["feature_dim"]), shards.attrs)
    fwd.model.load_state_dict(state["model"])
    fwd.eval()
    with torch.no_grad():
        out = fwd(batch, losses=False)
    est, mix = sdr_of_batch(out, batch, fwd.hop, fwd.crop_samples)
    assert np.all(np.isfinite(est)) and est.shape == mix.shape == (2 * len(pairs),)
    assert est.mean() - mix.mean() >= 6.0, (est, mix)
    assert direction_hits(out.direction_logits, batch).mean() > 0.9
