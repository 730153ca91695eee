"""Spectrograms: STFT round trip, the log-frequency warp against its formulas, masks."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from asmp import spectrogram as sp

SR, N_FFT, HOP, BINS = 11025, 1022, 256, 256
FREQ = N_FFT // 2 + 1


def tone(hz: float, n: int = 65535) -> torch.Tensor:
    return torch.sin(2 * math.pi * hz * torch.arange(n, dtype=torch.float64) / SR).float()


def test_stft_shape_batching_and_round_trip() -> None:
    wave = torch.rand(2, 3, 65535, generator=torch.Generator().manual_seed(0)) * 2 - 1
    spec = sp.stft(wave, N_FFT, HOP)
    assert spec.shape == (2, 3, FREQ, 256) and spec.dtype == torch.complex64
    torch.testing.assert_close(spec[1, 2], sp.stft(wave[1, 2], N_FFT, HOP))
    back = sp.istft(spec, N_FFT, HOP, 65535)
    assert back.shape == wave.shape
    assert (back - wave).abs().max() < 1e-5


def test_warp_matches_released_grid_sample() -> None:
    """The released code's grid along frequency; pixel centres along time (identity)."""
    x = torch.rand(2, FREQ, 16, generator=torch.Generator().manual_seed(1))
    y = torch.linspace(-1, 1, BINS)
    gy = (21 ** ((y + 1) / 2) - 11) / 10
    gx = (2 * torch.arange(16) + 1) / 16 - 1
    grid = torch.stack(torch.broadcast_tensors(gx[None, :], gy[:, None]), dim=-1)
    ref = F.grid_sample(
        x[:, None], grid.expand(2, -1, -1, -1), "bilinear", "zeros", align_corners=False
    )[:, 0]
    # grid_sample computes positions in float32: ~1e-4 bins of error at the top rows.
    torch.testing.assert_close(sp.warp(x, BINS), ref, atol=2e-4, rtol=0)


def test_warped_row_hz_formula() -> None:
    hz = sp.warped_row_hz(BINS, N_FFT, SR)
    for i in (0, 1, 64, 128, 200, 255):
        u = FREQ * (21 ** (i / (BINS - 1)) - 1) / 20 - 0.5
        assert hz[i].item() == pytest.approx(u * SR / N_FFT, rel=1e-12)
    assert hz[0].item() == pytest.approx(-0.5 * SR / N_FFT)  # half a bin below DC
    assert hz[-1].item() == pytest.approx((FREQ - 0.5) * SR / N_FFT)  # half above the top
    assert hz[128].item() == pytest.approx(991.56, abs=0.01)
    assert torch.all(hz.diff() > 0)


@pytest.mark.parametrize("k", [4, 20, 100, 300, 450])
def test_pure_tone_lands_in_predicted_row(k: int) -> None:
    hz = k * SR / N_FFT  # on bin k
    mag, _ = sp.magnitude_phase(sp.stft(tone(hz), N_FFT, HOP))
    warped = sp.warp(mag, BINS)
    expected = int(torch.argmin((sp.warped_row_hz(BINS, N_FFT, SR) - hz).abs()))
    assert torch.all(warped[:, 2:-2].argmax(dim=0) == expected)  # edge frames: reflect padding


def test_warp_skips_bins_between_high_rows() -> None:
    """No anti-aliasing, as released: no row reads bins 447-449, so a tone on bin 448 (its
    whole Hann main lobe) vanishes from the warped spectrogram."""
    u = sp.warp_positions(BINS, FREQ, forward=True)
    assert not ((u > 446) & (u < 449)).any()
    mag, _ = sp.magnitude_phase(sp.stft(tone(448 * SR / N_FFT), N_FFT, HOP))
    warped = sp.warp(mag, BINS)
    assert warped[:, 2:-2].max() < 1e-5 * mag[:, 2:-2].max()


def smooth_profiles() -> torch.Tensor:
    """``[3, F]``: a cubic and sums of wide Gaussian bumps. The round-trip error is about
    shift(k) * dX/dk (next test), so smooth means slow on the scale of that shift."""
    k = torch.arange(FREQ, dtype=torch.float64)
    t = k / (FREQ - 1)
    cubic = 1 + t - 1.2 * t**2 + 0.5 * t**3
    bumps1 = 0.2 + torch.exp(-(((k - 80) / 60) ** 2)) + 0.5 * torch.exp(-(((k - 400) / 200) ** 2))
    bumps2 = 0.1 + torch.exp(-(((k - 250) / 250) ** 2))
    return torch.stack([cubic, bumps1, bumps2]).float()


def inner_bins() -> torch.Tensor:
    """``[F]`` bool: bins that unwarp reads only from warped rows 2..B-2. DC and the top 10
    bins also read rows 0, 1 or B-1, which the zero padding attenuates (docs/audio.md)."""
    pos = sp.warp_positions(FREQ, BINS, forward=False)
    inner = (pos >= 2) & (pos <= BINS - 2)
    assert inner.sum() == FREQ - 11 and inner[1:-10].all()
    return inner


