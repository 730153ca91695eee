"""From a pass's outputs to waveforms, scores and direction matches (docs/evaluation.md).

A video's estimate is the sum of its valid slots' masks applied to the mixture (mixture
phase, inverse STFT); the reference is its own crop, rebuilt exactly from its cached STFT.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from asmp.evaluate.metrics import bss_eval_batch
from asmp.spectrogram import istft, reconstruct
from asmp.train.data import Batch
from asmp.train.losses import permutation_min
from asmp.train.step import Outputs


def waveforms(
    outputs: Outputs, batch: Batch, hop: int, length: int, masks: Tensor | None = None
) -> tuple[Tensor, Tensor, Tensor]:
    """``(estimate [V, length], reference [V, length], mixture [M, length])`` float32.

    ``masks`` ``[V, B, T]`` replaces the model's summed slot masks (oracle masks).
    """
    n_fft = 2 * (batch.stft.shape[-2] - 1)
    mix_spec = batch.mixture_stft()  # [M, F, T]
    if masks is None:
        masks = (outputs.masks.float() * batch.valid[..., None, None]).sum(1)
    est = reconstruct(masks.float(), mix_spec[batch.mixture], n_fft, hop, length)
    ref = istft(batch.stft, n_fft, hop, length)
    mix = istft(mix_spec, n_fft, hop, length)
    return est, ref, mix


def sdr_of_batch(
    outputs: Outputs, batch: Batch, hop: int, length: int
) -> tuple[np.ndarray, np.ndarray]:
    """BSS-Eval SDR (dB) ``[V]`` of each video's estimate, and of the mixture used as the
    estimate (the baseline); NaN for silent references."""
    est, ref, mix = (t.double().cpu().numpy() for t in waveforms(outputs, batch, hop, length))
    ref2 = ref.reshape(-1, 2, length)
    model = bss_eval_batch(ref2, est.reshape(-1, 2, length)).sdr.reshape(-1)
    base = bss_eval_batch(ref2, np.repeat(mix[:, None], 2, 1)).sdr.reshape(-1)
    return model, base


def overlap_add(crops: Tensor, starts: list[int], length: int | None = None) -> np.ndarray:
    """Waveforms ``crops [C, ..., L]`` placed at ``starts`` (samples) and averaged where they
    overlap -> float64 ``[..., length]`` (default: up to the end of the last crop)."""
    waves = crops.double().cpu().numpy()
    L = waves.shape[-1]
    length = length or max(starts) + L
    total = np.zeros((*waves.shape[1:-1], max(length, max(starts) + L)))
    count = np.zeros(total.shape[-1])
    for wave, s in zip(waves, starts, strict=True):
        total[..., s : s + L] += wave
        count[s : s + L] += 1
    return (total / np.maximum(count, 1))[..., :length]


def direction_assignment(logits: Tensor, batch: Batch) -> Tensor:
    """Label index each slot is matched to ``[V, S]``: the slot order minimising the
    direction cross entropy summed over the video's windows (one order per video)."""
    logp = logits.float().log_softmax(-1)  # [V, S, Wc, D]
    S = logp.shape[1]
    lab = batch.directions[:, None, :, :].expand(-1, S, -1, -1)  # [V, i, j, Wc]
    cost = -logp.gather(-1, lab.permute(0, 1, 3, 2)).permute(0, 1, 3, 2)  # [V, i, j, Wc]
    cost = (cost * batch.window_valid[:, None, None, :]).sum(-1)
    return permutation_min(cost, batch.valid)[1]


def label_predictions(logits: Tensor, batch: Batch) -> Tensor:
    """Predicted direction class ``[V, S, Wc]`` of each *label* (object ``j`` of the video,
    then the background) per window: the argmax of the slot that
    :func:`direction_assignment` matches to it."""
    perm = direction_assignment(logits, batch)  # slot i -> label perm[i]
    pred = logits.argmax(-1)  # [V, S, Wc]
    inverse = torch.argsort(perm, dim=1)  # label j -> slot
    return pred.gather(1, inverse[:, :, None].expand_as(pred))


def direction_predictions(logits: Tensor, batch: Batch) -> tuple[np.ndarray, np.ndarray]:
    """``(predicted, true)`` direction classes of every object window (background slots,
    padding slots and windows outside the video left out), slots matched to objects by
    :func:`direction_assignment`."""
    pred_for_label = label_predictions(logits, batch)
    n_obj = batch.valid.sum(1) - 1
    is_object = torch.arange(pred_for_label.shape[1], device=logits.device)[None] < n_obj[:, None]
    keep = is_object[:, :, None] & batch.window_valid[:, None, :]
    return pred_for_label[keep].cpu().numpy(), batch.directions[keep].cpu().numpy()


def direction_hits(logits: Tensor, batch: Batch) -> np.ndarray:
    """Bool per object window: the matched slot's predicted class is the true one."""
    pred, true = direction_predictions(logits, batch)
    return pred == true
