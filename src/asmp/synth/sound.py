"""Sound of the synthetic world: class timbres, propagation to the camera, ambience.

Each sounding object emits a dry signal ``e(tau)`` (its timbre as heard ``REF_DISTANCE`` away).
The camera's microphone at ``R(t)`` hears ``e(tau) * REF_DISTANCE / r`` where ``tau`` is the
exact retarded (emission) time solving ``t - tau = |S(tau) - R(t)| / c`` and ``r = c (t - tau)``
is the distance the sound travelled: an approaching source gets louder and, through the
time-varying delay, Doppler-shifted up. Times are seconds, positions metres (world frame),
signals float at the rate they are sampled at.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.signal as ss

from asmp.synth.scene import Scene

#: Speed of sound in still air (m/s).
SPEED_OF_SOUND = 343.0
#: Distance (m) at which a source is heard at its dry amplitude (gain = REF_DISTANCE / r).
REF_DISTANCE = 5.0
#: Dry signals are synthesised at this multiple of the output rate, then read at retarded times.
OVERSAMPLE = 4
#: Highest frequency (Hz) of a dry signal: an elliptic low-pass passes 4 kHz and is 60 dB
#: down from here on, so that a Doppler shift of up to +5% stays below the Nyquist frequency
#: of the 11025 Hz output.
BAND_LIMIT = 4500.0
#: RMS of a dry signal before its per-object random gain.
DRY_RMS = 0.2
#: Peak the mixture is scaled down to when it would exceed it.
PEAK = 0.98

Emitter = Callable[[np.ndarray], np.ndarray]
Path3 = Callable[[np.ndarray], np.ndarray]


def _events(
    rng: np.random.Generator,
    t0: float,
    t1: float,
    dur: tuple[float, float],
    gap: tuple[float, float],
) -> tuple[np.ndarray, np.ndarray]:
    """A random on/off pattern covering ``[t0, t1]``: sorted start times and durations (s)."""
    n = int(np.ceil((t1 - t0 + dur[1] + gap[1]) / (dur[0] + gap[0]))) + 1
    durs = rng.uniform(*dur, n)
    steps = durs + rng.uniform(*gap, n)
    starts = t0 - rng.uniform(0, dur[1] + gap[1]) + np.concatenate([[0.0], np.cumsum(steps[:-1])])
    return starts, durs


def _clock(
    t: np.ndarray, starts: np.ndarray, durs: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per sample: index of the latest event, time since its start (s), the fraction of it
    elapsed (clipped to [0, 1]) and whether it is on."""
    idx = np.clip(np.searchsorted(starts, t, side="right") - 1, 0, len(starts) - 1)
    local = t - starts[idx]
    return idx, local, np.clip(local / durs[idx], 0, 1), (local >= 0) & (local < durs[idx])


def _wobble(rng: np.random.Generator, t: np.ndarray, hz: float) -> np.ndarray:
    """Smooth random curve of unit scale varying about ``hz`` times per second."""
    knots = np.arange(t[0] - 1 / hz, t[-1] + 2 / hz, 1 / hz)
    return np.interp(t, knots, rng.standard_normal(len(knots)))


def _phase(freq: np.ndarray, rate: float) -> np.ndarray:
    """Running phase (rad) of an instantaneous frequency ``freq`` (Hz)."""
    return 2 * np.pi * np.cumsum(freq) / rate


def _buzz(phase: np.ndarray, n_harmonics: int) -> np.ndarray:
    """Band-limited pulse train: the mean of ``cos(k phase)`` for k = 1..n (closed form)."""
    half = np.sin(phase / 2)
    safe = np.abs(half) > 1e-9
    dirichlet = np.sin((n_harmonics + 0.5) * phase) / (2 * np.where(safe, half, 1.0)) - 0.5
    return np.where(safe, dirichlet, n_harmonics) / n_harmonics