def test_warp_unwarp_round_trip_smooth() -> None:
    """Within 1% of the maximum on the inner bins."""
    x = smooth_profiles()[:, :, None].expand(-1, -1, 4)
    back = sp.unwarp(sp.warp(x, BINS), FREQ)
    assert back.shape == x.shape
    err = (back - x).abs() / x.amax(dim=1, keepdim=True)
    assert err[:, inner_bins()].max() < 0.01


def test_warp_unwarp_round_trip_shift() -> None:
    """The round trip moves bin k to k + shift(k): warped rows sit at linspace(-1, 1, B) but
    are read back as align_corners=False pixels. Bilinear sampling is exact on a ramp, so
    the shift is unwarp's position, mapped through warp's: -0.65 bins at the bottom, +3.6
    at the top."""
    ramp = torch.arange(FREQ, dtype=torch.float64)[:, None]
    shift = (sp.unwarp(sp.warp(ramp, BINS), FREQ) - ramp)[:, 0]
    pos = sp.warp_positions(FREQ, BINS, forward=False)
    u = sp.warp_positions(BINS, FREQ, forward=True)
    lo = pos.floor().clamp(0, BINS - 2).long()
    expected = u[lo] + (pos - lo) * (u[lo + 1] - u[lo]) - ramp[:, 0]
    inner = inner_bins()
    torch.testing.assert_close(shift[inner], expected[inner])
    assert shift[1].item() == pytest.approx(-0.652, abs=1e-3)
    assert shift[FREQ - 11].item() == pytest.approx(3.603, abs=1e-3)


def test_unwarp_positions_invert_warp() -> None:
    """Mapping unwarp's normalised coordinate through the forward formula gives back the
    output row's own coordinate: the maps are inverse functions."""
    y = torch.linspace(-1, 1, FREQ, dtype=torch.float64)
    p = torch.log(10 * y + 11) / math.log(21) * 2 - 1
    torch.testing.assert_close((21 ** ((p + 1) / 2) - 11) / 10, y)
    torch.testing.assert_close(
        sp.warp_positions(FREQ, BINS, forward=False), ((p + 1) * BINS - 1) / 2
    )


def test_ratio_mask() -> None:
    src = torch.tensor([0.0, 1.0, 2.0, 3.0, 1.0])
    mix = torch.tensor([2.0, 2.0, 2.0, 0.5, 0.0])
    torch.testing.assert_close(sp.ratio_mask(src, mix), torch.tensor([0.0, 0.5, 1.0, 5.0, 5.0]))


def test_binary_mask() -> None:
    mags = torch.tensor([[1.0, 2.0, 3.0, 0.0], [2.0, 2.0, 1.0, 0.0], [0.5, 1.0, 4.0, 0.0]])
    expected = torch.tensor([[0.0, 0, 0, 0], [1, 0, 0, 0], [0, 0, 1, 0]])
    torch.testing.assert_close(sp.binary_mask(mags, dim=0), expected)
    pair = torch.rand(3, 2, 8, 5, generator=torch.Generator().manual_seed(2))
    ibm = sp.binary_mask(pair, dim=1)
    torch.testing.assert_close(ibm[:, 0], (pair[:, 0] > pair[:, 1]).float())
    torch.testing.assert_close(ibm.sum(dim=1), torch.ones(3, 8, 5))


def test_reconstruct_separates_two_tones() -> None:
    a, b = tone(220.0), 0.5 * tone(3000.0)
    spec = sp.stft(torch.stack([a, b, a + b]), N_FFT, HOP)
    mags, _ = sp.magnitude_phase(spec)
    warped = sp.warp(mags, BINS)
    masks = sp.ratio_mask(warped[:2], warped[2])
    est = sp.reconstruct(masks, spec[2], N_FFT, HOP, len(a))
    assert est.shape == (2, len(a))
    for e, ref in zip(est, (a, b), strict=True):
        snr = 10 * torch.log10(ref.pow(2).sum() / (e - ref).pow(2).sum())
        assert snr > 20
    # A mask of ones gives back the signal, edge bins (DC, the top) included.
    same = sp.reconstruct(torch.ones(BINS, 256), spec[0], N_FFT, HOP, len(a))
    torch.testing.assert_close(same, a, atol=1e-5, rtol=0)


def test_warp_autograd_after_inference_mode() -> None:
    """Taps cached during evaluation (inference mode) still serve training (autograd)."""
    with torch.inference_mode():
        sp.warp(torch.rand(FREQ, 3), BINS)
    x = torch.rand(FREQ, 3, requires_grad=True)
    sp.warp(x, BINS).sum().backward()
    # Each input bin's gradient is the summed weight of the rows reading it: all weights
    # are 1 but those of the rows reading below DC (0: 0.5, 1: 0.81) or above the top (0.5).
    torch.testing.assert_close(x.grad[:, 0], x.grad[:, 2])
    u1 = sp.warp_positions(BINS, FREQ, forward=True)[1].item()
    assert x.grad.sum().item() == pytest.approx(3 * (BINS - 2 + u1 + 1), rel=1e-5)
