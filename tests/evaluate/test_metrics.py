"""BSS-Eval v3 (asmp.evaluate.metrics) against the BSS_eval toolbox's answers and mir_eval."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import scipy.signal
from mir_eval.separation import bss_eval_sources, bss_eval_sources_framewise

from asmp.errors import AsmpError
from asmp.evaluate import metrics
from asmp.evaluate.metrics import BssEval, bss_eval, bss_eval_batch
from asmp.evaluate.score import read_sources

CASES = ["01", "02", "03", "05", "06", "07", "08", "09"]
KEYS = {"sdr": "Source to Distortion", "sir": "Source to Interference", "sar": "Source to Artifact"}


def mir_eval(*args, framewise: bool = False, **kwargs) -> tuple[np.ndarray, ...]:
    """mir_eval's ``bss_eval_sources[_framewise]`` without its deprecation warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fn = bss_eval_sources_framewise if framewise else bss_eval_sources
        return fn(*args, **kwargs)


def assert_scores(result: BssEval, sdr, sir, sar, atol: float) -> None:
    for name, want in (("sdr", sdr), ("sir", sir), ("sar", sar)):
        np.testing.assert_allclose(getattr(result, name), want, rtol=0, atol=atol, err_msg=name)


def clip(rng: np.random.Generator, n: int, samples: int, tonal: bool) -> tuple[np.ndarray, ...]:
    """``reference, estimate`` ``[n, samples]``: band-limited noises (source 0 a harmonic
    tone over a -40 dB noise floor when ``tonal``); each estimate is its source through a
    short random filter, plus leakage of the others through unit-gain random filters
    (-26 to -6 dB) and white noise."""
    t = np.arange(samples) / 8000
    ref = np.empty((n, samples))
    for j in range(n):
        if tonal and j == 0:
            f0 = rng.uniform(100, 600)
            ref[j] = sum(np.sin(2 * np.pi * h * f0 * t + rng.uniform(0, 6)) / h for h in (1, 2, 3))
            ref[j] += 0.01 * rng.standard_normal(samples)
        else:
            lo = rng.uniform(0.02, 0.5)
            b, a = scipy.signal.butter(2, [lo, lo + 0.45], "bandpass")
            envelope = 1 + np.sin(2 * np.pi * rng.uniform(1, 5) * t)
            ref[j] = scipy.signal.lfilter(b, a, rng.standard_normal(samples)) * envelope
    est = np.empty_like(ref)
    for j in range(n):
        own = np.r_[1, 0.3 * rng.standard_normal(7) * 0.6 ** np.arange(7)]
        e = scipy.signal.lfilter(own, 1, ref[j])
        for k in set(range(n)) - {j}:
            leak = rng.uniform(0.05, 0.5) * rng.standard_normal(16) / 4
            e += scipy.signal.lfilter(leak, 1, ref[k]) * ref[j].std() / ref[k].std()
        est[j] = e + rng.uniform(0.01, 0.2) * e.std() * rng.standard_normal(samples)
    return ref, est


@pytest.mark.parametrize("case", CASES)
def test_bss_eval_toolbox_cases(shared_dir, case):
    """mir_eval's regression data: whole-signal with the permutation search, framewise
    without, as its tests run them; the BSS_eval toolbox's answers to 1e-2 dB."""
    root = shared_dir / "testdata" / "mir_eval-separation"
    ref, _ = read_sources(sorted((root / f"ref{case}").glob("*.wav")))
    est, _ = read_sources(sorted((root / f"est{case}").glob("*.wav")))
    want = json.loads((root / f"output{case}.json").read_text())
    whole = bss_eval(ref, est, permutation=True)
    assert_scores(whole, *(want["Sources"][k] for k in KEYS.values()), atol=1e-2)
    np.testing.assert_array_equal(whole.perm, want["Sources"]["Source permutation"])
    fw = want["Framewise"]
    frames = bss_eval(ref, est, window=fw["win"], hop=fw["hop"])
    assert frames.sdr.shape == np.shape(fw["Source to Distortion"])
    assert_scores(frames, *(fw[k] for k in KEYS.values()), atol=1e-2)
    np.testing.assert_array_equal(frames.perm, fw["Source permutation"])
    assert not whole.silent.any() and not frames.silent.any()
    if case == "09":  # one source: no interference
        assert np.isposinf(whole.sir).all() and np.isposinf(frames.sir).all()


