"""Edge weights of the scene graph from its Chamfer distance matrix (docs/graph.md).

Every mode returns weights in ``[0, 1]``, 1 on the diagonal, computed from the distinct
pairs ``i < j`` and mirrored, so the result is symmetric and permuting the nodes permutes
it. A NaN distance (a node with an empty cloud) gives its pair weight 0 in every mode but
``uniform``, and NaN pairs are left out of every statistic (maximum, percentiles).
"""

from __future__ import annotations

from typing import Literal, get_args

import numpy as np

from asmp.errors import AsmpError

EdgeMode = Literal["rbf", "released", "multiscale", "uniform"]
EDGE_MODES: tuple[str, ...] = get_args(EdgeMode)

#: Percentiles of the pairwise distances that threshold the ``multiscale`` graphs.
MULTISCALE_PERCENTILES = (50.0, 100.0)


def edge_weights(
    distances: np.ndarray, mode: EdgeMode = "rbf", sigma_percentile: float = 25.0
) -> np.ndarray:
    """Weighted adjacency of one graph.

    With ``d`` the finite distances of the pairs ``i < j`` (Chamfer units) and ``q`` the
    ``sigma_percentile``, percentiles are ``numpy.percentile``'s (linear interpolation):

    - ``rbf`` (paper 3.3): ``Dn = D / max(d)``, ``sigma = percentile(d / max(d), q)``,
      ``w = exp(-Dn / sigma^2)``. ``max(d) = 0`` gives all ones; ``sigma = 0`` gives the
      kernel's limit, 1 where ``D = 0`` and 0 elsewhere.
    - ``released`` (the authors' training code): ``m = max(d)``,
      ``p = percentile(d[d > 0], q)`` on raw distances, ``w = exp(-(D / m) / p)``; all
      ones when ``m = 0``.
    - ``multiscale`` (paper Table 3): the mean over the thresholds
      ``t_s = percentile(d, s)``, ``s`` in :data:`MULTISCALE_PERCENTILES`, of the
      adjacency ``1[D <= t_s]``: 1 up to the median distance, 0.5 beyond. ``q`` is unused.
    - ``uniform`` (AVSGS's fully connected 2D graph): all ones, NaN pairs included.

    Args:
        distances: ``[N,N]`` symmetric, non-negative; NaN allowed, diagonal ignored.
        mode: one of :data:`EDGE_MODES`.
        sigma_percentile: ``q`` in ``(0, 100]``.

    Returns:
        ``[N,N]`` float64 weights in ``[0, 1]``, never NaN.
    """
    d_mat = _check_distances(distances)
    if mode not in EDGE_MODES:
        raise AsmpError(f"unknown edge mode {mode!r}; expected one of {', '.join(EDGE_MODES)}")
    if not 0 < sigma_percentile <= 100:
        raise AsmpError(f"sigma_percentile must be in (0, 100], got {sigma_percentile}")
    n = len(d_mat)
    iu = np.triu_indices(n, 1)
    pair = d_mat[iu]
    finite = pair[~np.isnan(pair)]
    if mode == "uniform":
        w = np.ones_like(pair)
    elif finite.size == 0 or finite.max() == 0:
        w = np.where(np.isnan(pair), 0.0, 1.0)
    elif mode == "rbf":
        normed = pair / finite.max()
        sigma = np.percentile(finite / finite.max(), sigma_percentile)
        w = np.exp(-normed / sigma**2) if sigma > 0 else (normed == 0).astype(np.float64)
    elif mode == "released":
        # Non-zero non-negative distances have a positive percentile, so the released
        # code's "p = 0 -> 1" rule never applies here.
        p = np.percentile(finite[finite > 0], sigma_percentile)
        w = np.exp(-(pair / finite.max()) / p)
    else:  # multiscale
        w = np.mean([pair <= t for t in np.percentile(finite, MULTISCALE_PERCENTILES)], axis=0)
    out = np.eye(n)
    out[iu] = np.nan_to_num(w, nan=0.0)
    out.T[iu] = out[iu]
    return out


def _check_distances(distances: np.ndarray) -> np.ndarray:
    d = np.asarray(distances, dtype=np.float64)
    if d.ndim != 2 or d.shape[0] != d.shape[1]:
        raise AsmpError(f"distance matrix has shape {d.shape}, expected [N,N]")
    if np.isinf(d).any() or (d < 0).any():
        raise AsmpError("distance matrix has negative or infinite entries")
    if not np.allclose(d, d.T, rtol=1e-9, atol=0.0, equal_nan=True):
        raise AsmpError("distance matrix is not symmetric")
    return d
