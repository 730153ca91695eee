"""Scene-graph mathematics (paper section 3.3): nodes, point clouds, Chamfer distances, edges.

Pure functions on arrays; the graph stage wires them together. Formulas, units and
degenerate cases: docs/graph.md.
"""

from asmp.graph.chamfer import chamfer_matrix
from asmp.graph.edges import EDGE_MODES, MULTISCALE_PERCENTILES, EdgeMode, edge_weights
from asmp.graph.nodes import iou_matrix, select_auditory, select_context
from asmp.graph.pointcloud import box_cloud

__all__ = [
    "EDGE_MODES",
    "MULTISCALE_PERCENTILES",
    "EdgeMode",
    "box_cloud",
    "chamfer_matrix",
    "edge_weights",
    "iou_matrix",
    "select_auditory",
    "select_context",
]