@pytest.mark.parametrize("seed", range(20))
def test_fast_matches_mir_eval(seed):
    rng = np.random.default_rng(seed)
    n, permutation = 2 + seed % 2, seed % 4 == 0
    ref, est = clip(rng, n, 2500, tonal=seed % 3 == 0)
    if permutation:
        est = est[rng.permutation(n)]
    fast = bss_eval(ref, est, permutation=permutation)
    sdr, sir, sar, perm = mir_eval(ref, est, compute_permutation=permutation)
    assert_scores(fast, sdr, sir, sar, atol=1e-3)
    np.testing.assert_array_equal(fast.perm, perm)
    assert (fast.sdr > 0).all() and (fast.sdr < 30).all()  # non-trivial scores


def test_mir_eval_backend_is_mir_eval():
    ref, est = clip(np.random.default_rng(7), 3, 1500, tonal=False)
    est = est[[1, 2, 0]]
    sdr, sir, sar, perm = mir_eval(ref, est, compute_permutation=True)
    result = bss_eval(ref, est, permutation=True, backend="mir_eval")
    assert_scores(result, sdr, sir, sar, atol=1e-9)
    np.testing.assert_array_equal(result.perm, perm)
    np.testing.assert_array_equal(result.perm, [2, 0, 1])


def test_batch_equals_pairs(monkeypatch):
    rng = np.random.default_rng(3)
    pairs = [clip(rng, 2, 2000, tonal=p == 1) for p in range(4)]
    ref = np.stack([p[0] for p in pairs]).astype(np.float32)
    est = np.stack([p[1] for p in pairs]).astype(np.float32)
    monkeypatch.setattr(metrics, "_CHUNK_BYTES", 1)  # one clip per chunk
    batch = bss_eval_batch(ref, est)
    assert batch.sdr.shape == batch.perm.shape == batch.silent.shape == (4, 2)
    for p in range(4):
        one = bss_eval(ref[p].astype(np.float64), est[p].astype(np.float64))
        assert_scores(one, batch.sdr[p], batch.sir[p], batch.sar[p], atol=1e-9)
        np.testing.assert_array_equal(batch.perm[p], [0, 1])


def test_single_source():
    ref, est = clip(np.random.default_rng(1), 1, 2000, tonal=True)
    result = bss_eval(ref[0], est[0])
    sdr, sir, sar, _ = mir_eval(ref, est)
    assert np.isposinf(result.sir).all()
    assert_scores(result, sdr, sir, sar, atol=1e-3)
    np.testing.assert_array_equal(result.sdr, result.sar)


def test_framewise_frames():
    """mir_eval's frame rule: whole frames at k * hop; the rest is not scored."""
    ref, est = clip(np.random.default_rng(2), 2, 2300, tonal=False)
    frames = bss_eval(ref, est, window=1000, hop=600)  # starts 0, 600, 1200; 2200..2299 unused
    assert frames.sdr.shape == frames.perm.shape == frames.silent.shape == (2, 3)
    for k in range(3):
        one = bss_eval(ref[:, 600 * k : 600 * k + 1000], est[:, 600 * k : 600 * k + 1000])
        assert_scores(one, frames.sdr[:, k], frames.sir[:, k], frames.sar[:, k], atol=1e-9)
    sdr, sir, sar, _ = mir_eval(ref, est, 1000, 600, framewise=True)
    assert_scores(frames, sdr, sir, sar, atol=1e-3)
    # Fewer than two frames: the whole signal, as one frame.
    whole = bss_eval(ref, est, permutation=True)
    for window, hop in ((2300, 100), (5000, 5000), (1500, 1000)):
        short = bss_eval(ref, est, window=window, hop=hop, permutation=True)
        assert short.sdr.shape == (2, 1)
        assert_scores(short, whole.sdr[:, None], whole.sir[:, None], whole.sar[:, None], 1e-12)


