"""MiDaS monocular depth networks on timm encoders, loadable from the official checkpoints.

Three model types (docs/depth.md): ``midas_v21_small_256`` (EfficientNet-Lite3 encoder and
a RefineNet-style decoder) and the DPT models ``dpt_hybrid_384`` (ResNet-50 + ViT-B/16)
and ``dpt_large_384`` (ViT-L/16). Each module tree reproduces the official checkpoint's
``state_dict`` key for key, shape for shape and in the same order, so a released ``.pt``
file loads with ``strict=True``.

A network maps a normalised ``[B,3,H,W]`` image (H and W multiples of 32, see
:func:`network_size`) to ``[B,H,W]`` relative inverse depth: larger is closer, defined up
to an unknown scale and shift, non-negative.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
import timm
import torch
import torch.nn.functional as F
from timm.layers import HybridEmbed, resample_abs_pos_embed
from torch import nn

from asmp.errors import AsmpError
from asmp.weights import load_state_dict

#: Network inputs must be multiples of this many pixels (encoder stride 32).
MULTIPLE = 32
#: ViT patch stride in input pixels (the hybrid's ResNet stride 16 times 1x1 patches).
_PATCH = 16


@dataclass(frozen=True)
class ModelSpec:
    """What differs between the model types.

    Attributes:
        encoder: timm model name of the encoder (built without pretrained weights).
        size: target side of the input resize rule (pixels).
        resize: ``upper_bound`` (fit inside size x size) or ``minimal`` (scale closer to 1).
        mean, std: per-channel RGB normalisation of the [0,1] image.
        encoder_chs: channels of the four encoder features fed to the decoder.
        features: decoder widths at strides 4, 8, 16 and 32.
        vit_taps: 0-based ViT blocks whose outputs are tapped (DPT only); a hybrid takes
            its first ``4 - len(vit_taps)`` features from the ResNet stages.
        url: official checkpoint.
    """

    encoder: str
    size: int
    resize: Literal["upper_bound", "minimal"]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    encoder_chs: tuple[int, int, int, int]
    features: tuple[int, int, int, int]
    vit_taps: tuple[int, ...]
    url: str

    @property
    def is_dpt(self) -> bool:
        return bool(self.vit_taps)


_RELEASES = "https://github.com/isl-org/MiDaS/releases/download"
_IMAGENET = {"mean": (0.485, 0.456, 0.406), "std": (0.229, 0.224, 0.225)}
_HALF = {"mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5)}

SPECS: dict[str, ModelSpec] = {
    "midas_v21_small_256": ModelSpec(
        encoder="tf_efficientnet_lite3",
        size=256,
        resize="upper_bound",
        **_IMAGENET,
        encoder_chs=(32, 48, 136, 384),
        features=(64, 128, 256, 512),
        vit_taps=(),
        url=f"{_RELEASES}/v2_1/midas_v21_small_256.pt",
    ),
    "dpt_hybrid_384": ModelSpec(
        encoder="vit_base_r50_s16_384",
        size=384,
        resize="minimal",
        **_HALF,
        encoder_chs=(256, 512, 768, 768),
        features=(256,) * 4,
        vit_taps=(8, 11),
        url=f"{_RELEASES}/v3/dpt_hybrid_384.pt",
    ),
    "dpt_large_384": ModelSpec(
        encoder="vit_large_patch16_384",
        size=384,
        resize="minimal",
        **_HALF,
        encoder_chs=(256, 512, 1024, 1024),
        features=(256,) * 4,
        vit_taps=(5, 11, 17, 23),
        url=f"{_RELEASES}/v3/dpt_large_384.pt",
    ),
}


def spec_for(model_type: str) -> ModelSpec:
    """The :class:`ModelSpec` of a model type; ``ValueError`` for an unknown one."""
    try:
        return SPECS[model_type]
    except KeyError:
        known = ", ".join(SPECS)
        raise ValueError(f"unknown MiDaS model type {model_type!r} (known: {known})") from None


# ---------------------------------------------------------------------------- input


def _snap(x: float, bound: int | None) -> int:
    """Nearest multiple of :data:`MULTIPLE` (halves to even), floored if above ``bound``."""
    y = int(np.round(x / MULTIPLE)) * MULTIPLE
    if bound is not None and y > bound:
        y = int(np.floor(x / MULTIPLE)) * MULTIPLE
    return max(y, MULTIPLE)


def network_size(height: int, width: int, model_type: str) -> tuple[int, int]:
    """Network input ``(h, w)`` for a ``height x width`` image, keeping its aspect ratio.

    ``upper_bound`` (small model) scales by the smaller of ``size/height`` and
    ``size/width`` and keeps both sides within ``size``; ``minimal`` (DPT) scales by the
    factor closer to 1 (ties: the height's), so the image is resized as little as
    possible. Sides are then snapped to multiples of 32.
    """
    spec = spec_for(model_type)
    sh, sw = spec.size / height, spec.size / width
    if spec.resize == "upper_bound":
        sh = sw = min(sh, sw)
    elif abs(1 - sw) < abs(1 - sh):
        sh = sw
    else:
        sw = sh
    bound = spec.size if spec.resize == "upper_bound" else None
    return _snap(sh * height, bound), _snap(sw * width, bound)


def preprocess(frames: np.ndarray, model_type: str) -> torch.Tensor:
    """RGB frames ``[B,H,W,3]`` uint8 to the normalised network input ``[B,3,h,w]`` float32.

    Each frame is scaled to [0,1], resized to :func:`network_size` with OpenCV bicubic
    interpolation (no clipping) and normalised per channel as ``(x - mean) / std``.
    """
    spec = spec_for(model_type)
    h, w = network_size(frames.shape[1], frames.shape[2], model_type)
    x = np.stack(
        [
            cv2.resize(f.astype(np.float32) / 255, (w, h), interpolation=cv2.INTER_CUBIC)
            for f in frames
        ]
    )
    x = (x - np.float32(spec.mean)) / np.float32(spec.std)
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


# -------------------------------------------------------------------------- decoder


def _conv3x3(cin: int, cout: int, bias: bool = True, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=bias)


class _ResidualUnit(nn.Module):
    """``x + conv2(relu(conv1(relu(x))))`` at constant width."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.conv1 = _conv3x3(width, width)
        self.conv2 = _conv3x3(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(F.relu(x))))


