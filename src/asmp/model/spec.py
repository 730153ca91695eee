"""Hyper-parameters of the ASMP networks (docs/model.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

#: Channel multiplier of the U-Net and both ResNets per ``model.size`` preset.
SIZES: dict[str, float] = {"paper": 1.0, "small": 0.125}


@dataclass(frozen=True)
class ModelSpec:
    """Everything that fixes the networks' shapes and variants.

    ``feature_dim`` is the detector's box-feature size D; ``sound_classes`` is K (the
    consistency classifier predicts K + 1 classes, 0 = background). ``width`` scales the
    channels of the U-Net and of both ResNets, never the embedding size E.
    """

    feature_dim: int
    sound_classes: int
    direction_classes: int = 28
    embedding_dim: int = 512
    width: float = 1.0
    graph_readout: Literal["concat", "sum"] = "concat"
    decoder_activation: Literal["leaky_relu", "relu"] = "leaky_relu"
    condition: Literal["normalized", "scaled", "raw"] = "normalized"
    direction_visual: bool = True
    direction_logit_norm: bool = False
    graph_norm: bool = False
    feature_norm: Literal["none", "standardize"] = "none"
    heads: int = 4

    def __post_init__(self) -> None:
        if self.feature_dim < 1 or self.sound_classes < 1:
            raise ValueError("feature_dim and sound_classes must be >= 1")
        if self.direction_classes < 2:
            raise ValueError(f"direction_classes must be >= 2, got {self.direction_classes}")
        if not self.width > 0:
            raise ValueError(f"width must be > 0, got {self.width}")
        if self.graph_readout not in ("concat", "sum"):
            raise ValueError(f"unknown graph_readout {self.graph_readout!r}")
        if self.decoder_activation not in ("leaky_relu", "relu"):
            raise ValueError(f"unknown decoder_activation {self.decoder_activation!r}")
        if self.condition not in ("normalized", "scaled", "raw"):
            raise ValueError(f"unknown condition {self.condition!r}")
        if self.feature_norm not in ("none", "standardize"):
            raise ValueError(f"unknown feature_norm {self.feature_norm!r}")
        if self.heads < 1 or self.graph_hidden % self.heads:
            raise ValueError(
                f"the graph width {self.graph_hidden} (embedding_dim {self.embedding_dim}, "
                f"readout {self.graph_readout}) must be a multiple of heads={self.heads}"
            )

    @property
    def graph_hidden(self) -> int:
        """Per-node width h of the GAT and EdgeConv outputs: E (concat) or E/2 (sum)."""
        return self.embedding_dim if self.graph_readout == "concat" else self.embedding_dim // 2

    @property
    def ngf(self) -> int:
        """U-Net base channel count, round(64 * width)."""
        return max(1, round(64 * self.width))

    @property
    def direction_embedding(self) -> int:
        """E', the size of the direction encoder's spectrogram embedding, round(512 * width)."""
        return max(1, round(512 * self.width))

    @property
    def direction_hidden(self) -> int:
        """Hidden units of the direction head, round(256 * width), at least 16."""
        return max(16, round(256 * self.width))

    @classmethod
    def from_config(cls, cfg: dict[str, Any], feature_dim: int) -> ModelSpec:
        """Spec of a resolved dataset config (``asmp.config.load_config``)."""
        m = cfg["model"]
        return cls(
            feature_dim=feature_dim,
            sound_classes=len(cfg["dataset"]["sound_classes"]),
            direction_classes=m["direction_classes"],
            embedding_dim=m["embedding_dim"],
            width=SIZES[m["size"]],
            graph_readout=m["graph_readout"],
            decoder_activation=m["decoder_activation"],
            condition=m["condition"],
            direction_visual=m["direction_visual"],
            direction_logit_norm=m["direction_logit_norm"],
            graph_norm=m["graph_norm"],
            feature_norm=m["feature_norm"],
        )