def test_singular_gram(monkeypatch):
    """Two sources of 400 samples: 1024 delayed copies in a 911-dimensional space, so G is
    singular (least-squares path) and P e = e: SIR = SDR, SAR only bounded by rounding."""
    calls = []
    lstsq = scipy.linalg.lstsq
    monkeypatch.setattr(scipy.linalg, "lstsq", lambda *a, **k: calls.append(1) or lstsq(*a, **k))
    ref, est = clip(np.random.default_rng(0), 2, 400, tonal=False)
    result = bss_eval(ref, est)
    assert calls
    np.testing.assert_allclose(result.sdr, mir_eval(ref, est)[0], atol=1e-3, rtol=0)
    np.testing.assert_allclose(result.sir, result.sdr, atol=1e-3, rtol=0)
    assert (result.sar > 50).all()


def test_silent_reference():
    """A silent reference is dropped from the projections (all-zero delayed copies span
    nothing): the other sources score as mir_eval without it."""
    ref, est = clip(np.random.default_rng(4), 3, 2000, tonal=False)
    ref[1] = 0
    result = bss_eval(ref, est)
    np.testing.assert_array_equal(result.silent, [False, True, False])
    sdr, sir, sar, _ = mir_eval(ref[[0, 2]], est[[0, 2]])
    # assert_allclose also checks where the NaNs are.
    assert_scores(result, *(np.insert(x, 1, np.nan) for x in (sdr, sir, sar)), atol=1e-3)
    np.testing.assert_array_equal(result.perm, [0, 1, 2])
    # One reference left: no interference, whatever the rounding of the two projections.
    for seed in (3, 4, 6):
        ref, est = clip(np.random.default_rng(seed), 3, 2000, tonal=False)
        ref[[0, 2]] = 0
        result = bss_eval(ref, est)
        sdr, sir, sar, _ = mir_eval(ref[1], est[1])
        assert_scores(
            result, [np.nan, *sdr, np.nan], [np.nan, *sir, np.nan], [np.nan, *sar, np.nan], 1e-3
        )


def test_silent_estimate():
    ref, est = clip(np.random.default_rng(5), 2, 2000, tonal=False)
    sdr, sir, sar, _ = mir_eval(ref, est)  # estimate 1 scores the same whatever estimate 0 is
    est[0] = 0
    result = bss_eval(ref, est)
    np.testing.assert_array_equal(result.silent, [True, False])
    assert np.isnan([result.sdr[0], result.sir[0], result.sar[0]]).all()
    assert_scores(result, [np.nan, sdr[1]], [np.nan, sir[1]], [np.nan, sar[1]], atol=1e-3)
    swapped = bss_eval(ref, est[::-1], permutation=True)
    np.testing.assert_array_equal(swapped.perm, [1, 0])
    np.testing.assert_array_equal(swapped.silent, [True, False])
    np.testing.assert_allclose(swapped.sdr[1], sdr[1], atol=1e-3)


def test_silence_threshold_and_scale_invariance():
    ref, est = clip(np.random.default_rng(6), 2, 2000, tonal=False)
    loudest = (ref**2).sum(1).max()
    base = bss_eval(ref, est)
    for ratio, silent in ((1e-9, False), (1e-11, True)):
        quiet = est.copy()
        quiet[1] *= np.sqrt(ratio * loudest / (est[1] ** 2).sum())
        result = bss_eval(ref, quiet)
        np.testing.assert_array_equal(result.silent, [False, silent])
        if not silent:  # the metrics do not depend on an estimate's gain
            assert_scores(result, base.sdr, base.sir, base.sar, atol=1e-6)
    nothing = bss_eval(np.zeros_like(ref), est, permutation=True)
    assert nothing.silent.all() and np.isnan(nothing.sdr).all()
    assert sorted(nothing.perm) == [0, 1]