class _Fusion(nn.Module):
    """Fuse a coarse path with an optional skip, upsample, then mix channels (1x1 conv)."""

    def __init__(self, width: int, out_width: int) -> None:
        super().__init__()
        self.out_conv = nn.Conv2d(width, out_width, 1)
        self.resConfUnit1 = _ResidualUnit(width)  # unused by refinenet4, which has no skip
        self.resConfUnit2 = _ResidualUnit(width)

    def forward(
        self, x: torch.Tensor, skip: torch.Tensor | None = None, size: torch.Size | None = None
    ) -> torch.Tensor:
        """``[B,C,h,w]`` (plus skip of the same shape) -> ``[B,C',*size]`` (default ``2h x 2w``)."""
        if skip is not None:
            x = x + self.resConfUnit1(skip)
        x = self.resConfUnit2(x)
        if size is None:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)
        else:
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=True)
        return self.out_conv(x)


class _Scratch(nn.Module):
    """The decoder: project the four encoder features, fuse coarse to fine, predict depth.

    The official small model upsamples by a fixed x2 at every fusion and DPT to the skip's
    size; for inputs that are multiples of 32 both give the same sizes, so the skip's size
    is used throughout. Submodules are registered in the official order (the small model
    lists refinenet4..1, DPT refinenet1..4) so ``state_dict`` order matches too.
    """

    def __init__(self, encoder_chs: tuple[int, ...], features: tuple[int, ...], dpt: bool) -> None:
        super().__init__()
        for i, (cin, width) in enumerate(zip(encoder_chs, features, strict=True), 1):
            setattr(self, f"layer{i}_rn", _conv3x3(cin, width, bias=False))
        for i in (1, 2, 3, 4) if dpt else (4, 3, 2, 1):
            setattr(self, f"refinenet{i}", _Fusion(features[i - 1], features[max(i - 2, 0)]))
        w = features[0]
        self.output_conv = nn.Sequential(
            _conv3x3(w, w // 2),
            nn.Upsample(scale_factor=2, mode="bilinear", align_corners=dpt),
            _conv3x3(w // 2, 32),
            nn.ReLU(),
            nn.Conv2d(32, 1, 1),
            nn.ReLU(),
        )

    def forward(self, feats: list[torch.Tensor]) -> torch.Tensor:
        """Features at strides 4, 8, 16, 32 of an ``H x W`` input -> ``[B,H,W]``."""
        l1, l2, l3, l4 = (getattr(self, f"layer{i}_rn")(f) for i, f in enumerate(feats, 1))
        x = self.refinenet4(l4, size=l3.shape[-2:])
        x = self.refinenet3(x, l3, size=l2.shape[-2:])
        x = self.refinenet2(x, l2, size=l1.shape[-2:])
        x = self.refinenet1(x, l1)
        return self.output_conv(x).squeeze(1)


# -------------------------------------------------------------------------- encoders


class _EfficientNetEncoder(nn.Module):
    """timm EfficientNet stages regrouped as ``layer1..4`` (strides 4, 8, 16, 32)."""

    def __init__(self, name: str) -> None:
        super().__init__()
        net = timm.create_model(name, pretrained=False)
        blocks = net.blocks
        # Official index 2 is the stem activation, which timm folds into bn1.
        self.layer1 = nn.Sequential(
            OrderedDict([("0", net.conv_stem), ("1", net.bn1), ("3", blocks[0]), ("4", blocks[1])])
        )
        self.layer2 = nn.Sequential(blocks[2])
        self.layer3 = nn.Sequential(blocks[3], blocks[4])
        self.layer4 = nn.Sequential(blocks[5], blocks[6])

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for layer in (self.layer1, self.layer2, self.layer3, self.layer4):
            x = layer(x)
            feats.append(x)
        return feats


class _ProjectReadout(nn.Module):
    """Fold the cls token into every patch token: ``[B,1+N,C] -> [B,N,C]``."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.project = nn.Sequential(nn.Linear(2 * width, width), nn.GELU())

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        patches = tokens[:, 1:]
        return self.project(torch.cat((patches, tokens[:, :1].expand_as(patches)), dim=-1))


class _Reassemble(nn.Sequential):
    """ViT tokens ``[B,1+N,C]`` to a feature map at the stage's stride.

    Child names follow the official indices: 0 readout, 3 1x1 conv, 4 resampler; the
    stateless token-to-grid reshape (official 1 and 2) happens in :meth:`forward`.
    """

    def __init__(self, width: int, out_ch: int, resample: nn.Module | None) -> None:
        layers = [("0", _ProjectReadout(width)), ("3", nn.Conv2d(width, out_ch, 1))]
        if resample is not None:
            layers.append(("4", resample))
        super().__init__(OrderedDict(layers))

    def forward(self, tokens: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
        readout, *convs = self
        x = readout(tokens).transpose(1, 2).unflatten(2, grid)
        for conv in convs:
            x = conv(x)
        return x


def _resampler(stage: int, ch: int) -> nn.Module | None:
    """From the ViT's stride 16 to stage ``stage``'s stride 4, 8, 16 or 32."""
    if stage == 0:
        return nn.ConvTranspose2d(ch, ch, 4, stride=4)
    if stage == 1:
        return nn.ConvTranspose2d(ch, ch, 2, stride=2)
    if stage == 3:
        return _conv3x3(ch, ch, stride=2)
    return None


class _ViTEncoder(nn.Module):
    """timm ViT (or R50 hybrid) with DPT's taps and reassembly, at any multiple-of-32 size.

    The learned position grid (24x24 at 384 px) is resized bilinearly to the input's
    patch grid; the final norm and classifier are kept for strict loading but unused.
    """

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        self.model = timm.create_model(spec.encoder, pretrained=False)
        self.taps = spec.vit_taps
        self.n_cnn = 4 - len(spec.vit_taps)
        for stage in range(self.n_cnn, 4):
            ch = spec.encoder_chs[stage]
            setattr(
                self,
                f"act_postprocess{stage + 1}",
                _Reassemble(self.model.embed_dim, ch, _resampler(stage, ch)),
            )

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        vit = self.model
        grid = (x.shape[-2] // _PATCH, x.shape[-1] // _PATCH)
        feats = []
        if isinstance(vit.patch_embed, HybridEmbed):
            resnet = vit.patch_embed.backbone
            x = resnet.stem(x)
            for layer in resnet.stages:
                x = layer(x)
                feats.append(x)
            feats = feats[: self.n_cnn]
        tokens = vit.patch_embed.proj(x).flatten(2).transpose(1, 2)
        tokens = torch.cat((vit.cls_token.expand(len(tokens), -1, -1), tokens), dim=1)
        tokens = tokens + resample_abs_pos_embed(
            vit.pos_embed,
            list(grid),
            old_size=list(vit.patch_embed.grid_size),
            num_prefix_tokens=1,
            interpolation="bilinear",
            antialias=False,
        )
        stage = self.n_cnn
        for i, block in enumerate(vit.blocks[: self.taps[-1] + 1]):
            tokens = block(tokens)
            if i in self.taps:
                stage += 1
                feats.append(getattr(self, f"act_postprocess{stage}")(tokens, grid))
        return feats


# ---------------------------------------------------------------------------- model


class MiDaS(nn.Module):
    """A MiDaS network: ``pretrained`` (encoder) and ``scratch`` (decoder), as released."""

    def __init__(self, model_type: str) -> None:
        super().__init__()
        self.model_type = model_type
        self.spec = spec_for(model_type)
        self.pretrained = (
            _ViTEncoder(self.spec) if self.spec.is_dpt else _EfficientNetEncoder(self.spec.encoder)
        )
        self.scratch = _Scratch(self.spec.encoder_chs, self.spec.features, self.spec.is_dpt)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised ``[B,3,H,W]`` (H, W multiples of 32) -> inverse depth ``[B,H,W]``."""
        return self.scratch(self.pretrained(x))


def load_midas(model_type: str, path: str | Path) -> MiDaS:
    """Build ``model_type`` from a checkpoint file (official or compatible); eval mode, CPU.

    The file is a flat state dict, or a training checkpoint whose ``"model"`` entry is
    one (recognised by an ``"optimizer"`` entry). Missing BatchNorm ``num_batches_tracked``
    counters, irrelevant at inference, are filled with 0; everything else must match
    exactly. Raises :class:`AsmpError` naming the file otherwise.
    """
    state = load_state_dict(path)
    if "optimizer" in state:
        state = state["model"]
    with torch.device("meta"):  # no random init: every tensor comes from the file
        net = MiDaS(model_type)
    expected = net.state_dict()
    for key in expected:
        if key.endswith("num_batches_tracked"):
            state.setdefault(key, torch.zeros((), dtype=torch.long))
    found = {k: getattr(v, "shape", None) for k, v in state.items()}
    mismatches = {
        "missing": expected.keys() - found.keys(),
        "unexpected": found.keys() - expected.keys(),
        "wrong-shape": {k for k in expected.keys() & found.keys() if found[k] != expected[k].shape},
    }
    problems = [
        f"{len(keys)} {what} keys (e.g. {min(keys)})" for what, keys in mismatches.items() if keys
    ]
    if problems:
        raise AsmpError(f"not a {model_type} checkpoint: {'; '.join(problems)}", path)
    net.load_state_dict(state, strict=True, assign=True)
    return net.float().eval()
