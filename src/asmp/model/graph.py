"""Node mapping and scene-graph encoder (paper H.1-H.2)."""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn
from torch_geometric.nn import EdgeConv, GATConv, global_max_pool, global_mean_pool
from torch_geometric.utils import add_self_loops


def node_mlp(feature_dim: int, embedding_dim: int) -> nn.Sequential:
    """Box feature -> node embedding: Linear D->2E, LeakyReLU(0.2), Linear 2E->E.

    No normalisation and no output activation (paper H.1: 2048 -> 1024 -> 512).
    """
    return nn.Sequential(
        nn.Linear(feature_dim, 2 * embedding_dim),
        nn.LeakyReLU(0.2),
        nn.Linear(2 * embedding_dim, embedding_dim),
    )


class GraphEncoder(nn.Module):
    """GAT (edge weight as a 1-d edge feature) and EdgeConv on its output, pooled per graph.

    Both branches are read out as global max pool || global mean pool (2h per graph).
    ``"concat"`` (paper H.2, h = E): the two 2E readouts are concatenated (4E) and
    projected to E by a Linear. ``"sum"`` (released code, h = E/2): the two E readouts are
    summed.
    """

    def __init__(
        self, embedding_dim: int, readout: Literal["concat", "sum"], heads: int = 4
    ) -> None:
        super().__init__()
        hidden = embedding_dim if readout == "concat" else embedding_dim // 2
        self.readout = readout
        self.gat = GATConv(embedding_dim, hidden // heads, heads=heads, edge_dim=1)
        self.edge_conv = EdgeConv(
            nn.Sequential(nn.Linear(2 * hidden, hidden), nn.ReLU(), nn.BatchNorm1d(hidden)),
            aggr="max",
        )
        self.project = nn.Linear(4 * hidden, embedding_dim) if readout == "concat" else None

    def forward(
        self, x: Tensor, edge_index: Tensor, edge_weight: Tensor, batch: Tensor, num_graphs: int
    ) -> Tensor:
        """x [Nn, E], edge_index [2, Ne], edge_weight [Ne], batch [Nn] -> zeta [num_graphs, E].

        GATConv replaces self-loops by its own, whose edge feature is the mean of the
        node's incoming weights. EdgeConv sees every node's self-pair as well (as in the
        released graphs), so a one-node graph still has a message.
        """
        edge_attr = edge_weight.to(self.gat.lin_edge.weight.dtype).unsqueeze(-1)
        nodes = torch.relu(self.gat(x, edge_index, edge_attr))
        loops, _ = add_self_loops(edge_index, num_nodes=x.shape[0])
        edges = torch.relu(self.edge_conv(nodes, loops))
        pooled = [
            torch.cat(
                [global_max_pool(f, batch, num_graphs), global_mean_pool(f, batch, num_graphs)],
                dim=-1,
            )
            for f in (nodes, edges)
        ]
        if self.project is None:
            return pooled[0] + pooled[1]
        return self.project(torch.cat(pooled, dim=-1))