def _harmonics(f_max: float, top: float = BAND_LIMIT) -> int:
    """Harmonics of a tone whose fundamental reaches ``f_max`` that stay below ``top`` Hz."""
    return max(1, int(top // f_max))


def _sos(rate: float, order: int, cutoff: float | tuple[float, float], kind: str) -> np.ndarray:
    return ss.butter(order, cutoff, btype=kind, fs=rate, output="sos")


def bell(rng: np.random.Generator, t: np.ndarray, rate: float) -> np.ndarray:
    """Struck bell: inharmonic partials (hum, prime, tierce, quint, nominal...) decaying."""
    f0 = rng.uniform(250, 650)
    ratios = np.array([0.5, 1.0, 1.19, 1.5, 2.0, 2.52, 2.66, 3.01]) * rng.uniform(0.99, 1.01, 8)
    freqs = f0 * ratios  # below 2 kHz
    decays = rng.uniform(1.0, 2.5) * (freqs[0] / freqs) ** 0.8
    gains = rng.uniform(0.3, 1.0, len(freqs)) / (1 + 0.3 * np.arange(len(freqs)))
    starts, _ = _events(rng, t[0], t[-1], (0.0, 0.0), (0.8, 2.0))
    strikes = np.zeros_like(t)
    hit = np.round((starts - t[0]) * rate).astype(np.int64)
    ok = (hit >= 0) & (hit < len(t))
    strikes[hit[ok]] = rng.uniform(0.7, 1.0, ok.sum())
    out = np.zeros_like(t)
    for f, tau, g in zip(freqs, decays, gains, strict=True):
        r, theta = np.exp(-1 / (tau * rate)), 2 * np.pi * f / rate
        out += ss.lfilter([g * np.sin(theta)], [1, -2 * r * np.cos(theta), r * r], strikes)
    return out


def engine(rng: np.random.Generator, t: np.ndarray, rate: float) -> np.ndarray:
    """Engine: low harmonic buzz with wandering rpm and amplitude modulation, plus rumble."""
    f0 = rng.uniform(35, 75) * (
        1
        + 0.06 * np.sin(2 * np.pi * rng.uniform(0.1, 0.4) * t + rng.uniform(0, 2 * np.pi))
        + 0.03 * _wobble(rng, t, 1.0)
    )
    buzz = _buzz(_phase(f0, rate), _harmonics(f0.max(), 2000.0))
    depth = rng.uniform(0.3, 0.7)
    am = 1 + depth * np.sin(2 * np.pi * rng.uniform(3, 10) * t + rng.uniform(0, 2 * np.pi))
    tone = ss.sosfilt(_sos(rate, 2, rng.uniform(500, 1500), "lowpass"), buzz * am)
    rumble = ss.sosfilt(_sos(rate, 2, 300, "lowpass"), rng.standard_normal(len(t)))
    return tone / tone.std() + 0.3 * rumble / rumble.std()


def _fm_tones(freq: np.ndarray, env: np.ndarray, rate: float) -> np.ndarray:
    return env * np.sin(_phase(freq, rate))


def bird(rng: np.random.Generator, t: np.ndarray, rate: float) -> np.ndarray:
    """Bird song: phrases of short FM chirps (sweeps with vibrato) between 1.5 and 4.3 kHz."""
    starts, durs = _events(rng, t[0], t[-1], (0.05, 0.16), (0.03, 0.12))
    n = len(starts)
    f_from, f_to = rng.uniform(1500, 4000, n), rng.uniform(1500, 4000, n)
    vib_rate, vib_depth = rng.uniform(15, 40, n), rng.uniform(0, 200, n)
    idx, u, x, on = _clock(t, starts, durs)
    freq = (
        f_from[idx]
        + (f_to - f_from)[idx] * x
        + vib_depth[idx] * np.sin(2 * np.pi * vib_rate[idx] * u)
    )
    p_starts, p_durs = _events(rng, t[0], t[-1], (0.6, 1.6), (0.4, 1.5))
    phrase = _clock(t, p_starts, p_durs)[3]
    return _fm_tones(np.minimum(freq, 4300.0), on * phrase * np.sin(np.pi * x) ** 2, rate)


def dog(rng: np.random.Generator, t: np.ndarray, rate: float) -> np.ndarray:
    """Dog barks: pulse-and-noise excitation with a falling pitch through three formants."""
    starts, durs = _events(rng, t[0], t[-1], (0.12, 0.28), (0.15, 1.2))
    idx, u, x, on = _clock(t, starts, durs)
    f0 = rng.uniform(300, 550, len(starts))[idx] * (1 - 0.3 * x)
    env = on * (1 - np.exp(-u / 0.008)) * np.exp(-3 * x)
    excitation = env * (
        0.6 * _buzz(_phase(f0, rate), _harmonics(550)) + 0.8 * rng.standard_normal(len(t))
    )
    out = np.zeros_like(t)
    for centre, gain in zip(
        (rng.uniform(400, 700), rng.uniform(1100, 1800), rng.uniform(2300, 3200)),
        (1.0, 0.6, 0.3),
        strict=True,
    ):
        out += gain * ss.sosfilt(
            _sos(rate, 1, (0.85 * centre, 1.15 * centre), "bandpass"), excitation
        )
    return out


def horn(rng: np.random.Generator, t: np.ndarray, rate: float) -> np.ndarray:
    """Horn: honks of a brassy two-note chord, or a continuously wailing siren."""
    if rng.random() < 0.5:
        starts, durs = _events(rng, t[0], t[-1], (0.25, 1.0), (0.15, 0.9))
        idx, u, x, on = _clock(t, starts, durs)
        env = on * np.clip(u / 0.015, 0, 1) * np.clip(durs[idx] * (1 - x) / 0.015, 0, 1)
        f0 = rng.uniform(330, 480)
        voices = [np.full_like(t, f0), np.full_like(t, f0 * 2 ** (4 / 12))]
    else:
        env = np.ones_like(t)
        period = rng.uniform(1.0, 3.0)
        voices = [rng.uniform(600, 900) * (1 + 0.3 * np.sin(2 * np.pi * t / period))]
    wave = sum(_buzz(_phase(f, rate), _harmonics(f.max())) for f in voices)
    return ss.sosfilt(_sos(rate, 2, 2500, "lowpass"), env * wave)


def water(rng: np.random.Generator, t: np.ndarray, rate: float) -> np.ndarray:
    """Running water: band-passed babbling noise with rising droplet chirps."""
    band = (rng.uniform(250, 600), rng.uniform(1800, 3500))
    hiss = ss.sosfilt(_sos(rate, 2, band, "bandpass"), rng.standard_normal(len(t)))
    babble = np.clip(0.7 + 0.3 * _wobble(rng, t, rng.uniform(1, 4)), 0.1, None)
    starts, durs = _events(rng, t[0], t[-1], (0.01, 0.03), (0.03, 0.3))
    idx, u, x, on = _clock(t, starts, durs)
    f_from = rng.uniform(500, 900, len(starts))[idx]
    drops = _fm_tones(f_from * (1 + rng.uniform(0.5, 1.5) * x), on * np.exp(-4 * x), rate)
    return babble * hiss / hiss.std() + 0.5 * drops


#: Timbre of each sound class: ``f(rng, t, rate) -> [N]`` dry waveform on the grid ``t`` (s).
TIMBRES: dict[str, Callable[[np.random.Generator, np.ndarray, float], np.ndarray]] = {
    "bell": bell,
    "engine": engine,
    "bird": bird,
    "dog": dog,
    "horn": horn,
    "water": water,
}


def dry_signal(cls: str, rng: np.random.Generator, t: np.ndarray, rate: float) -> np.ndarray:
    """Band-limited dry waveform of class ``cls`` on the uniform grid ``t`` (s) at ``rate`` Hz.

    Its RMS is ``DRY_RMS`` times a random gain of +-3 dB.
    """
    band = ss.ellip(8, 0.5, 60, 0.89 * BAND_LIMIT, fs=rate, output="sos")
    x = ss.sosfilt(band, TIMBRES[cls](rng, t, rate))
    return x * (DRY_RMS * 10 ** (rng.uniform(-3, 3) / 20) / max(np.sqrt(np.mean(x**2)), 1e-12))


def emission_time(
    source: Path3, receiver: Path3, t: np.ndarray, c: float = SPEED_OF_SOUND
) -> tuple[np.ndarray, np.ndarray]:
    """Solve ``t - tau = |source(tau) - receiver(t)| / c`` for the emission times ``tau``.

    Fixed-point iteration; it contracts by the source's speed over ``c`` per step.

    Args:
        source, receiver: ``f(times [N]) -> [N,3]`` world positions (m).
        t: ``[N]`` reception times (s).

    Returns:
        ``tau`` ``[N]`` (s) and the travelled distance ``r = c (t - tau)`` ``[N]`` (m).
    """
    heard_at = receiver(t)
    tau = t.copy()
    for _ in range(100):
        new = t - np.linalg.norm(source(tau) - heard_at, axis=-1) / c
        done = np.max(np.abs(new - tau)) < 1e-12
        tau = new
        if done:
            break
    return tau, c * (t - tau)


def propagate(
    emit: Emitter, source: Path3, receiver: Path3, t: np.ndarray, c: float = SPEED_OF_SOUND
) -> np.ndarray:
    """What a microphone moving along ``receiver`` hears of ``emit`` moving along ``source``.

    Args:
        emit: ``f(tau [N]) -> [N]`` the dry signal at emission times (s).
        source, receiver: ``f(times [N]) -> [N,3]`` world positions (m).
        t: ``[N]`` reception times (s).

    Returns:
        ``[N]`` float64 ``emit(tau) * REF_DISTANCE / r``.
    """
    tau, r = emission_time(source, receiver, t, c)
    return emit(tau) * (REF_DISTANCE / r)


def sampled(x: np.ndarray, t0: float, rate: float) -> Emitter:
    """An emitter reading the uniformly sampled ``x`` (first sample at ``t0`` s) linearly."""
    return lambda tau: np.interp((tau - t0) * rate, np.arange(len(x)), x)


def class_emitter(
    cls: str, rng: np.random.Generator, rate: float, span: tuple[float, float]
) -> Emitter:
    """An emitter of class ``cls``: its dry signal synthesised at ``rate`` Hz over the
    emission times ``span`` (s, plus 10 ms either side; see :func:`dry_signal`)."""
    grid = span[0] - 0.01 + np.arange(int((span[1] - span[0] + 0.02) * rate) + 2) / rate
    return sampled(dry_signal(cls, rng, grid, rate), grid[0], rate)


def ambience(rng: np.random.Generator, n: int, rate: float) -> np.ndarray:
    """Quiet diffuse background ``[n]``: gusting low rumble plus faint hiss, not propagated."""
    t = np.arange(n) / rate
    rumble = ss.sosfilt(_sos(rate, 1, 200, "lowpass"), rng.standard_normal(n))
    hiss = ss.sosfilt(_sos(rate, 2, (1000, 4000), "bandpass"), rng.standard_normal(n))
    gust = np.clip(1 + 0.5 * _wobble(rng, t, 0.5), 0.2, None)
    x = gust * rumble / rumble.std() + 0.3 * hiss / hiss.std()
    return x * (rng.uniform(0.005, 0.015) / np.sqrt(np.mean(x**2)))


def render_audio(scene: Scene) -> tuple[np.ndarray, np.ndarray, float]:
    """The sound of a scene at the camera.

    Returns:
        ``sources`` ``[N,S]`` float32 (one row per sounding object, in object order),
        ``background`` ``[S]`` float32, and the common gain (<= 1) already applied to both so
        that their sum, the mixture, peaks at most at ``PEAK``.
    """
    rate = scene.sample_rate
    t = np.arange(scene.n_samples) / rate
    heard = []
    for obj in scene.sounding:
        path, mic = obj.trajectory.position, scene.camera.centre
        # emission time grows with reception time (everything is slower than sound)
        first, last = emission_time(path, mic, t[[0, -1]])[0]
        emit = class_emitter(
            obj.cls, np.random.default_rng([obj.seed, 1]), OVERSAMPLE * rate, (first, last)
        )
        heard.append(propagate(emit, path, mic, t))
    sources = np.array(heard).reshape(-1, len(t))
    background = ambience(np.random.default_rng([scene.seed, 3]), len(t), scene.sample_rate)
    peak = np.max(np.abs(sources.sum(axis=0) + background))
    gain = min(1.0, PEAK / peak)
    return (gain * sources).astype(np.float32), (gain * background).astype(np.float32), gain
