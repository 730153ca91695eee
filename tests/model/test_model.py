"""The ASMP networks: shapes, mask range, graph permutation invariance, parameter counts."""

from __future__ import annotations

import pytest
import torch

from asmp.config import load_config
from asmp.model import ASMP, SIZES, GraphEncoder, ModelSpec

D = 48  # any detector feature size works
K = 5
#: The released code's configuration (fact sheet sections 1 and 6).
RELEASED = dict(
    graph_readout="sum",
    decoder_activation="relu",
    condition="raw",
    direction_visual=False,
    direction_logit_norm=True,
)


def graph_batch(
    node_counts: list[int], seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """PyG-style batch of fully connected graphs: x [Nn,D], edge_index [2,Ne], edge_weight
    [Ne] (symmetric), batch [Nn]."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(sum(node_counts), D, generator=g)
    edges, weights, batch, offset = [], [], [], 0
    for gid, n in enumerate(node_counts):
        w = torch.rand(n, n, generator=g)
        w = (w + w.T) / 2
        for i in range(n):
            for j in range(n):
                if i != j:
                    edges.append((offset + i, offset + j))
                    weights.append(w[i, j])
        batch += [gid] * n
        offset += n
    edge_index = torch.tensor(edges, dtype=torch.long).reshape(-1, 2).T.contiguous()
    return x, edge_index, torch.stack(weights), torch.tensor(batch)


@pytest.fixture(scope="module")
def small() -> ASMP:
    torch.manual_seed(0)
    return ASMP(ModelSpec(feature_dim=D, sound_classes=K, width=SIZES["small"]))


@pytest.mark.parametrize("slots", [2, 3])
def test_shapes_through_the_model(small: ASMP, slots: int) -> None:
    counts = [4, 1, 6]  # a one-node graph has no edges
    x, ei, ew, batch = graph_batch(counts, seed=slots)
    small.train()
    y = small.embed(x.double(), ei, ew, batch, num_graphs=len(counts), slots=slots)
    assert y.shape == (len(counts), slots, 512)
    flat = y.reshape(-1, 512)
    m = flat.shape[0]
    log_mix = torch.randn(m, 1, 256, 256)
    mask = small.separate(log_mix, flat)
    assert mask.shape == (m, 1, 256, 256)
    assert mask.min() >= 0 and mask.max() <= 1
    assert small.classify(torch.log(mask * log_mix.exp() + 1e-10)).shape == (m, K + 1)
    assert small.direction(log_mix[..., :44], flat).shape == (m, 28)
    loss = mask.mean() + y.square().mean()
    loss.backward()
    assert small.node_mlp[0].weight.grad is not None
    small.zero_grad()


@pytest.mark.parametrize("train", [False, True])
def test_embed_is_invariant_to_node_order(small: ASMP, train: bool) -> None:
    counts = [3, 5, 4]
    x, ei, ew, batch = graph_batch(counts, seed=1)
    g = torch.Generator().manual_seed(2)
    # Relabel nodes within each graph, then shuffle the edge list.
    offsets = [sum(counts[:i]) for i in range(len(counts))]
    pairs = zip(counts, offsets, strict=True)
    perm = torch.cat([torch.randperm(n, generator=g) + o for n, o in pairs])
    inverse = torch.empty_like(perm)
    inverse[perm] = torch.arange(len(perm))
    order = torch.randperm(ei.shape[1], generator=g)
    x2, ei2, ew2 = x[perm], inverse[ei][:, order], ew[order]
    assert not torch.equal(x2, x)
    small.train(train)
    with torch.no_grad():
        y1 = small.embed(x, ei, ew, batch, 3, 3)
        y2 = small.embed(x2, ei2, ew2, batch[perm], 3, 3)
        # Moving features without their edges changes the result: the edges matter.
        y3 = small.embed(x2, ei, ew, batch, 3, 3)
    torch.testing.assert_close(y2, y1, atol=1e-5, rtol=0)
    assert (y3 - y1).abs().max() > 1e-4


def test_separate_rejects_sizes_that_are_not_multiples_of_128(small: ASMP) -> None:
    y = torch.randn(2, 512)
    with pytest.raises(ValueError, match="multiples of 128"):
        small.separate(torch.randn(2, 1, 100, 256), y)
    with pytest.raises(ValueError, match="multiples of 128"):
        small.separate(torch.randn(2, 1, 256, 200), y)
    assert small.separate(torch.randn(2, 1, 128, 384), y).shape == (2, 1, 128, 384)


@pytest.mark.parametrize("visual", [True, False])
@pytest.mark.parametrize("w", [16, 43, 44])
def test_direction_slice_widths(visual: bool, w: int) -> None:
    spec = ModelSpec(
        feature_dim=D, sound_classes=K, direction_classes=10, width=0.125, direction_visual=visual
    )
    model = ASMP(spec).eval()
    logits = model.direction(torch.randn(3, 1, 256, w), torch.randn(3, 512))
    assert logits.shape == (3, 10)


def test_condition_variants_differ_only_in_scale(small: ASMP) -> None:
    def variant(condition: str) -> ASMP:
        model = ASMP(ModelSpec(feature_dim=D, sound_classes=K, width=0.125, condition=condition))
        model.load_state_dict(small.state_dict())
        return model.eval()

    raw, scaled = variant("raw"), variant("scaled")
    small.eval()
    log_mix, y = torch.randn(2, 1, 128, 128), torch.randn(2, 512)
    unit = torch.nn.functional.normalize(y, dim=-1)
    with torch.no_grad():
        torch.testing.assert_close(small.separate(log_mix, 3 * y), raw.separate(log_mix, unit))
        # scaled: the unit vector times sqrt(E), whatever y's norm.
        torch.testing.assert_close(
            scaled.separate(log_mix, 3 * y), raw.separate(log_mix, unit * 512**0.5)
        )


def test_feature_standardization_is_applied_before_the_node_mlp(small: ASMP) -> None:
    spec = ModelSpec(feature_dim=D, sound_classes=K, width=0.125, feature_norm="standardize")
    model = ASMP(spec)
    model.load_state_dict(small.state_dict(), strict=False)
    assert {"feature_mean", "feature_std"} <= set(model.state_dict())
    x, ei, ew, batch = graph_batch([3, 4], seed=3)
    mean, std = torch.randn(D), torch.rand(D) + 0.5
    std[0] = 0.0  # a feature constant in training is divided by the floor, not by zero
    model.set_feature_statistics(mean, std)
    floor = 0.01 * float(std.mean())
    expected_std = std.clone()
    expected_std[0] = floor
    model.eval()
    small.eval()
    with torch.no_grad():
        got = model.embed(x, ei, ew, batch, 2, 3)
        want = small.embed((x - mean) / expected_std, ei, ew, batch, 2, 3)
    torch.testing.assert_close(got, want)
    with pytest.raises(ValueError, match="feature_norm"):
        small.set_feature_statistics(mean, std)


def test_autocast_bf16(small: ASMP) -> None:
    x, ei, ew, batch = graph_batch([3, 2])
    small.eval()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        y = small.embed(x, ei, ew, batch, 2, 2).reshape(-1, 512)
        mask = small.separate(torch.randn(4, 1, 128, 128), y)
        assert small.classify(mask).shape == (4, K + 1)
        assert small.direction(mask[..., :44], y).shape == (4, 28)
    assert torch.isfinite(mask.float()).all()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_autocast_bf16() -> None:
    model = ASMP(ModelSpec(feature_dim=D, sound_classes=K, width=0.125)).cuda()
    x, ei, ew, batch = (t.cuda() for t in graph_batch([3, 2]))
    with torch.autocast("cuda", dtype=torch.bfloat16):
        y = model.embed(x, ei, ew, batch, 2, 3).reshape(-1, 512)
        mask = model.separate(torch.randn(6, 1, 256, 256, device="cuda"), y)
        loss = mask.float().mean() + model.classify(mask).float().mean()
        loss = loss + model.direction(mask[..., :44], y).float().mean()
    loss.backward()
    assert mask.shape == (6, 1, 256, 256) and torch.isfinite(loss)


def test_released_paper_size_parameter_counts() -> None:
    counts = ASMP(ModelSpec(feature_dim=2048, sound_classes=14, **RELEASED)).parameter_counts()
    assert counts == {
        "node_mlp": 2_622_976,
        "graph": 264_192,
        "gru": 1_575_936,
        "separator": 46_022_785,
        "classifier": 11_177_935,
        "direction_encoder": 11_432_896,
        "direction_head": 139_092,
        "total": 73_235_812,
    }
    graph = GraphEncoder(512, "sum")
    assert sum(p.numel() for p in graph.gat.parameters()) == 132_352
    assert sum(p.numel() for p in graph.edge_conv.parameters()) == 131_840


def test_spec_from_config(synth_config_path) -> None:
    cfg = load_config(synth_config_path)
    spec = ModelSpec.from_config(cfg, feature_dim=D)
    assert spec.width == SIZES[cfg["model"]["size"]]
    assert spec.sound_classes == len(cfg["dataset"]["sound_classes"])
    assert spec.graph_readout == cfg["model"]["graph_readout"]
    with pytest.raises(ValueError, match="multiple of heads"):
        ModelSpec(feature_dim=D, sound_classes=K, embedding_dim=20, graph_readout="sum")
