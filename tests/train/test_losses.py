"""The losses against brute force and closed forms."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F

from asmp.spectrogram import binary_mask, ratio_mask
from asmp.train.losses import (
    consistency_loss,
    coseparation_loss,
    direction_loss,
    orthogonality_loss,
    permutation_min,
)


def brute_min(logp: torch.Tensor, labels: list[int], fixed_last: bool = False) -> float:
    """min over orders of -sum_i logp[i, labels[order[i]]] for the n = len(labels) slots."""
    n = len(labels)
    best = float("inf")
    for order in itertools.permutations(range(n)):
        if fixed_last and order[n - 1] != n - 1:
            continue
        best = min(best, -sum(float(logp[i, labels[order[i]]]) for i in range(n)))
    return best


def random_case(gen, V=5, S=5, C=7):
    logits = torch.randn(V, S, C, generator=gen) * 3
    n_valid = torch.randint(1, S + 1, (V,), generator=gen)
    valid = torch.arange(S)[None] < n_valid[:, None]
    labels = torch.randint(1, C, (V, S), generator=gen)
    labels[torch.arange(V), n_valid - 1] = 0  # background last among the valid labels
    return logits, labels, valid, n_valid


@pytest.mark.parametrize("S", [1, 2, 3, 4, 5, 6])
@pytest.mark.parametrize("fixed_last", [False, True])
def test_consistency_equals_brute_force_minimum(S, fixed_last):
    gen = torch.Generator().manual_seed(S)
    logits, labels, valid, n_valid = random_case(gen, V=6, S=S)
    got = consistency_loss(logits, labels, valid, background_last=fixed_last)
    logp = logits.log_softmax(-1)
    want = [
        brute_min(logp[v, :n], labels[v, :n].tolist(), fixed_last) / n
        for v, n in enumerate(n_valid.tolist())
    ]
    assert got.item() == pytest.approx(sum(want) / len(want), rel=1e-5)


def test_permutation_min_returns_the_minimising_order():
    gen = torch.Generator().manual_seed(3)
    cost = torch.rand(4, 4, 4, generator=gen)
    valid = torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0], [1, 0, 0, 0], [1, 1, 0, 0]], dtype=bool)
    total, perm = permutation_min(cost, valid)
    for v in range(4):
        n = int(valid[v].sum())
        brute = min(
            sum(float(cost[v, i, o[i]]) for i in range(n)) for o in itertools.permutations(range(n))
        )
        assert total[v].item() == pytest.approx(brute, rel=1e-6)
        assert sorted(perm[v, :n].tolist()) == list(range(n))
        assert sum(float(cost[v, i, perm[v, i]]) for i in range(n)) == pytest.approx(brute)


def test_direction_loss_minimises_each_window_separately():
    gen = torch.Generator().manual_seed(1)
    V, S, W, D = 3, 3, 4, 10
    logits = torch.randn(V, S, W, D, generator=gen) * 2
    labels = torch.randint(0, D, (V, S, W), generator=gen)
    valid = torch.tensor([[1, 1, 1], [1, 1, 0], [1, 0, 0]], dtype=bool)
    window_valid = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0], [1, 1, 1, 0]], dtype=bool)
    got = direction_loss(logits, labels, valid, window_valid)
    logp = logits.log_softmax(-1)
    terms = []
    for v in range(V):
        n = int(valid[v].sum())
        for w in range(W):
            if window_valid[v, w]:
                terms.append(brute_min(logp[v, :n, w], labels[v, :n, w].tolist()) / n)
    assert got.item() == pytest.approx(sum(terms) / len(terms), rel=1e-5)


def test_padded_slots_carry_no_loss():
    gen = torch.Generator().manual_seed(2)
    logits, labels, valid, _ = random_case(gen, V=4, S=3)
    changed = logits.clone()
    changed[~valid] = torch.randn(int((~valid).sum()), logits.shape[-1]) * 100
    assert consistency_loss(changed, labels, valid) == consistency_loss(logits, labels, valid)


def test_orthogonality_zero_for_orthonormal_and_equals_eq1():
    q, _ = torch.linalg.qr(torch.randn(16, 16, generator=torch.Generator().manual_seed(0)))
    y = torch.stack([q[:3] * 5.0, q[3:6]])  # orthogonal rows, any length
    valid = torch.ones(2, 3, dtype=bool)
    assert orthogonality_loss(y, valid).item() == pytest.approx(0.0, abs=1e-10)
    assert orthogonality_loss(y, valid, "batch_mean").item() == pytest.approx(0.0, abs=1e-10)
    y = torch.randn(2, 3, 16, generator=torch.Generator().manual_seed(1))
    valid = torch.tensor([[1, 1, 1], [1, 1, 0]], dtype=bool)
    yn = F.normalize(y, dim=-1)
    per_video = [
        sum(float(yn[v, i] @ yn[v, j]) ** 2 for i in range(n) for j in range(n) if i != j)
        for v, n in enumerate([3, 2])
    ]
    assert orthogonality_loss(y, valid).item() == pytest.approx(sum(per_video) / 2, rel=1e-5)
    # Released form: per step t, square of the mean cosine to earlier valid steps.
    c1 = [float(yn[v, 1] @ yn[v, 0]) for v in range(2)]
    c2 = [float(yn[0, 2] @ yn[0, s]) for s in range(2)]
    want = (sum(c1) / 2) ** 2 + (sum(c2) / 2) ** 2
    assert orthogonality_loss(y, valid, "batch_mean").item() == pytest.approx(want, rel=1e-5)


def test_coseparation_targets():
    gen = torch.Generator().manual_seed(4)
    mags = torch.rand(4, 5, 6, generator=gen)  # 2 mixtures x 2 videos
    mix = mags.unflatten(0, (2, 2)).sum(1)
    valid = torch.tensor([[1, 1, 0], [1, 0, 0], [1, 1, 1], [1, 1, 0]], dtype=bool)
    masks = torch.rand(4, 3, 5, 6, generator=gen)
    total = (masks * valid[..., None, None]).sum(1)
    ibm = binary_mask(mags.unflatten(0, (2, 2)), dim=1).flatten(0, 1)
    got = coseparation_loss(masks, valid, mags, mix, "binary")
    assert got.item() == pytest.approx((total - ibm).abs().mean().item(), rel=1e-6)
    # An ideal prediction has zero loss.
    perfect = torch.zeros_like(masks)
    perfect[:, 0] = ibm
    assert coseparation_loss(perfect, valid, mags, mix, "binary").item() == 0.0
    irm = ratio_mask(mags, mix.repeat_interleave(2, 0))
    weight = torch.log1p(mix.repeat_interleave(2, 0)).clamp(1e-3, 10)
    got = coseparation_loss(masks, valid, mags, mix, "ratio")
    assert got.item() == pytest.approx((weight * (total - irm).abs()).mean().item(), rel=1e-6)
