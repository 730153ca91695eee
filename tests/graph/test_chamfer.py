"""Exact Chamfer matrix: brute-force reference, symmetry, permutations, devices, kernel."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from asmp.errors import AsmpError
from asmp.graph.chamfer import _nearest_cpu, chamfer_matrix


def brute_force(clouds: list[np.ndarray]) -> np.ndarray:
    n = len(clouds)
    out = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            if i == j:
                continue
            a, b = clouds[i], clouds[j]
            if len(a) == 0 or len(b) == 0:
                out[i, j] = np.nan
                continue
            d = np.linalg.norm(a[:, None, :] - b[None, :, :], axis=-1)
            out[i, j] = d.min(axis=1).mean() + d.min(axis=0).mean()
    return out


def random_clouds(rng: np.random.Generator, sizes: list[int]) -> list[np.ndarray]:
    """Clouds of the given sizes around random centres, some overlapping."""
    return [rng.normal(rng.uniform(-1, 1, 3), rng.uniform(0.05, 0.5), (n, 3)) for n in sizes]


SIZES = [1, 7, 300, 1, 45, 120, 2, 500]


def test_matches_brute_force_for_very_different_sizes():
    clouds = random_clouds(np.random.default_rng(0), SIZES)
    got, ref = chamfer_matrix(clouds, device="cpu"), brute_force(clouds)
    assert got.dtype == np.float64 and got.shape == (len(SIZES), len(SIZES))
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=0)


def test_symmetric_zero_diagonal_and_zero_between_copies():
    rng = np.random.default_rng(1)
    a = rng.random((50, 3))
    d = chamfer_matrix([a, a[::-1].copy(), rng.random((20, 3))], device="cpu")
    assert np.array_equal(d, d.T)
    assert np.all(np.diag(d) == 0) and d[0, 1] == 0 and d[0, 2] > 0


def test_tiny_distances_stay_exact_after_large_clouds():
    rng = np.random.default_rng(9)
    a = rng.random((40, 3))
    d = chamfer_matrix([rng.random((5000, 3)) + 10, a, a + 1e-9], device="cpu")
    assert d[1, 2] == pytest.approx(2 * np.sqrt(3) * 1e-9, rel=1e-6)


def test_one_point_clouds_are_point_distances():
    p, q = np.array([[0.0, 0.0, 0.0]]), np.array([[3.0, 4.0, 0.0]])
    assert chamfer_matrix([p, q], device="cpu")[0, 1] == pytest.approx(10.0)  # 5 + 5


def test_euclidean_not_squared():
    a = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 4.0]])
    b = np.array([[0.0, 0.0, 1.0]])
    # a -> b: distances 1 and 3, mean 2; b -> a: 1. Squared distances would give 5 + 1.
    assert chamfer_matrix([a, b], device="cpu")[0, 1] == pytest.approx(3.0)


def test_permuting_nodes_permutes_the_matrix():
    clouds = random_clouds(np.random.default_rng(2), SIZES)
    perm = np.random.default_rng(3).permutation(len(clouds))
    d = chamfer_matrix(clouds, device="cpu")
    dp = chamfer_matrix([clouds[k] for k in perm], device="cpu")
    np.testing.assert_allclose(dp, d[np.ix_(perm, perm)], rtol=1e-12, atol=0)


def test_empty_clouds_give_nan_rows_and_columns():
    rng = np.random.default_rng(4)
    d = chamfer_matrix([rng.random((5, 3)), np.zeros((0, 3)), rng.random((3, 3))], device="cpu")
    assert np.isnan(d[1, [0, 2]]).all() and np.isnan(d[[0, 2], 1]).all()
    assert d[1, 1] == 0 and np.isfinite(d[0, 2])
    assert chamfer_matrix([]).shape == (0, 0)
    assert chamfer_matrix([np.zeros((0, 3))], device="cpu").tolist() == [[0.0]]


def test_accepts_tensors_and_float32():
    clouds = random_clouds(np.random.default_rng(5), [10, 20, 30])
    tensors = [torch.from_numpy(c).float() for c in clouds]
    ref = brute_force([t.double().numpy() for t in tensors])
    np.testing.assert_allclose(chamfer_matrix(tensors, device="cpu"), ref, rtol=1e-10)


@pytest.mark.parametrize(
    ("cloud", "match"),
    [
        (np.zeros((4, 2)), r"shape \(4, 2\)"),
        (np.zeros(3), r"shape \(3,\)"),
        (np.array([[0.0, 0.0, 0.0], [0.0, np.inf, 0.0]]), "cloud 1 has non-finite"),
    ],
)
def test_bad_clouds_raise(cloud, match):
    with pytest.raises(AsmpError, match=match):
        chamfer_matrix([np.zeros((2, 3)), cloud], device="cpu")


def test_bad_device_raises():
    with pytest.raises(AsmpError, match="not 'meta'"):
        chamfer_matrix([np.zeros((1, 3))], device="meta")
    if not torch.cuda.is_available():
        with pytest.raises(AsmpError, match="CUDA is not available"):
            chamfer_matrix([np.zeros((1, 3))], device="cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    clouds = random_clouds(np.random.default_rng(6), [*SIZES, 0, 3000])
    cpu = chamfer_matrix(clouds, device="cpu")
    np.testing.assert_allclose(chamfer_matrix(clouds, device="cuda"), cpu, rtol=1e-9)
    on_gpu = [torch.from_numpy(c).cuda() for c in clouds]
    np.testing.assert_allclose(chamfer_matrix(on_gpu), cpu, rtol=1e-9)


def test_triton_kernel_matches_cpu_in_interpreter():
    """The CUDA kernel's logic, run by Triton's CPU interpreter (no GPU needed)."""
    pytest.importorskip("triton")
    code = textwrap.dedent(
        """
        import numpy as np, torch
        from asmp.graph._triton import nearest_sq
        from asmp.graph.chamfer import _nearest_cpu
        rng = np.random.default_rng(7)
        # sizes straddle the kernel's 64-point blocks; one cloud is empty
        clouds = [rng.normal(rng.uniform(-1, 1, 3), 0.3, (n, 3)) for n in (1, 129, 0, 64, 7)]
        sizes = torch.tensor([len(c) for c in clouds])
        got = nearest_sq(torch.from_numpy(np.concatenate(clouds)), sizes).sqrt().numpy()
        ref = _nearest_cpu(np.concatenate(clouds), sizes.numpy()).numpy()
        assert np.isinf(got[:, 2]).all() and np.isnan(ref[:, 2]).all()
        keep = [0, 1, 3, 4]
        np.testing.assert_allclose(got[:, keep], ref[:, keep], rtol=1e-12, atol=1e-15)
        """
    )
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-3000:]


def test_nearest_cpu_columns_are_point_to_cloud_minima():
    clouds = random_clouds(np.random.default_rng(8), [4, 9])
    pts = np.concatenate(clouds)
    got = _nearest_cpu(pts, np.array([4, 9])).numpy()
    for i, c in enumerate(clouds):
        ref = np.linalg.norm(pts[:, None] - c[None], axis=-1).min(axis=1)
        np.testing.assert_allclose(got[:, i], ref, rtol=1e-12)
