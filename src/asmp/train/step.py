"""One forward pass of ASMP over a :class:`~asmp.train.data.Batch`: separation, the
classifier and direction heads, and the loss terms (docs/training.md).

:class:`Forward` is an ``nn.Module`` whose ``forward`` does the whole pass, so that
``DistributedDataParallel`` can wrap it; evaluation calls the same module.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from asmp.model import ASMP
from asmp.spectrogram import RATIO_MASK_EPS, warp, window_frames
from asmp.train.data import Batch
from asmp.train.losses import (
    LossWeights,
    consistency_loss,
    coseparation_loss,
    direction_loss,
    orthogonality_loss,
)


@dataclass
class Outputs:
    """What a pass produces (``V`` videos, ``S`` slots, ``B x T`` warped spectrogram,
    ``Wc`` windows; invalid slots hold zeros).

    Attributes:
        y: ``[V, S, E]`` raw GRU outputs.
        masks: ``[V, S, B, T]`` separation masks on the warped grid.
        mixture_mag: ``[M, B, T]`` warped mixture magnitudes.
        video_mag: ``[V, B, T]`` warped magnitudes of each video's own audio.
        class_logits: ``[V, S, K + 1]`` or None when not computed.
        direction_logits: ``[V, S, Wc, D]`` or None when not computed.
        terms: the loss terms computed (consistency, coseparation, orthogonality, direction).
    """

    y: Tensor
    masks: Tensor
    mixture_mag: Tensor
    video_mag: Tensor
    class_logits: Tensor | None
    direction_logits: Tensor | None
    terms: dict[str, Tensor]


@dataclass(frozen=True)
class LossOptions:
    """The loss options of the config (``loss`` section)."""

    weights: LossWeights
    coseparation_target: str = "binary"
    orthogonality_form: str = "pairwise"
    background_slot: str = "any"

    @classmethod
    def from_config(cls, cfg: dict) -> LossOptions:
        c = cfg["loss"]
        weights = LossWeights(
            c["consistency"], c["coseparation"], c["orthogonality"], c["direction"]
        )
        return cls(weights, c["coseparation_target"], c["orthogonality_form"], c["background_slot"])


class Forward(nn.Module):
    """ASMP's full pass and losses over a batch.

    Args:
        model: the networks.
        losses: which terms to compute and how.
        sample_rate, hop: audio rate (Hz) and STFT hop (samples): place the 1-s windows.
        crop_samples: samples per crop (the length of reconstructed waveforms).
        bins: warped frequency rows (``audio.spectrogram_bins``).
        slicing: ``seconds`` or ``released`` (:func:`~asmp.spectrogram.window_frames`).
    """

    def __init__(
        self,
        model: ASMP,
        losses: LossOptions,
        sample_rate: int,
        hop: int,
        crop_samples: int,
        bins: int = 256,
        slicing: str = "seconds",
    ) -> None:
        super().__init__()
        self.model = model
        self.losses = losses
        self.sample_rate, self.hop, self.bins, self.slicing = sample_rate, hop, bins, slicing
        self.crop_samples = crop_samples

    def forward(self, batch: Batch, heads: bool = True, losses: bool = True) -> Outputs:
        """Run the pass. The classifier and the direction network run when ``heads`` is set
        and their loss weight is not zero (an untrained head predicts nothing); the loss
        terms are computed when ``losses`` is set (it needs two-video mixtures)."""
        V, S = batch.labels.shape
        y = self.model.embed(
            batch.x, batch.edge_index, batch.edge_weight, batch.node_batch, V, S
        )  # [V, S, E]
        video_mag = warp(batch.stft.abs(), self.bins)  # [V, B, T]
        mixture_mag = warp(batch.mixture_stft().abs(), self.bins)
        log_mix = torch.log(mixture_mag + RATIO_MASK_EPS)[:, None]  # [M, 1, B, T]
        slot = batch.valid.flatten().nonzero()[:, 0]  # valid (video, slot) pairs, flat
        mixture_of = batch.mixture[slot // S]
        y_slot = y.flatten(0, 1)[slot]
        mask = self.model.separate(log_mix[mixture_of], y_slot)  # [n, 1, B, T]
        masks = mask.new_zeros(V * S, *mask.shape[2:]).index_copy(0, slot, mask[:, 0])
        masks = masks.unflatten(0, (V, S))
        out = Outputs(y, masks, mixture_mag, video_mag, None, None, {})
        if not heads:
            return out
        w = self.losses.weights
        log_sep = torch.log(mask * mixture_mag[mixture_of][:, None] + RATIO_MASK_EPS)
        bg_last = self.losses.background_slot == "last"
        if w.consistency:
            logits = self.model.classify(log_sep)
            out.class_logits = _scatter(logits, slot, V, S)
            if losses:
                out.terms["consistency"] = consistency_loss(
                    out.class_logits, batch.labels, batch.valid, bg_last
                )
        if w.direction:
            Wc = batch.directions.shape[-1]
            start, width = window_frames(
                Wc, log_sep.shape[-1], self.sample_rate, self.hop, self.slicing
            )
            cols = start.to(log_sep.device)[:, None] + torch.arange(width, device=log_sep.device)
            slices = log_sep[..., cols].permute(0, 3, 1, 2, 4)  # [n, Wc, 1, B, width]
            logits = self.model.direction(
                slices.flatten(0, 1), y_slot.repeat_interleave(Wc, 0)
            ).unflatten(0, (-1, Wc))
            out.direction_logits = _scatter(logits, slot, V, S)
            if losses:
                out.terms["direction"] = direction_loss(
                    out.direction_logits, batch.directions, batch.valid, batch.window_valid, bg_last
                )
        if not losses:
            return out
        if w.coseparation:
            out.terms["coseparation"] = coseparation_loss(
                masks, batch.valid, video_mag, mixture_mag, self.losses.coseparation_target
            )
        if w.orthogonality:
            out.terms["orthogonality"] = orthogonality_loss(
                y, batch.valid, self.losses.orthogonality_form
            )
        return out


def _scatter(values: Tensor, slot: Tensor, V: int, S: int) -> Tensor:
    """``[n, ...]`` values of the valid slots -> ``[V, S, ...]`` with zeros elsewhere."""
    full = values.new_zeros(V * S, *values.shape[1:]).index_copy(0, slot, values)
    return full.unflatten(0, (V, S))
