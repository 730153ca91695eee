"""Exact symmetric Chamfer distances between all pairs of node point clouds.

``D(A, B) = mean_{a in A} min_{b in B} |a - b| + mean_{b in B} min_{a in A} |a - b|`` with
``|.|`` the Euclidean norm (not squared; docs/graph.md), in the unit of the points.
Every nearest neighbour is exact: no subsampling and no approximate search. On the CPU
each cloud gets an Open3D k-d tree queried with every point of the graph; on CUDA one Triton
kernel computes all point-to-cloud minima in float64 without storing pairwise distances.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import open3d as o3d
import torch

from asmp.errors import AsmpError

Cloud = np.ndarray | torch.Tensor


def chamfer_matrix(clouds: Sequence[Cloud], device: str | torch.device | None = None) -> np.ndarray:
    """Symmetric Chamfer distance between every pair of clouds.

    Args:
        clouds: ``N`` arrays or tensors ``[P_i,3]`` of finite points; sizes may differ and
            ``P_i = 0`` is allowed. Computed in float64 whatever the input dtype.
        device: ``"cpu"`` or a CUDA device; None uses CUDA when available (or when the
            clouds already live there), else the CPU.

    Returns:
        ``[N,N]`` float64, symmetric, zero diagonal; NaN off the diagonal in the rows and
        columns of empty clouds.
    """
    points = [_as_points(c, k) for k, c in enumerate(clouds)]
    if not points:
        return np.zeros((0, 0))
    dev = _resolve_device(device, points)
    sizes = torch.tensor([len(p) for p in points], dtype=torch.int64)
    cat = torch.cat([p.to(points[0].device) for p in points]).to(dev)
    bad = ~torch.isfinite(cat).all(dim=1)
    if bool(bad.any()):
        row = int(bad.nonzero()[0, 0])
        k = int(torch.searchsorted(sizes.cumsum(0), row, right=True))
        raise AsmpError(f"point cloud {k} has non-finite coordinates")
    if dev.type == "cuda":
        from asmp.graph._triton import nearest_sq  # Triton is only needed here

        sizes = sizes.to(dev)
        nearest = nearest_sq(cat, sizes).sqrt_()
    else:
        nearest = _nearest_cpu(cat.numpy(), sizes.numpy())
    return _symmetric_means(nearest, sizes).cpu().numpy()


def _as_points(cloud: Cloud, k: int) -> torch.Tensor:
    """Cloud ``k`` as a float64 ``[P,3]`` tensor on its own device."""
    t = torch.as_tensor(cloud).to(torch.float64)
    if t.ndim != 2 or t.shape[1] != 3:
        raise AsmpError(f"point cloud {k} has shape {tuple(t.shape)}, expected [P,3]")
    return t


def _resolve_device(device: str | torch.device | None, points: list[torch.Tensor]) -> torch.device:
    if device is None:
        on_cuda = any(p.is_cuda for p in points)
        return torch.device("cuda" if on_cuda or torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type not in ("cpu", "cuda"):
        raise AsmpError(f"Chamfer distances run on 'cpu' or 'cuda', not {str(dev)!r}")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise AsmpError(f"device {str(dev)!r} requested but CUDA is not available")
    return dev


def _nearest_cpu(points: np.ndarray, sizes: np.ndarray) -> torch.Tensor:
    """``[P,N]`` distance from every point to the nearest point of each cloud.

    ``points`` ``[P,3]`` are the ``N`` clouds of ``sizes`` concatenated. One Open3D k-d
    tree (exact search) per cloud, queried with all points on every core (about 1.7x
    faster than SciPy's cKDTree on node clouds); NaN for empty clouds.
    """
    queries = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points))
    out = np.full((len(points), len(sizes)), np.nan)
    for i, cloud in enumerate(np.split(points, np.cumsum(sizes)[:-1])):
        if len(cloud):
            target = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(cloud))
            out[:, i] = np.asarray(queries.compute_point_cloud_distance(target))
    return torch.from_numpy(out)


def _symmetric_means(nearest: torch.Tensor, sizes: torch.Tensor) -> torch.Tensor:
    """Chamfer matrix from ``[P,N]`` point-to-cloud distances and ``[N]`` cloud sizes."""
    # one_way[j, i]: mean over the points of cloud j of their distance to cloud i (one
    # sequential sum per segment: deterministic on every device, unlike atomic adds).
    one_way = torch.segment_reduce(nearest, "mean", lengths=sizes, axis=0)
    d = one_way + one_way.T
    empty = sizes == 0
    d[empty] = torch.nan
    d[:, empty] = torch.nan
    return d.fill_diagonal_(0.0)
