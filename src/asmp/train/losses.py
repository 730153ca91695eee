"""The four training losses of ASMP (paper section 3.4; docs/training.md).

Shapes: ``V`` videos (two per mixture), ``S`` slots per video (GRU steps: the objects, then
the background, then padding), ``B x T`` warped spectrogram bins x frames, ``W`` windows.
A video with ``O`` auditory objects has valid slots ``0..O``; its labels list the objects'
classes and then the background's, in that order, so slot and label validity are the same
prefix. Each term is the paper's, averaged over videos (and slots, windows or
time-frequency bins) so that the weights of the released code apply.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import cache
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from asmp.spectrogram import binary_mask, ratio_mask

#: Cost that keeps a valid slot from taking a padded label and the reverse.
_FORBIDDEN = 1e9
#: Largest slot count whose permutations are enumerated (8! = 40320 orders).
MAX_SLOTS = 8


@cache
def _permutations(n: int, device: torch.device) -> Tensor:
    """Every permutation of ``range(n)``, ``[n!, n]`` long."""
    if n > MAX_SLOTS:
        raise ValueError(f"{n} slots: the exact permutation search handles at most {MAX_SLOTS}")
    return torch.tensor(list(itertools.permutations(range(n))), device=device).reshape(-1, n)


def permutation_min(
    cost: Tensor, valid: Tensor, background: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """Exact minimum over slot orders of a summed assignment cost.

    Args:
        cost: ``[..., S, S]``, ``cost[..., i, j]`` the cost of slot ``i`` taking label ``j``.
        valid: ``[..., S]`` bool, which slots (equally, labels) exist.
        background: ``[...]`` long index of the background slot/label; when given it stays
            matched to itself (the released code's search), otherwise every order counts
            (paper Eqs. 2-3).

    Returns:
        ``(total [...], perm [..., S])``: the smallest ``sum_i cost[i, perm[i]]`` over valid
        slots, and the label each slot takes in it (padded slots take padded labels).
    """
    S = cost.shape[-1]
    both = valid[..., :, None] & valid[..., None, :]
    either = valid[..., :, None] | valid[..., None, :]
    masked = torch.where(both, cost, torch.where(either, _FORBIDDEN, 0.0).to(cost.dtype))
    if background is not None:
        idx = torch.arange(S, device=cost.device)
        is_bg = idx == background[..., None]
        clash = is_bg[..., :, None] ^ is_bg[..., None, :]
        masked = torch.where(clash & both, _FORBIDDEN, masked)
    perms = _permutations(S, cost.device)  # [P, S]
    picked = masked[..., torch.arange(S, device=cost.device), perms]  # [..., P, S]
    totals = picked.sum(-1)
    best = totals.argmin(-1)
    return totals.gather(-1, best[..., None])[..., 0], perms[best]


def _slot_cross_entropy(
    logits: Tensor, labels: Tensor, valid: Tensor, background: Tensor | None
) -> tuple[Tensor, Tensor]:
    """Per-group permutation-minimised cross entropy summed over slots.

    ``logits [..., S, C]``, ``labels [..., S]``, ``valid [..., S]`` -> ``(total [...], perm)``.
    """
    logp = logits.float().log_softmax(-1)
    S = labels.shape[-1]
    idx = labels.clamp(min=0)[..., None, :].expand(*labels.shape[:-1], S, S)
    cost = -logp.gather(-1, idx)  # [..., i, j] = -log p_i(label_j)
    return permutation_min(cost, valid, background)


def consistency_loss(
    logits: Tensor, labels: Tensor, valid: Tensor, background_last: bool = False
) -> Tensor:
    """Paper Eq. 2: cross entropy of the consistency classifier, minimised over slot orders.

    Args:
        logits: ``[V, S, K+1]`` classifier logits of each slot's separated spectrogram.
        labels: ``[V, S]`` long, 1-based sound classes of the objects then 0 (background).
        valid: ``[V, S]`` bool.
        background_last: keep the background matched to itself (released code).

    Returns:
        scalar: the minimised sum over a video's slots divided by its slot count, averaged
        over videos.
    """
    bg = _background(valid) if background_last else None
    total, _ = _slot_cross_entropy(logits, labels, valid, bg)
    return (total / valid.sum(-1).clamp(min=1)).mean()


def direction_loss(
    logits: Tensor,
    labels: Tensor,
    valid: Tensor,
    window_valid: Tensor,
    background_last: bool = False,
) -> Tensor:
    """Paper Eq. 3: per-window direction cross entropy, each window minimised over slot orders.

    Args:
        logits: ``[V, S, W, D]`` direction logits per slot and window.
        labels: ``[V, S, W]`` long direction classes (background slot: the background class).
        valid: ``[V, S]`` bool slots; padded slots carry no loss.
        window_valid: ``[V, W]`` bool, windows inside the video.

    Returns:
        scalar: the per-window minimum divided by the video's slot count, averaged over valid
        windows (0 when there are none).
    """
    per_window = logits.transpose(1, 2)  # [V, W, S, D]
    slot_valid = valid[:, None, :].expand(-1, logits.shape[2], -1)
    bg = _background(slot_valid) if background_last else None
    total, _ = _slot_cross_entropy(per_window, labels.transpose(1, 2), slot_valid, bg)
    total = total / valid.sum(-1, keepdim=True).clamp(min=1)
    w = window_valid.to(total.dtype)
    return (total * w).sum() / w.sum().clamp(min=1)


def orthogonality_loss(
    y: Tensor, valid: Tensor, form: Literal["pairwise", "batch_mean"] = "pairwise"
) -> Tensor:
    """Orthogonality of a video's slot embeddings.

    Args:
        y: ``[V, S, E]`` GRU outputs (normalised here).
        valid: ``[V, S]`` bool.
        form: ``pairwise`` (paper Eq. 1): ``sum_{i != j} (y_i . y_j)^2`` over a video's
            valid slots, averaged over videos; ``batch_mean`` (released code): for each
            step ``t``, the square of the mean cosine between ``y_t`` and every earlier
            valid step over the batch, summed over ``t``.

    Returns:
        scalar, 0 for orthonormal embeddings.
    """
    yn = F.normalize(y.float(), dim=-1)
    gram = yn @ yn.transpose(1, 2)  # [V, S, S]
    pair = valid[:, :, None] & valid[:, None, :]
    if form == "pairwise":
        off = pair & ~torch.eye(y.shape[1], dtype=torch.bool, device=y.device)
        return (gram.square() * off).sum((1, 2)).mean()
    earlier = pair & torch.ones_like(pair).tril(-1)  # [V, t, s]: s < t
    count = earlier.sum((0, 2))
    mean_cos = (gram * earlier).sum((0, 2)) / count.clamp(min=1)
    return (mean_cos.square() * (count > 0)).sum()


def coseparation_loss(
    masks: Tensor,
    valid: Tensor,
    video_mags: Tensor,
    mixture_mags: Tensor,
    target: Literal["binary", "ratio"] = "binary",
) -> Tensor:
    """Co-separation ("cyclic") loss: the sum of a video's slot masks against its mask in
    the mixture.

    Args:
        masks: ``[V, S, B, T]`` predicted masks (V = 2 x mixtures, videos of a mixture
            adjacent).
        valid: ``[V, S]`` bool.
        video_mags: ``[V, B, T]`` warped magnitudes of each video's own audio.
        mixture_mags: ``[V // 2, B, T]`` warped magnitudes of the mixtures.
        target: ``binary`` (paper): L1 to the ideal binary mask ``1[X_u > X_other]``;
            ``ratio`` (released code): L1 to ``clamp(|X_u| / (|X_mix| + 1e-10), 0, 5)``
            weighted by ``clamp(log1p |X_mix|, 1e-3, 10)``.

    Returns:
        scalar: mean absolute error over bins and videos.
    """
    total = (masks.float() * valid[..., None, None]).sum(1)  # [V, B, T]
    pairs = video_mags.float().unflatten(0, (-1, 2))  # [M, 2, B, T]
    if target == "binary":
        goal = binary_mask(pairs, dim=1).flatten(0, 1)
        return (total - goal).abs().mean()
    mix = mixture_mags.float()[:, None]
    goal = ratio_mask(pairs, mix).flatten(0, 1)
    weight = torch.log1p(mix).clamp(1e-3, 10.0).expand_as(pairs).flatten(0, 1)
    return (weight * (total - goal).abs()).mean()


def _background(valid: Tensor) -> Tensor:
    """Index ``[...]`` of the background slot: the last valid one."""
    return valid.sum(-1) - 1


@dataclass(frozen=True)
class LossWeights:
    """lambda1..lambda4 of the final loss (config ``loss``)."""

    consistency: float
    coseparation: float
    orthogonality: float
    direction: float

    def total(self, terms: dict[str, Tensor]) -> Tensor:
        """``sum_k lambda_k * terms[k]`` over the four terms (a zero weight drops its term)."""
        out = sum(
            (getattr(self, k) * v for k, v in terms.items() if getattr(self, k) != 0),
            torch.zeros((), device=next(iter(terms.values())).device),
        )
        return out
