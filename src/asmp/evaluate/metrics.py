"""BSS-Eval v3 source-separation metrics: SDR, SIR and SAR (docs/evaluation.md#metrics).

The definitions are those of Vincent, Gribonval and Fevotte (IEEE TASLP 14(4), 2006) with a
time-invariant distortion filter of :data:`FILTER_LEN` taps, as the BSS_eval toolbox (v3)
and ``mir_eval.separation.bss_eval_sources`` compute them. For an estimate ``e`` and the
references ``r_1..r_n`` (all of ``S`` samples, zero-padded to ``S + 511``), let ``P_j e``
be the orthogonal projection of ``e`` on the 512 delayed copies of ``r_j`` and ``P e``
its projection on the delayed copies of all references. Then, in dB::

    SDR = 10 log10(|P_j e|^2 / |e - P_j e|^2)
    SIR = 10 log10(|P_j e|^2 / |P e - P_j e|^2)
    SAR = 10 log10(|P e|^2   / |e - P e|^2)

The fast backend computes the three squared norms exactly in float64 from FFT
correlations: ``|P e|^2 = d^T G^-1 d`` with ``G`` the ``(n*512)``-square Gram matrix of
the delayed references and ``d`` their inner products with ``e``; one Cholesky
factorisation of ``G`` (and one of each further diagonal block ``G_jj``) serves every
estimate.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import scipy.fft
import scipy.linalg
from scipy.optimize import linear_sum_assignment

from asmp.errors import AsmpError

#: Taps of the distortion filter (BSS_eval v3, mir_eval).
FILTER_LEN = 512
#: A reference or estimate is *silent* when its energy (sum of squares over the clip or
#: frame) is at most this fraction (-100 dB) of the loudest reference's in the same clip or
#: frame; all-zero signals are always silent. Silent sources get NaN metrics.
SILENT_ENERGY_RATIO = 1e-10
#: Memory (bytes) one chunk of clips may use for its spectra and correlations.
_CHUNK_BYTES = 1 << 28

Backend = Literal["fast", "mir_eval"]


@dataclass(frozen=True)
class BssEval:
    """BSS-Eval scores of the estimates matched to each reference.

    Whole-signal fields are ``[n_src]``; framewise ``[n_src, n_frames]``; from
    :func:`bss_eval_batch` ``[P, n_src]``. Entry ``j`` scores estimate ``perm[j]`` against
    reference ``j``.

    Attributes:
        sdr: source-to-distortion ratio, dB, float64.
        sir: source-to-interference ratio, dB, float64 (+inf with a single reference).
        sar: source-to-artifacts ratio, dB, float64.
        perm: int64, the estimate index matched to each reference (identity unless the
            permutation was searched).
        silent: bool, the reference or its matched estimate is silent
            (:data:`SILENT_ENERGY_RATIO`); its ``sdr``, ``sir`` and ``sar`` are NaN.
    """

    sdr: np.ndarray
    sir: np.ndarray
    sar: np.ndarray
    perm: np.ndarray
    silent: np.ndarray

    def to_json(self) -> dict[str, list]:
        """The fields as nested lists that ``json.dumps(..., allow_nan=False)`` accepts.

        NaN (silent sources) becomes ``null``; +inf and -inf become the strings ``"inf"``
        and ``"-inf"`` (``float()`` reads them back).
        """
        return {
            "sdr": _json_floats(self.sdr.tolist()),
            "sir": _json_floats(self.sir.tolist()),
            "sar": _json_floats(self.sar.tolist()),
            "perm": self.perm.tolist(),
            "silent": self.silent.tolist(),
        }


def _json_floats(values: Any) -> Any:
    if isinstance(values, list):
        return [_json_floats(v) for v in values]
    if np.isnan(values):
        return None
    if np.isinf(values):
        return "inf" if values > 0 else "-inf"
    return values


def bss_eval(
    reference: np.ndarray,
    estimate: np.ndarray,
    *,
    permutation: bool = False,
    window: int | None = None,
    hop: int | None = None,
    backend: Backend = "fast",
) -> BssEval:
    """BSS-Eval v3 of estimated sources against reference sources.

    Args:
        reference: ``[n_src, S]`` true sources (a 1-D array is one source), any real dtype.
        estimate: ``[n_src, S]`` estimated sources, the same shape.
        permutation: match estimates to references by the permutation with the largest
            mean SIR (as ``bss_eval_sources(..., compute_permutation=True)``); otherwise
            estimate ``j`` is scored against reference ``j``.
        window, hop: framewise evaluation (samples, give both), as mir_eval's
            ``bss_eval_sources_framewise``: ``n_frames = (S - window + hop) // hop`` frames
            start at ``k * hop``; samples after the last whole frame are not scored; when
            fewer than 2 frames fit, the whole signal is scored as one frame.
        backend: ``"fast"`` (this module's solver) or ``"mir_eval"`` (the reference
            implementation, one pair at a time; slow).

    Returns:
        Fields ``[n_src]``, or ``[n_src, n_frames]`` when framewise.

    Raises:
        AsmpError: mismatched shapes, non-finite samples, empty input, a bad window or hop.
    """
    ref = _as_sources(reference, "reference")
    est = _as_sources(estimate, "estimate")
    _check_pair(ref, est)
    if backend not in ("fast", "mir_eval"):
        raise AsmpError(f"unknown backend {backend!r} (fast or mir_eval)")
    if window is None and hop is None:
        fields = _select(*_score(ref[None], est[None], permutation, backend), permutation)
        return BssEval(*(f[0] for f in fields))
    if not all(isinstance(x, int | np.integer) and x > 0 for x in (window, hop)):
        raise AsmpError(
            f"framewise needs a positive integer window and hop (samples), got {window} and {hop}"
        )
    n_frames = (ref.shape[1] - window + hop) // hop
    if n_frames < 2:
        ref_f, est_f = ref[None], est[None]
    else:
        starts = np.arange(n_frames) * hop
        view = np.lib.stride_tricks.sliding_window_view
        ref_f = view(ref, window, axis=1)[:, starts].transpose(1, 0, 2)
        est_f = view(est, window, axis=1)[:, starts].transpose(1, 0, 2)
    fields = _select(*_score(ref_f, est_f, permutation, backend), permutation)
    return BssEval(*(f.T for f in fields))


def bss_eval_batch(reference: np.ndarray, estimate: np.ndarray) -> BssEval:
    """BSS-Eval v3 of many clips at once, estimate ``j`` scored against reference ``j``.

    Args:
        reference: ``[P, n_src, S]`` true sources of ``P`` clips, any real dtype (converted
            to float64 a chunk of clips at a time, so float32 input saves memory).
        estimate: ``[P, n_src, S]`` estimated sources.

    Returns:
        Fields ``[P, n_src]``; ``perm`` is the identity.

    Raises:
        AsmpError: as :func:`bss_eval`.
    """
    ref = _real_array(reference, "reference")
    est = _real_array(estimate, "estimate")
    if ref.ndim != 3:
        raise AsmpError(f"reference must be [P, n_src, samples], got shape {ref.shape}")
    _check_pair(ref, est)
    return BssEval(*_select(*_score(ref, est, False, "fast"), False))


def _real_array(x: np.ndarray, name: str) -> np.ndarray:
    x = np.asarray(x)
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise AsmpError(f"{name} must hold real numbers, got dtype {x.dtype}")
    return x


def _as_sources(x: np.ndarray, name: str) -> np.ndarray:
    x = _real_array(x, name).astype(np.float64, copy=False)
    if x.ndim == 1:
        x = x[None]
    if x.ndim != 2:
        raise AsmpError(f"{name} must be [n_src, samples] or [samples], got shape {x.shape}")
    return x


def _check_pair(ref: np.ndarray, est: np.ndarray) -> None:
    if ref.shape != est.shape:
        raise AsmpError(f"reference shape {ref.shape} differs from estimate shape {est.shape}")
    if ref.shape[-1] == 0 or ref.shape[-2] == 0:
        raise AsmpError(f"no sources or no samples (shape {ref.shape})")
    for name, x in (("reference", ref), ("estimate", est)):
        if not np.isfinite(x).all():
            raise AsmpError(f"{name} contains NaN or infinite samples")


def _score(
    ref: np.ndarray, est: np.ndarray, all_pairs: bool, backend: Backend
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``sdr, sir, sar`` ``[P, n_est, n_ref]`` (NaN where not scored) and the silent masks
    ``[P, n_src]`` of references and estimates, for ``P`` clips ``[P, n_src, S]``."""
    P, n, S = ref.shape
    nfft = scipy.fft.next_fast_len(S + FILTER_LEN - 1, real=True)
    per_clip = 2 * n * n * nfft * 16  # bytes of spectra and correlations
    chunk = max(1, _CHUNK_BYTES // per_clip)
    parts = []
    for p0 in range(0, P, chunk):
        r = np.asarray(ref[p0 : p0 + chunk], dtype=np.float64)
        e = np.asarray(est[p0 : p0 + chunk], dtype=np.float64)
        r_energy, e_energy = (r * r).sum(-1), (e * e).sum(-1)
        floor = SILENT_ENERGY_RATIO * r_energy.max(-1, keepdims=True)
        r_silent, e_silent = r_energy <= floor, e_energy <= floor
        if backend == "fast":
            ratios = _ratios_fast(r, e, r_silent, e_silent, nfft)
        else:
            ratios = np.stack(
                [
                    _ratios_mir_eval(*item, all_pairs)
                    for item in zip(r, e, r_silent, e_silent, strict=True)
                ]
            )
        parts.append((ratios, r_silent, e_silent))
    ratios = np.concatenate([p[0] for p in parts])
    r_silent = np.concatenate([p[1] for p in parts])
    e_silent = np.concatenate([p[2] for p in parts])
    return ratios[:, 0], ratios[:, 1], ratios[:, 2], r_silent, e_silent


def _ratios_fast(
    ref: np.ndarray, est: np.ndarray, r_silent: np.ndarray, e_silent: np.ndarray, nfft: int
) -> np.ndarray:
    """``[P, 3, n_est, n_ref]`` SDR, SIR, SAR (dB) of every estimate against every
    reference, NaN for silent pairs. ``ref``, ``est``: float64 ``[P, n_src, S]``."""
    P, n, _ = ref.shape
    L = FILTER_LEN
    # The metrics do not change when a signal is scaled: scale to unit energy (better
    # conditioned Gram matrices) and zero the silent ones (dropped from the projections).
    ref = ref / np.sqrt(np.where(r_silent, np.inf, (ref * ref).sum(-1)))[..., None]
    est = est / np.sqrt(np.where(e_silent, np.inf, (est * est).sum(-1)))[..., None]
    ref_f = scipy.fft.rfft(ref, nfft, axis=-1)
    ref_fc = ref_f.conj()
    est_f = scipy.fft.rfft(est, nfft, axis=-1)
    # c_ij[m] = sum_t r_i[t + m] r_j[t] at lags m = -(L-1)..L-1, for i >= j. Block (i, j)
    # of the Gram matrix G is <r_i delayed by a, r_j delayed by b> = c_ij[b - a]: a
    # Toeplitz view of c_ij. Only G's lower block triangle is read.
    il, jl = np.tril_indices(n)
    corr = scipy.fft.irfft(ref_f[:, il] * ref_fc[:, jl], nfft, axis=-1)
    corr = corr[..., np.arange(-(L - 1), L)]
    blocks = np.lib.stride_tricks.sliding_window_view(corr, L, axis=-1)[..., ::-1, :]
    # d[p, i, a, k] = <r_i delayed by a, e_k> = sum_t e_k[t + a] r_i[t].
    d = scipy.fft.irfft(est_f[:, None] * ref_fc[:, :, None], nfft, axis=-1)
    d = d[..., :L].transpose(0, 1, 3, 2)  # [P, n_ref, L, n_est]
    # Squared norms of the projections on all references and on each one. G's leading
    # block is G_00, so factorising G also gives the projections on reference 0.
    proj_all = np.empty((P, n))
    proj_one = np.empty((P, n, n))  # [P, n_ref, n_est] until transposed below
    eye = np.eye(L)
    for p in range(P):
        gram = np.empty((n * L, n * L), order="F")
        for b, (i, j) in enumerate(zip(il, jl, strict=True)):
            silent_block = i == j and r_silent[p, i]
            gram[i * L : (i + 1) * L, j * L : (j + 1) * L] = eye if silent_block else blocks[p, b]
        proj_all[p], proj_one[p, 0] = _quad_forms(gram, d[p].reshape(n * L, n), L)
        for j in range(1, n):
            block = gram[j * L : (j + 1) * L, j * L : (j + 1) * L]
            proj_one[p, j] = _quad_forms(block, d[p, j], L)[0]
    proj_one = proj_one.transpose(0, 2, 1)
    proj_all = proj_all[..., None]
    energy = (est * est).sum(-1)[..., None]  # [P, n_est, 1], 1 unless silent
    # With one (non-silent) reference P e = P_j e: no interference.
    interference = (proj_all - proj_one) * ((~r_silent).sum(1) > 1)[:, None, None]
    ratios = np.stack(
        [
            _db(proj_one, energy - proj_one),
            _db(proj_one, interference),
            _db(np.broadcast_to(proj_all, proj_one.shape), energy - proj_all),
        ],
        1,
    )
    silent = e_silent[:, None, :, None] | r_silent[:, None, None, :]
    ratios[np.broadcast_to(silent, ratios.shape)] = np.nan
    return ratios


def _quad_forms(gram: np.ndarray, rhs: np.ndarray, lead: int) -> tuple[np.ndarray, np.ndarray]:
    """``rhs_k^T G^-1 rhs_k`` for the columns of ``rhs [N, K]`` and the symmetric positive
    semi-definite ``G [N, N]`` whose lower triangle is ``gram``'s, and the same with the
    leading ``lead`` rows and columns only; both ``[K]``.

    Cholesky (``|L^-1 rhs|^2``), or the minimum-norm least-squares solution when ``G`` is
    numerically singular.
    """
    try:
        chol = scipy.linalg.cho_factor(gram, lower=True, check_finite=False)[0]
        y = scipy.linalg.solve_triangular(chol, rhs, lower=True, check_finite=False)
        y *= y
        return y.sum(0), y[:lead].sum(0)
    except np.linalg.LinAlgError:
        g = np.tril(gram)
        g += np.tril(g, -1).T
        part = rhs[:lead]
        return (
            (rhs * scipy.linalg.lstsq(g, rhs, check_finite=False)[0]).sum(0),
            (part * scipy.linalg.lstsq(g[:lead, :lead], part, check_finite=False)[0]).sum(0),
        )


def _db(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``10 log10(num / den)``; +inf where ``den <= 0``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, 10 * np.log10(num / den), np.inf)


def _ratios_mir_eval(
    ref: np.ndarray, est: np.ndarray, r_silent: np.ndarray, e_silent: np.ndarray, all_pairs: bool
) -> np.ndarray:
    """As :func:`_ratios_fast` for one clip ``[n_src, S]``, with mir_eval's
    ``bss_eval_sources`` (only the pairs ``(j, j)`` unless ``all_pairs``)."""
    from mir_eval.separation import bss_eval_sources

    n = ref.shape[0]
    out = np.full((3, n, n), np.nan)
    live = np.flatnonzero(~r_silent)
    if live.size == 0:
        return out
    # Each call scores estimate (j + shift) % n against reference j for every live j; a
    # silent estimate is replaced by its reference and its scores are discarded.
    for shift in range(n) if all_pairs else [0]:
        k = (live + shift) % n
        est_k = np.where(e_silent[k, None], ref[live], est[k])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            scores = bss_eval_sources(ref[live], est_k, compute_permutation=False)[:3]
        for m, (kk, j) in enumerate(zip(k, live, strict=True)):
            if not e_silent[kk]:
                out[:, kk, j] = [s[m] for s in scores]
    return out


def _select(
    sdr: np.ndarray,
    sir: np.ndarray,
    sar: np.ndarray,
    r_silent: np.ndarray,
    e_silent: np.ndarray,
    permutation: bool,
) -> list[np.ndarray]:
    """``sdr, sir, sar, perm, silent`` ``[P, n_src]``: each reference's estimate picked from
    the pair scores ``[P, n_est, n_ref]`` (by :func:`_best_permutation` or the identity)."""
    P, n, _ = sir.shape
    if permutation:
        perm = np.stack([_best_permutation(s) for s in sir])
    else:
        perm = np.broadcast_to(np.arange(n), (P, n)).copy()
    pick = (np.arange(P)[:, None], perm, np.arange(n)[None])
    silent = r_silent | np.take_along_axis(e_silent, perm, axis=1)
    return [sdr[pick], sir[pick], sar[pick], perm, silent]


def _best_permutation(sir: np.ndarray) -> np.ndarray:
    """``perm[j]``: the estimate matched to reference ``j`` maximising the mean SIR over
    ``sir [n_est, n_ref]``; silent pairs (NaN) count 0 dB, +-inf counts +-1e6 dB."""
    score = np.nan_to_num(sir.T, nan=0.0, posinf=1e6, neginf=-1e6)
    return linear_sum_assignment(score, maximize=True)[1].astype(np.int64)
