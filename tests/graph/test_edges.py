"""Edge weights: the four modes' formulas, percentiles, NaN and degenerate rules."""

from __future__ import annotations

import numpy as np
import pytest

from asmp.errors import AsmpError
from asmp.graph.edges import EDGE_MODES, edge_weights


def sym(upper: list[float], n: int) -> np.ndarray:
    """Symmetric ``[n,n]`` matrix, zero diagonal, upper triangle row by row."""
    d = np.zeros((n, n))
    d[np.triu_indices(n, 1)] = upper
    return d + d.T


def lerp_percentile(values: list[float], q: float) -> float:
    """Percentile with linear interpolation between closest ranks, written out."""
    v = sorted(values)
    pos = q / 100 * (len(v) - 1)
    lo = int(np.floor(pos))
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (pos - lo) * (v[hi] - v[lo])


def random_distances(seed: int, n: int = 9) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return sym(list(rng.uniform(0.01, 2.0, n * (n - 1) // 2)), n)


@pytest.mark.parametrize("q", [25.0, 50.0, 75.0])
def test_rbf_formula_and_sigma_percentile(q):
    d = random_distances(0)
    n = len(d)
    pairs = [d[i, j] for i in range(n) for j in range(i + 1, n)]
    m = max(pairs)
    sigma = lerp_percentile([x / m for x in pairs], q)
    w = edge_weights(d, "rbf", q)
    for i in range(n):
        for j in range(n):
            expected = 1.0 if i == j else np.exp(-(d[i, j] / m) / sigma**2)
            assert w[i, j] == pytest.approx(expected, rel=1e-12)


def test_rbf_by_hand():
    # pairs 1, 2, 3: normalised 1/3, 2/3, 1; 25th percentile 1/2, so w = exp(-4 Dn).
    w = edge_weights(sym([1, 2, 3], 3), "rbf", 25)
    assert w[0, 1] == pytest.approx(np.exp(-4 / 3))
    assert w[1, 2] == pytest.approx(np.exp(-4))


def test_released_formula_uses_raw_nonzero_percentile():
    d = sym([0.0, 2.0, 4.0, 1.0, 0.0, 3.0], 4)  # two zero pairs
    nonzero = [2.0, 4.0, 1.0, 3.0]
    p = lerp_percentile(nonzero, 25)  # 1.75, in raw distance units
    w = edge_weights(d, "released", 25)
    expected = np.exp(-(d / 4.0) / p)
    np.fill_diagonal(expected, 1.0)
    np.testing.assert_allclose(w, expected, rtol=1e-12)
    assert w[0, 1] == 1.0  # zero distance


def test_released_nan_rules():
    d = sym([1.0, np.nan, 2.0, np.nan, 3.0, np.nan], 4)
    w = edge_weights(d, "released", 50)
    # the NaN pairs are left out of max and percentile: m = 3, p = percentile([1,2,3], 50)
    assert w[0, 1] == pytest.approx(np.exp(-(1 / 3) / 2))
    assert w[0, 2] == 0.0 and w[2, 0] == 0.0 and not np.isnan(w).any()
    # all-zero finite distances (m = 0): all ones except the NaN pairs
    z = edge_weights(sym([0.0, np.nan, 0.0], 3), "released")
    assert z.tolist() == [[1, 1, 0], [1, 1, 1], [0, 1, 1]]


def test_multiscale_thresholds_at_median_and_max():
    d = sym([1.0, 2.0, 3.0, 4.0, 5.0, np.nan], 4)  # median of 1..5 is 3
    w = edge_weights(d, "multiscale")
    expected = sym([1.0, 1.0, 1.0, 0.5, 0.5, 0.0], 4) + np.eye(4)
    np.testing.assert_array_equal(w, expected)
    # the percentile argument does not change it
    np.testing.assert_array_equal(edge_weights(d, "multiscale", 75), w)


def test_uniform_is_all_ones_even_with_nan():
    d = sym([1.0, np.nan, 2.0], 3)
    np.testing.assert_array_equal(edge_weights(d, "uniform"), np.ones((3, 3)))


@pytest.mark.parametrize("mode", EDGE_MODES)
def test_range_symmetry_diagonal_and_nan_pairs(mode):
    d = random_distances(1, 7)
    d[2, 5] = d[5, 2] = np.nan
    w = edge_weights(d, mode)
    assert not np.isnan(w).any() and w.min() >= 0 and w.max() <= 1
    assert np.array_equal(w, w.T) and np.all(np.diag(w) == 1)
    assert w[2, 5] == (1.0 if mode == "uniform" else 0.0)


@pytest.mark.parametrize("mode", EDGE_MODES)
def test_permuting_nodes_permutes_weights(mode):
    d = random_distances(2, 10)
    d[0, 3] = d[3, 0] = np.nan
    perm = np.random.default_rng(3).permutation(10)
    np.testing.assert_allclose(
        edge_weights(d[np.ix_(perm, perm)], mode), edge_weights(d, mode)[np.ix_(perm, perm)]
    )


@pytest.mark.parametrize("mode", EDGE_MODES)
def test_degenerate_graphs_are_all_ones(mode):
    assert edge_weights(np.zeros((1, 1)), mode).tolist() == [[1.0]]
    assert edge_weights(np.zeros((0, 0)), mode).shape == (0, 0)
    np.testing.assert_array_equal(edge_weights(np.zeros((3, 3)), mode), np.ones((3, 3)))


def test_rbf_zero_sigma_is_the_kernel_limit():
    # 3 of 6 pairs at distance 0: the 25th percentile is 0
    w = edge_weights(sym([0.0, 0.0, 0.0, 1.0, 2.0, 3.0], 4), "rbf")
    np.testing.assert_array_equal(w, sym([1.0, 1.0, 1.0, 0.0, 0.0, 0.0], 4) + np.eye(4))


def test_diagonal_is_ignored():
    d = random_distances(4, 5)
    d2 = d.copy()
    np.fill_diagonal(d2, 7.0)
    for mode in EDGE_MODES:
        np.testing.assert_array_equal(edge_weights(d2, mode), edge_weights(d, mode))


@pytest.mark.parametrize(
    ("d", "kwargs", "match"),
    [
        (np.zeros((2, 3)), {}, "shape"),
        (sym([1.0, 2.0, 3.0], 3) - 2, {}, "negative"),
        (np.array([[0.0, 1.0], [2.0, 0.0]]), {}, "not symmetric"),
        (np.array([[0.0, np.inf], [np.inf, 0.0]]), {}, "infinite"),
        (np.zeros((2, 2)), {"mode": "knn"}, "unknown edge mode"),
        (np.zeros((2, 2)), {"sigma_percentile": 0}, "sigma_percentile"),
    ],
)
def test_bad_input_raises(d, kwargs, match):
    with pytest.raises(AsmpError, match=match):
        edge_weights(d, **kwargs)
