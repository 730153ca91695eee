"""The ASMP networks: node mapping, graph encoder, GRU, separator, classifier, direction net."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from asmp.model.graph import GraphEncoder, node_mlp
from asmp.model.resnet import ResNet18
from asmp.model.spec import ModelSpec
from asmp.model.unet import DOWNSAMPLE, UNet


class DirectionHead(nn.Module):
    """[M, E'] spectrogram embedding (|| [M, E] unit visual embedding) -> [M, classes] logits.

    Linear -> BatchNorm1d -> LeakyReLU(0.2) -> Linear (paper H.5), optionally followed by a
    BatchNorm1d on the logits (released code).
    """

    def __init__(self, in_features: int, hidden: int, classes: int, logit_norm: bool) -> None:
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(in_features, hidden),
            nn.BatchNorm1d(hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden, classes),
        )
        if logit_norm:
            self.mlp.append(nn.BatchNorm1d(classes))

    def forward(self, x: Tensor) -> Tensor:
        return self.mlp(x)


def _dtype(module: nn.Module) -> torch.dtype:
    return next(module.parameters()).dtype


class ASMP(nn.Module):
    """Audio Separator and Motion Predictor networks (no losses, no training logic).

    Shapes and variants: docs/model.md. Call :meth:`embed` once per batch of scene graphs,
    then :meth:`separate`, :meth:`classify` and :meth:`direction` on the flattened slots.
    """

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        self.spec = spec
        e = spec.embedding_dim
        if spec.feature_norm == "standardize":
            # Train-split statistics (set_feature_statistics); identity until then.
            self.register_buffer("feature_mean", torch.zeros(spec.feature_dim))
            self.register_buffer("feature_std", torch.ones(spec.feature_dim))
        self.node_mlp = node_mlp(spec.feature_dim, e)
        self.graph = GraphEncoder(e, spec.graph_readout, spec.heads)
        # Optional: keeps the GRU out of saturation at high learning rates (not in the paper).
        self.graph_norm = nn.LayerNorm(e) if spec.graph_norm else None
        self.gru = nn.GRU(e, e, num_layers=1, batch_first=True)
        self.separator = UNet(spec.ngf, e, spec.decoder_activation)
        self.classifier = ResNet18(spec.sound_classes + 1, spec.width)
        self.direction_encoder = ResNet18(spec.direction_embedding, spec.width)
        self.direction_head = DirectionHead(
            spec.direction_embedding + (e if spec.direction_visual else 0),
            spec.direction_hidden,
            spec.direction_classes,
            spec.direction_logit_norm,
        )

    def embed(
        self,
        x: Tensor,
        edge_index: Tensor,
        edge_weight: Tensor,
        batch: Tensor,
        num_graphs: int,
        slots: int,
    ) -> Tensor:
        """Scene graphs -> raw GRU outputs y [num_graphs, slots, E].

        x [Nn, D] node features (any float dtype); edge_index [2, Ne] long, directed pairs
        in both directions without self-loops; edge_weight [Ne] in [0, 1]; batch [Nn]
        graph id. The graph embedding zeta is fed at each of the ``slots`` steps
        (N auditory objects + background) from a zero hidden state.
        """
        x = x.to(_dtype(self.node_mlp))
        if self.spec.feature_norm == "standardize":
            x = (x - self.feature_mean) / self.feature_std
        nodes = self.node_mlp(x)
        zeta = self.graph(nodes, edge_index, edge_weight, batch, num_graphs)
        if self.graph_norm is not None:
            zeta = self.graph_norm(zeta)
        steps = zeta.to(self.gru.weight_ih_l0.dtype).unsqueeze(1).expand(-1, slots, -1)
        y, _ = self.gru(steps.contiguous())
        return y

    def separate(self, log_mix: Tensor, y: Tensor) -> Tensor:
        """log_mix [M,1,B,T] log warped mixture magnitude, y [M,E] raw GRU outputs
        -> mask [M,1,B,T] in [0, 1]. B and T must be multiples of 128."""
        if log_mix.dim() != 4 or log_mix.shape[1] != 1:
            raise ValueError(f"log_mix must be [M, 1, B, T], got {tuple(log_mix.shape)}")
        bins, frames = log_mix.shape[2:]
        if bins % DOWNSAMPLE or frames % DOWNSAMPLE:
            raise ValueError(
                f"the separator needs B and T that are multiples of {DOWNSAMPLE} "
                f"(7 stride-2 levels), got B={bins}, T={frames}"
            )
        if y.shape != (log_mix.shape[0], self.spec.embedding_dim):
            raise ValueError(
                f"y must be [M={log_mix.shape[0]}, E={self.spec.embedding_dim}], "
                f"got {tuple(y.shape)}"
            )
        condition = y if self.spec.condition == "raw" else F.normalize(y, dim=-1)
        if self.spec.condition == "scaled":
            condition = condition * self.spec.embedding_dim**0.5
        return self.separator(log_mix.to(_dtype(self.separator)), condition)

    def set_feature_statistics(self, mean: Tensor, std: Tensor) -> None:
        """Node-feature standardisation (``feature_norm="standardize"``): per-dimension
        ``mean [D]`` and ``std [D]`` of the training nodes. Dimensions with a std below 1% of
        the mean std (constant in training, e.g. dead ReLU units) are divided by that floor
        instead, so that unseen values stay bounded."""
        if self.spec.feature_norm != "standardize":
            raise ValueError("set_feature_statistics needs feature_norm='standardize'")
        std = std.to(self.feature_std).clamp_min(0.01 * float(std.mean()) + 1e-12)
        self.feature_mean.copy_(mean)
        self.feature_std.copy_(std)

    def classify(self, log_spec: Tensor) -> Tensor:
        """log_spec [M,1,B,T] log separated magnitude -> logits [M, K+1] (0 = background)."""
        return self.classifier(log_spec.to(_dtype(self.classifier)))

    def direction(self, log_slices: Tensor, y: Tensor | None = None) -> Tensor:
        """log_slices [M,1,B,w] time slices of the separated log spectrogram, y [M,E] raw
        GRU outputs (used, unit-normalised, when ``spec.direction_visual``)
        -> logits [M, direction_classes]."""
        h = self.direction_encoder(log_slices.to(_dtype(self.direction_encoder)))
        if self.spec.direction_visual:
            if y is None:
                raise ValueError("direction() needs y when spec.direction_visual is set")
            h = torch.cat([h, F.normalize(y, dim=-1).to(h.dtype)], dim=-1)
        return self.direction_head(h)

    def parameter_counts(self) -> dict[str, int]:
        """Trainable parameters per component and in total."""
        names = [
            "node_mlp",
            "graph",
            "gru",
            "separator",
            "classifier",
            "direction_encoder",
            "direction_head",
        ]
        if self.graph_norm is not None:
            names.insert(2, "graph_norm")
        counts = {n: sum(p.numel() for p in getattr(self, n).parameters()) for n in names}
        counts["total"] = sum(counts.values())
        return counts
