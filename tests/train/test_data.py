"""Mix-and-separate batches against the records they come from."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from asmp.errors import AsmpError
from asmp.graph import edge_weights
from asmp.io.shards import ShardReader
from asmp.spectrogram import stft
from asmp.train.data import MixtureSampler, ShardSet, StepBatches, fixed_mixtures


@pytest.fixture(scope="module")
def shards(synth_shards):
    return ShardSet(synth_shards)


def sampler(shards, split="train", mode="rbf", classes=28):
    return MixtureSampler(shards, split, 3, classes, mode, 25.0)


def record(shards, ref):
    return ShardReader(shards.readers[ref.shard].path)[ref.index]


def test_pairs_share_no_sound_class_and_come_from_the_split(shards):
    s = sampler(shards)
    mixtures = s.draw(np.random.default_rng(0), 50)
    assert {m.a.split for m in mixtures} | {m.b.split for m in mixtures} == {"train"}
    assert all(not (m.a.classes & m.b.classes) and m.a != m.b for m in mixtures)
    assert fixed_mixtures(sampler(shards, "val"), 3, 0) == fixed_mixtures(
        sampler(shards, "val"), 3, 0
    )


def test_mixture_stft_is_the_stft_of_the_summed_crops(shards):
    s = sampler(shards)
    m = s.draw(np.random.default_rng(1), 1)[0]
    batch = s.batch([m])
    attrs = shards.attrs
    crop, n_fft, hop = int(attrs["crop_samples"]), int(attrs["n_fft"]), int(attrs["hop_length"])
    waves = []
    for ref, c in ((m.a, m.crop_a), (m.b, m.crop_b)):
        rec = record(shards, ref)
        start = int(rec.crop_start[c])
        w = np.zeros(crop, np.float32)
        piece = rec.waveform[start : start + crop]
        w[: len(piece)] = piece
        waves.append(w)
    want = stft(torch.from_numpy(waves[0] + waves[1]), n_fft, hop)
    got = batch.stft[0] + batch.stft[1]
    assert torch.allclose(got, want, atol=1e-4 * want.abs().max())


def test_labels_directions_and_edges_follow_the_record(shards):
    s = sampler(shards, classes=10)
    m = s.draw(np.random.default_rng(2), 1)[0]
    batch = s.batch([m])
    classes = shards.attrs["sound_classes"]
    for u, ref in enumerate((m.a, m.b)):
        rec = record(shards, ref)
        n_obj = len(rec.object_node)
        assert batch.valid[u].tolist() == [k <= n_obj for k in range(3)]
        want = [classes[c] for c in rec.object_sound_class]
        assert [classes[int(c) - 1] for c in batch.labels[u, :n_obj]] == want
        assert int(batch.labels[u, n_obj]) == 0
        W = rec.n_windows
        for k in range(batch.directions.shape[-1]):
            assert bool(batch.window_valid[u, k]) == (k < W)
            col = batch.directions[u, :, k].tolist()
            if k < W:
                assert col[:n_obj] == rec.motion_direction10[:, k].tolist()
            assert col[n_obj:] == [9] * (3 - n_obj)
    # rbf weights recomputed from the Chamfer distances equal the graph stage's stored ones.
    rec = record(shards, m.a)
    n = len(rec.node_box)
    nodes = batch.node_batch == 0
    assert int(nodes.sum()) == n
    keep = batch.node_batch[batch.edge_index[0]] == 0
    ei, ew = batch.edge_index[:, keep].numpy(), batch.edge_weight[keep].numpy()
    stored = np.eye(n)
    i, j = rec.edge_index.T
    stored[i, j] = stored[j, i] = rec.edge_weight
    assert len(ew) == n * (n - 1)
    np.testing.assert_allclose(ew, stored[ei[0], ei[1]], atol=1e-6)


def test_edge_mode_is_applied_from_the_distances(shards):
    s = sampler(shards, mode="uniform")
    assert torch.all(s.batch(s.draw(np.random.default_rng(3), 2)).edge_weight == 1)
    s = sampler(shards, mode="multiscale")
    m = s.draw(np.random.default_rng(3), 1)[0]
    rec = record(shards, m.a)
    n = len(rec.node_box)
    dist = np.zeros((n, n))
    i, j = rec.edge_index.T
    dist[i, j] = dist[j, i] = rec.edge_chamfer
    want = edge_weights(dist, "multiscale")
    b = s.batch([m])
    keep = b.node_batch[b.edge_index[0]] == 0
    ei = b.edge_index[:, keep].numpy()
    np.testing.assert_allclose(b.edge_weight[keep].numpy(), want[ei[0], ei[1]], atol=1e-6)


def test_step_batches_are_a_function_of_seed_step_and_rank(shards):
    s = sampler(shards)
    a, b = StepBatches(s, 2, seed=0), StepBatches(s, 2, seed=0)
    assert torch.equal(a[7].stft, b[7].stft) and torch.equal(a[7].x, b[7].x)
    assert not torch.equal(StepBatches(s, 2, seed=0, rank=1)[7].x, a[7].x) or not torch.equal(
        a[8].x, a[7].x
    )


def test_feature_statistics_are_those_of_every_training_node(shards):
    nodes = np.concatenate(
        [record(shards, ref).node_feature for ref in shards.split("train")]
    ).astype(np.float64)
    mean, std = shards.feature_statistics("train")
    assert mean.shape == std.shape == (int(shards.attrs["feature_dim"]),)
    np.testing.assert_allclose(mean.numpy(), nodes.mean(0), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(std.numpy(), nodes.std(0), rtol=1e-4, atol=1e-6)
    with pytest.raises(AsmpError, match="split 'nope' has no videos"):
        shards.feature_statistics("nope")
