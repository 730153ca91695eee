"""``asmp score`` (asmp.evaluate.score): WAV files in, one JSON object out."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
import soundfile as sf

from asmp.errors import AsmpError
from asmp.evaluate import score
from asmp.evaluate.metrics import bss_eval

RATE = 8000


def run_score(capsys, argv: list) -> dict:
    """Run the command's module as ``asmp score ARGV`` does; the one JSON object it prints."""
    p = argparse.ArgumentParser()
    score.add_arguments(p)
    assert score.run(p.parse_args([str(a) for a in argv])) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    return json.loads(out)


def sources(seed: int = 0, n: int = 2, samples: int = 4000) -> tuple[np.ndarray, np.ndarray]:
    """``reference, estimate`` ``[n, samples]`` in [-1, 1]: noises and their leaky estimates."""
    rng = np.random.default_rng(seed)
    ref = 0.3 * rng.standard_normal((n, samples)).clip(-3, 3)
    mix = 0.2 * np.roll(ref[::-1], 3, axis=1)
    return ref, ref + mix + 0.01 * rng.standard_normal((n, samples))


def write(tmp_path, name: str, signals: np.ndarray, rate: int = RATE, **kw) -> list:
    """``signals [n, S]`` (or ``[n, S, channels]``) as ``name0.wav``, ``name1.wav``..."""
    paths = [tmp_path / f"{name}{i}.wav" for i in range(len(signals))]
    for path, x in zip(paths, signals, strict=True):
        sf.write(path, x, rate, **{"subtype": "DOUBLE", **kw})
    return paths


def as_floats(values: list) -> np.ndarray:
    return np.array(values, dtype=float)  # "inf" -> inf, None -> nan


def test_score_prints_bss_eval(tmp_path, capsys):
    ref, est = sources()
    refs, ests = write(tmp_path, "ref", ref), write(tmp_path, "est", est)
    out = run_score(capsys, ["--ref", *refs, "--est", *ests])
    want = bss_eval(ref, est)
    assert set(out) == {"sdr", "sir", "sar", "perm", "silent"}
    for name in ("sdr", "sir", "sar"):
        np.testing.assert_allclose(out[name], getattr(want, name), rtol=1e-12)
    assert out["perm"] == [0, 1] and out["silent"] == [False, False]
    # Estimates given in the other order: --permutation finds it.
    swapped = run_score(capsys, ["--ref", *refs, "--est", *ests[::-1], "--permutation"])
    assert swapped["perm"] == [1, 0]
    np.testing.assert_allclose(swapped["sdr"], out["sdr"], rtol=1e-12)


def test_framewise_and_backends(tmp_path, capsys):
    ref, est = sources(1, samples=3000)
    args = ["--ref", *write(tmp_path, "r", ref), "--est", *write(tmp_path, "e", est)]
    fast = run_score(capsys, [*args, "--framewise", 1000, 1000])
    assert np.shape(fast["sdr"]) == np.shape(fast["perm"]) == np.shape(fast["silent"]) == (2, 3)
    np.testing.assert_allclose(fast["sar"], bss_eval(ref, est, window=1000, hop=1000).sar)
    slow = run_score(capsys, [*args, "--framewise", 1000, 1000, "--backend", "mir_eval"])
    for name in ("sdr", "sir", "sar"):
        np.testing.assert_allclose(fast[name], slow[name], atol=1e-3, rtol=0)


def test_stereo_is_mixed_down(tmp_path, capsys):
    ref, est = sources(2)
    rng = np.random.default_rng(9)
    ref_lr = np.stack([ref + 0.1 * rng.standard_normal(ref.shape), ref], -1)
    est_lr = np.stack([est, est - 0.1 * rng.standard_normal(est.shape)], -1)
    out = run_score(
        capsys, ["--ref", *write(tmp_path, "r", ref_lr), "--est", *write(tmp_path, "e", est_lr)]
    )
    want = bss_eval(ref_lr.mean(-1), est_lr.mean(-1))
    np.testing.assert_allclose(out["sdr"], want.sdr, rtol=1e-12)
    assert abs(out["sdr"][0] - bss_eval(ref_lr[..., 0], est_lr[..., 0]).sdr[0]) > 0.1


def test_silent_and_single_source(tmp_path, capsys):
    ref, est = sources(3)
    est[1] = 0
    out = run_score(
        capsys, ["--ref", *write(tmp_path, "r", ref), "--est", *write(tmp_path, "e", est)]
    )
    assert out["silent"] == [False, True]
    assert out["sdr"][1] is None and out["sir"][1] is None and out["sar"][1] is None
    assert np.isfinite(out["sdr"][0])
    one = run_score(
        capsys, ["--ref", *write(tmp_path, "r", ref[:1]), "--est", *write(tmp_path, "e", est[:1])]
    )
    assert one["sir"] == ["inf"] and one["sdr"] == one["sar"]


def test_toolbox_case_from_stereo_pcm(shared_dir, capsys):
    """mir_eval case 06: 16-bit stereo at 16 kHz, scored as (L+R)/2."""
    root = shared_dir / "testdata" / "mir_eval-separation"
    refs, ests = sorted((root / "ref06").glob("*.wav")), sorted((root / "est06").glob("*.wav"))
    out = run_score(capsys, ["--ref", *refs, "--est", *ests, "--permutation"])
    want = json.loads((root / "output06.json").read_text())["Sources"]
    np.testing.assert_allclose(out["sdr"], want["Source to Distortion"], atol=1e-2, rtol=0)
    np.testing.assert_allclose(out["sir"], want["Source to Interference"], atol=1e-2, rtol=0)
    np.testing.assert_allclose(out["sar"], want["Source to Artifact"], atol=1e-2, rtol=0)
    assert out["perm"] == want["Source permutation"]


def test_bad_input(tmp_path):
    ref, est = sources(4)
    refs, ests = write(tmp_path, "ref", ref), write(tmp_path, "est", est)
    p = argparse.ArgumentParser()
    score.add_arguments(p)

    def error(*argv) -> str:
        with pytest.raises(AsmpError) as err:
            score.run(p.parse_args([str(a) for a in argv]))
        return str(err.value)

    assert error("--ref", *refs, "--est", ests[0]) == (
        "2 --ref files but 1 --est files (one estimate per reference)"
    )
    fast = write(tmp_path, "fast", est, rate=16000)
    assert error("--ref", *refs, "--est", ests[0], fast[1]) == (
        f"{fast[1]}: sample rate 16000 Hz differs from {refs[0]}'s 8000 Hz"
    )
    short = write(tmp_path, "short", est[:, :3999])
    assert error("--ref", *refs, "--est", ests[0], short[1]) == (
        f"{short[1]}: 3999 samples differ from {refs[0]}'s 4000"
    )
    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(b"RIFF not really a wave file")
    assert error("--ref", *refs, "--est", ests[0], garbage).startswith(
        f"{garbage}: cannot read audio: "
    )
    missing = tmp_path / "missing.wav"
    assert error("--ref", missing, refs[1], "--est", *ests) == f"{missing}: no such file"
    bad = est.copy()
    bad[1, 10] = np.nan
    nan = write(tmp_path, "nan", bad)
    assert error("--ref", *refs, "--est", *nan) == f"{nan[1]}: contains NaN or infinite samples"
    empty = write(tmp_path, "empty", est[:, :0])
    assert error("--ref", empty[0], "--est", ests[0]) == f"{empty[0]}: no samples"
    assert "positive integer window and hop" in error(
        "--ref", *refs, "--est", *ests, "--framewise", 0, 1
    )
