"""The CUDA kernel behind :func:`asmp.graph.chamfer.chamfer_matrix` (needs Triton).

Imported only on the CUDA path, so CPU-only installs never import Triton.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

#: Query points per program and target points per inner step: a 64x64 float64 tile is
#: 32 values per thread at 4 warps, which stays in registers.
BLOCK_Q, BLOCK_T = 64, 64


@triton.jit(do_not_specialize=["n_points", "n_clouds"])  # one compile for all sizes
def _nearest_sq_kernel(
    xyz_ptr,  # [3, P] float64, structure of arrays
    starts_ptr,  # [N + 1] int64, cloud n is points starts[n] .. starts[n + 1] - 1
    out_ptr,  # [P, N] float64
    n_points,
    n_clouds,
    BQ: tl.constexpr,
    BT: tl.constexpr,
):
    q = tl.program_id(0).to(tl.int64) * BQ + tl.arange(0, BQ)
    cloud = tl.program_id(1)
    q_ok = q < n_points
    qx = tl.load(xyz_ptr + q, mask=q_ok, other=0.0)
    qy = tl.load(xyz_ptr + n_points + q, mask=q_ok, other=0.0)
    qz = tl.load(xyz_ptr + 2 * n_points + q, mask=q_ok, other=0.0)
    start = tl.load(starts_ptr + cloud)
    end = tl.load(starts_ptr + cloud + 1)
    best = tl.full([BQ], float("inf"), tl.float64)
    for s in range(start, end, BT):
        t = s + tl.arange(0, BT)
        t_ok = t < end
        tx = tl.load(xyz_ptr + t, mask=t_ok, other=0.0)
        ty = tl.load(xyz_ptr + n_points + t, mask=t_ok, other=0.0)
        tz = tl.load(xyz_ptr + 2 * n_points + t, mask=t_ok, other=0.0)
        dx = qx[:, None] - tx[None, :]
        dy = qy[:, None] - ty[None, :]
        dz = qz[:, None] - tz[None, :]
        d2 = tl.where(t_ok[None, :], dx * dx + dy * dy + dz * dz, float("inf"))
        best = tl.minimum(best, tl.min(d2, axis=1))
    tl.store(out_ptr + q * n_clouds + cloud, best, mask=q_ok)


def nearest_sq(points: torch.Tensor, sizes: torch.Tensor) -> torch.Tensor:
    """Squared distance from every point to the nearest point of every cloud.

    Args:
        points: ``[P,3]`` float64, the clouds concatenated in order.
        sizes: ``[N]`` int64 points per cloud (on ``points``' device).

    Returns:
        ``[P,N]`` float64; ``inf`` in the columns of empty clouds.
    """
    n_points, n_clouds = len(points), len(sizes)
    starts = torch.zeros(n_clouds + 1, dtype=torch.int64, device=points.device)
    torch.cumsum(sizes, 0, out=starts[1:])
    out = torch.empty((n_points, n_clouds), dtype=torch.float64, device=points.device)
    grid = (triton.cdiv(n_points, BLOCK_Q), n_clouds)  # an empty grid launches nothing
    _nearest_sq_kernel[grid](
        points.T.contiguous(), starts, out, n_points, n_clouds, BQ=BLOCK_Q, BT=BLOCK_T
    )
    return out
