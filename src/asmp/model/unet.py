"""Acoustic separator network: a visually conditioned 7-level U-Net (paper H.4)."""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

#: Spatial reduction of the 7 stride-2 encoder convolutions; B and T must be multiples.
DOWNSAMPLE = 2**7


def _down(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 4, stride=2, padding=1), nn.BatchNorm2d(cout), nn.LeakyReLU(0.2)
    )


def _up(cin: int, cout: int, activation: Literal["leaky_relu", "relu"]) -> nn.Sequential:
    act = nn.LeakyReLU(0.2) if activation == "leaky_relu" else nn.ReLU()
    return nn.Sequential(
        nn.ConvTranspose2d(cin, cout, 4, stride=2, padding=1), nn.BatchNorm2d(cout), act
    )


class UNet(nn.Module):
    """log magnitude [M,1,B,T] + condition [M,C] -> mask [M,1,B,T] in [0, 1].

    Encoder channels 1 -> ngf -> 2ngf -> 4ngf -> 8ngf x4 (each Conv k4 s2 p1, BN,
    LeakyReLU 0.2). At the bottleneck [M, 8ngf, B/128, T/128] the condition is tiled over
    the bottleneck grid (2x2 for 256x256) and concatenated in front. Each decoder level is
    ConvTranspose k4 s2 p1, BN, activation, then concatenated with the encoder feature of
    the same resolution; the last level is ConvTranspose + Sigmoid.
    """

    def __init__(
        self,
        ngf: int,
        condition_dim: int,
        activation: Literal["leaky_relu", "relu"] = "leaky_relu",
    ) -> None:
        super().__init__()
        enc = [1, ngf, 2 * ngf, 4 * ngf, 8 * ngf, 8 * ngf, 8 * ngf, 8 * ngf]
        self.down = nn.ModuleList(_down(a, b) for a, b in zip(enc[:-1], enc[1:], strict=True))
        # Decoder level i maps to enc[6 - i] channels; its input is the previous level's
        # output concatenated with the matching skip (the condition at the bottleneck).
        ups: list[nn.Module] = []
        cin = enc[-1] + condition_dim
        for cout in reversed(enc[1:-1]):
            ups.append(_up(cin, cout, activation))
            cin = 2 * cout
        ups.append(nn.Sequential(nn.ConvTranspose2d(cin, 1, 4, stride=2, padding=1), nn.Sigmoid()))
        self.up = nn.ModuleList(ups)
        self.apply(_init)

    def forward(self, x: Tensor, condition: Tensor) -> Tensor:
        """x [M,1,B,T] (B, T multiples of 128), condition [M,C] -> mask [M,1,B,T]."""
        skips = []
        for layer in self.down:
            x = layer(x)
            skips.append(x)
        tiled = condition.to(x.dtype)[:, :, None, None].expand(-1, -1, *x.shape[2:])
        x = torch.cat([tiled, x], dim=1)
        for layer, skip in zip(self.up[:-1], reversed(skips[:-1]), strict=True):
            x = layer(x)
            x = torch.cat([x, skip], dim=1)
        return self.up[-1](x)


def _init(module: nn.Module) -> None:
    """Released-code init: conv weights N(0, 0.02), BN gamma N(1, 0.02), beta 0."""
    if isinstance(module, nn.Conv2d | nn.ConvTranspose2d):
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)
