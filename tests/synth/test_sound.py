"""Sound: propagation physics (delay, 1/r, Doppler), timbres, mixing."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import hilbert

from asmp.synth.options import resolve_options
from asmp.synth.scene import plan_clips, sample_scene
from asmp.synth.sound import (
    BAND_LIMIT,
    PEAK,
    REF_DISTANCE,
    SPEED_OF_SOUND,
    TIMBRES,
    class_emitter,
    dry_signal,
    emission_time,
    propagate,
    render_audio,
)

RATE = 11025
C = SPEED_OF_SOUND


def tone(freq: float):
    return lambda tau: np.sin(2 * np.pi * freq * tau)


def line(start, velocity):
    start, velocity = np.asarray(start, float), np.asarray(velocity, float)
    return lambda t: start + np.outer(t, velocity)


def frequency(x: np.ndarray, rate: float) -> float:
    """Mean instantaneous frequency (Hz) from the unwrapped analytic phase."""
    phase = np.unwrap(np.angle(hilbert(x)))
    inner = slice(len(x) // 10, -len(x) // 10)
    t = np.arange(len(x)) / rate
    return np.polyfit(t[inner], phase[inner], 1)[0] / (2 * np.pi)


@pytest.mark.parametrize("v", [5.0, 10.0, 15.0])
def test_approaching_source_is_doppler_shifted_up_and_louder(v):
    t = np.arange(3 * RATE) / RATE
    still = line([0, 0, 0], [0, 0, 0])
    heard = propagate(tone(1000.0), line([0, 0, 60], [0, 0, -v]), still, t)
    ratio = frequency(heard, RATE) / 1000.0
    assert ratio == pytest.approx(C / (C - v), rel=1e-3)  # the brief asks for 1%
    half = len(t) // 2
    assert np.sqrt(np.mean(heard[half:] ** 2)) > np.sqrt(np.mean(heard[:half] ** 2))
    receding = propagate(tone(1000.0), line([0, 0, 10], [0, 0, v]), still, t)
    assert frequency(receding, RATE) / 1000.0 == pytest.approx(C / (C + v), rel=1e-3)


def test_moving_listener_hears_c_plus_v_over_c():
    t = np.arange(2 * RATE) / RATE
    heard = propagate(tone(800.0), line([0, 0, 60], [0, 0, 0]), line([0, 0, 0], [0, 0, 10]), t)
    assert frequency(heard, RATE) / 800.0 == pytest.approx((C + 10) / C, rel=1e-3)


def test_emission_time_solves_the_retarded_equation_and_gain_is_one_over_r():
    t = np.linspace(0, 4, 500)
    source = lambda s: np.stack([3 * np.sin(s), np.zeros_like(s), 20 - 4 * s], axis=1)  # noqa: E731
    receiver = line([1, 0, 0], [0.5, 0, 0])
    tau, r = emission_time(source, receiver, t)
    np.testing.assert_allclose(
        C * (t - tau), np.linalg.norm(source(tau) - receiver(t), axis=1), atol=1e-9
    )
    np.testing.assert_allclose(r, C * (t - tau))
    unit = propagate(lambda s: np.ones_like(s), source, receiver, t)
    np.testing.assert_allclose(unit, REF_DISTANCE / r)


@pytest.mark.parametrize("cls", sorted(TIMBRES))
def test_timbres_are_finite_band_limited_and_normalised(cls):
    rate = 4 * RATE
    t = np.arange(4 * rate) / rate - 0.2
    x = dry_signal(cls, np.random.default_rng(3), t, rate)
    assert np.isfinite(x).all()
    assert 0.1 < np.sqrt(np.mean(x**2)) < 0.3
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x)))) ** 2
    f = np.fft.rfftfreq(len(x), 1 / rate)
    # 60 dB down above the band: a +5% Doppler shift folds nothing over the output's Nyquist
    assert spectrum[f > BAND_LIMIT].sum() < 1e-6 * spectrum.sum()
    y = dry_signal(cls, np.random.default_rng(4), t, rate)
    assert not np.allclose(x, y)


def test_timbres_are_distinct():
    rate = 4 * RATE
    t = np.arange(4 * rate) / rate
    centroids = {}
    for cls in TIMBRES:
        power = np.abs(np.fft.rfft(dry_signal(cls, np.random.default_rng(0), t, rate))) ** 2
        f = np.fft.rfftfreq(len(t), 1 / rate)
        centroids[cls] = (f * power).sum() / power.sum()
    assert centroids["engine"] < 800 < centroids["bird"]
    assert len({round(c, -1) for c in centroids.values()}) == len(TIMBRES)


def test_class_emitter_covers_its_span():
    emit = class_emitter("horn", np.random.default_rng(0), 4 * RATE, (-0.3, 1.0))
    tau = np.linspace(-0.3, 1.0, 4000)
    assert np.isfinite(emit(tau)).all() and np.abs(emit(tau)).max() > 0
    np.testing.assert_array_equal(emit(tau), emit(tau))


def test_scene_audio_sums_to_a_mixture_within_range():
    opts = resolve_options(duration=2.0, sources=2)
    for spec in plan_clips(4, 9, opts):
        scene = sample_scene(spec, opts)
        sources, background, gain = render_audio(scene)
        assert sources.shape == (2, scene.n_samples) and background.shape == (scene.n_samples,)
        assert sources.dtype == background.dtype == np.float32
        mixture = sources.sum(axis=0) + background
        assert np.abs(mixture).max() <= PEAK + 1e-6 and 0 < gain <= 1
        assert np.sqrt(np.mean(background**2)) < 0.2 * np.sqrt(np.mean(sources**2))