def test_silent_frame():
    """Only the source that is silent in a frame loses that frame (mir_eval: the frame)."""
    ref, est = clip(np.random.default_rng(8), 2, 4000, tonal=False)
    ref[0, 1000:2000] = 0
    frames = bss_eval(ref, est, window=1000, hop=500)
    want = np.zeros((2, 7), bool)
    want[0, 2] = True
    np.testing.assert_array_equal(frames.silent, want)
    want = mir_eval(ref, est, 1000, 500, framewise=True)[:3]  # NaN for both in frame 2
    alone = mir_eval(ref[1:, 1000:2000], est[1:, 1000:2000])  # source 1 alone in frame 2
    for x, y in zip(want, alone, strict=False):
        x[1, 2] = y[0]
    assert np.isposinf(want[1][1, 2])
    assert_scores(frames, *want, atol=1e-3)


def test_to_json():
    result = BssEval(
        sdr=np.array([1.5, np.nan]),
        sir=np.array([np.inf, np.nan]),
        sar=np.array([-np.inf, np.nan]),
        perm=np.array([1, 0]),
        silent=np.array([False, True]),
    )
    text = json.dumps(result.to_json(), allow_nan=False)
    assert json.loads(text) == {
        "sdr": [1.5, None],
        "sir": ["inf", None],
        "sar": ["-inf", None],
        "perm": [1, 0],
        "silent": [False, True],
    }
    frames = bss_eval(*clip(np.random.default_rng(9), 2, 3000, False), window=1000, hop=1000)
    nested = json.loads(json.dumps(frames.to_json(), allow_nan=False))
    assert np.shape(nested["sdr"]) == np.shape(nested["perm"]) == (2, 3)
    np.testing.assert_array_equal(nested["sar"], frames.sar)


@pytest.mark.parametrize(
    "ref, est, kwargs, message",
    [
        (np.ones((2, 100)), np.ones((2, 99)), {}, "reference shape (2, 100) differs from"),
        (np.ones((2, 1, 9)), np.ones((2, 1, 9)), {}, "reference must be [n_src, samples]"),
        (np.ones((2, 0)), np.ones((2, 0)), {}, "no sources or no samples"),
        (np.ones(9), np.r_[np.ones(8), np.nan], {}, "estimate contains NaN or infinite"),
        (np.r_[np.ones(8), np.inf], np.ones(9), {}, "reference contains NaN or infinite"),
        (np.ones(9, complex), np.ones(9), {}, "reference must hold real numbers"),
        (
            np.ones(9),
            np.ones(9),
            {"window": 4},
            "positive integer window and hop (samples), got 4 and None",
        ),
        (np.ones(9), np.ones(9), {"window": 4, "hop": 0}, "positive integer window and hop"),
        (np.ones(9), np.ones(9), {"window": 4.5, "hop": 2}, "positive integer window and hop"),
        (np.ones(9), np.ones(9), {"backend": "museval"}, "unknown backend 'museval'"),
    ],
)
def test_bad_input(ref, est, kwargs, message):
    with pytest.raises(AsmpError) as err:
        bss_eval(ref, est, **kwargs)
    assert message in str(err.value)


def test_bad_batch():
    with pytest.raises(AsmpError, match=r"must be \[P, n_src, samples\]"):
        bss_eval_batch(np.ones((2, 9)), np.ones((2, 9)))
    with pytest.raises(AsmpError, match="differs from estimate shape"):
        bss_eval_batch(np.ones((3, 2, 9)), np.ones((2, 2, 9)))
