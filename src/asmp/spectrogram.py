"""Spectrograms, the log-frequency warp, masks and reconstruction (docs/audio.md).

Every function is torch, runs on the device of its input and is batched over leading
dimensions. Shapes use ``S`` samples, ``F = n_fft // 2 + 1`` linear frequency bins,
``T = 1 + S // hop`` frames and ``B`` warped rows (``audio.spectrogram_bins``, 256).

The STFT is librosa's as the released code calls it: a periodic Hann window of ``n_fft``
samples (``torch.hann_window``'s default, which is also ``scipy.signal.get_window('hann')``),
frames centred on ``t * hop`` with ``n_fft // 2`` samples of reflect padding at each end, no
normalisation. Bin ``k`` holds ``k * sample_rate / n_fft`` Hz.

The warp resamples frequency only. In normalised coordinates (-1 and +1 the outer edges of
the first and last input rows, as ``grid_sample(align_corners=False)``), warped
row ``i`` sits at ``y = -1 + 2 i / (B - 1)`` and reads the linear spectrogram at
``p = (21 ** ((y + 1) / 2) - 11) / 10``, i.e. at the fractional bin
``u_i = F (21 ** (i / (B - 1)) - 1) / 20 - 1 / 2``, bilinearly, with zeros outside the input.
:func:`unwarp` applies the inverse map ``p = 2 log(10 y + 11) / log(21) - 1``.
"""

from __future__ import annotations

import functools
import math

import torch
from torch import Tensor

#: The STFT's window and edge padding, as recorded in the audio stage's output.
WINDOW = "hann (periodic)"
PAD_MODE = "reflect"
#: Masks of the released code are clamped to ``[0, RATIO_MASK_MAX]``.
RATIO_MASK_MAX = 5.0
#: Added to the mixture magnitude before dividing (released code).
RATIO_MASK_EPS = 1e-10


def _window(n_fft: int, ref: Tensor) -> Tensor:
    """Periodic Hann window ``[n_fft]`` in ``ref``'s real dtype, on its device."""
    dtype = ref.real.dtype if ref.is_complex() else ref.dtype
    return torch.hann_window(n_fft, dtype=dtype, device=ref.device)


def stft(wave: Tensor, n_fft: int, hop: int) -> Tensor:
    """Complex STFT ``[..., F, T]`` of ``wave`` ``[..., S]`` (real, ``S > n_fft // 2``).

    Periodic Hann window of ``n_fft`` samples, hop ``hop`` samples, centred frames with
    reflect padding (librosa 0.7's ``stft``); float32 in, complex64 out.
    """
    flat = wave.reshape(-1, wave.shape[-1])
    spec = torch.stft(
        flat,
        n_fft,
        hop,
        window=_window(n_fft, wave),
        center=True,
        pad_mode=PAD_MODE,
        return_complex=True,
    )
    return spec.reshape(*wave.shape[:-1], *spec.shape[-2:])


def istft(spec: Tensor, n_fft: int, hop: int, length: int) -> Tensor:
    """Inverse of :func:`stft`: complex ``[..., F, T]`` -> real ``[..., length]``.

    Windowed overlap-add normalised by the summed squared window (librosa's ``istft``).
    """
    flat = spec.reshape(-1, *spec.shape[-2:])
    wave = torch.istft(flat, n_fft, hop, window=_window(n_fft, spec), center=True, length=length)
    return wave.reshape(*spec.shape[:-2], length)


def magnitude_phase(spec: Tensor) -> tuple[Tensor, Tensor]:
    """``(|spec|, angle(spec))`` of a complex spectrogram; phase in radians, ``[-pi, pi]``."""
    return spec.abs(), spec.angle()


def warp_positions(rows: int, size: int, forward: bool) -> Tensor:
    """Fractional input row read by each of ``rows`` output rows (float64 ``[rows]``).

    ``forward`` is the log-frequency warp (input ``size = F`` linear bins), otherwise its
    inverse (input ``size = B`` warped rows); see the module docstring.
    """
    y = torch.linspace(-1.0, 1.0, rows, dtype=torch.float64)
    if forward:
        p = (21.0 ** ((y + 1) / 2) - 11) / 10
    else:
        p = torch.log(10 * y + 11) / math.log(21) * 2 - 1
    return ((p + 1) * size - 1) / 2


def warped_row_hz(bins: int, n_fft: int, sample_rate: int) -> Tensor:
    """Frequency in Hz that each warped row samples (float64 ``[bins]``).

    ``f_i = u_i * sample_rate / n_fft`` with ``u_i = F (21 ** (i / (bins - 1)) - 1) / 20 - 1/2``:
    rows 0 and 1 lie 0.5 and 0.19 bins below DC and the last row half a bin above the top
    bin, so they carry 0.5, 0.81 and 0.5 of their nearest bin (zero padding).
    """
    return warp_positions(bins, n_fft // 2 + 1, True) * sample_rate / n_fft


@functools.lru_cache(maxsize=32)
def _taps(
    rows: int, size: int, forward: bool, device: torch.device, dtype: torch.dtype
) -> tuple[tuple[Tensor, Tensor], ...]:
    """The two bilinear taps ``(input row [rows], weight [rows, 1])`` of each output row,
    zero-weighted outside ``[0, size)``; cached per device so warping never syncs. Built
    outside inference mode so that a cached tap also serves autograd later."""
    with torch.inference_mode(False):
        pos = warp_positions(rows, size, forward)
        lo = pos.floor()
        taps = []
        for idx, weight in ((lo, 1 - (pos - lo)), (lo + 1, pos - lo)):
            inside = (idx >= 0) & (idx < size)
            taps.append(
                (
                    idx.clamp(0, size - 1).long().to(device),
                    (weight * inside).to(device=device, dtype=dtype)[:, None],
                )
            )
    return tuple(taps)


def _resample_rows(x: Tensor, rows: int, forward: bool) -> Tensor:
    """``x [..., N, T]`` read at the ``rows`` positions of :func:`warp_positions`."""
    (i0, w0), (i1, w1) = _taps(rows, x.shape[-2], forward, x.device, x.dtype)
    return x.index_select(-2, i0) * w0 + x.index_select(-2, i1) * w1


def warp(spec: Tensor, bins: int = 256) -> Tensor:
    """Log-frequency warp of a real spectrogram or mask: ``[..., F, T]`` -> ``[..., bins, T]``.

    The released code's ``grid_sample`` along frequency (bilinear, zero padding,
    ``align_corners=False``, no low-pass filter); time is left untouched.
    """
    return _resample_rows(spec, bins, True)


def unwarp(x: Tensor, freq_bins: int = 512) -> Tensor:
    """Inverse warp of a real warped tensor: ``[..., B, T]`` -> ``[..., freq_bins, T]``.

    Only approximately inverts :func:`warp` (docs/audio.md): rows above 1.5 kHz are more
    than two bins apart and the warp reads just the two bins around each, the round trip
    moves bin ``k`` by -0.65 (bottom) to +3.6 (top) bins, and the edge rows are attenuated.
    """
    return _resample_rows(x, freq_bins, False)


def ratio_mask(source_mag: Tensor, mixture_mag: Tensor) -> Tensor:
    """The released code's ground-truth mask: ``clamp(|s| / (|m| + 1e-10), 0, 5)``.

    Magnitudes of any (matching) shape, warped in the released code.
    """
    return (source_mag / (mixture_mag + RATIO_MASK_EPS)).clamp(0.0, RATIO_MASK_MAX)


def binary_mask(source_mags: Tensor, dim: int = -3) -> Tensor:
    """The paper's ideal binary mask ``1[X_u > max_{v != u} X_v]`` over ``dim`` (``>= 2``
    sources), as float: 1 where a source is strictly the loudest, 0 elsewhere and on ties."""
    top2 = source_mags.topk(2, dim=dim).values
    first, second = top2.narrow(dim, 0, 1), top2.narrow(dim, 1, 1)
    others = torch.where(source_mags == first, second, first)
    return (source_mags > others).to(source_mags.dtype)


def reconstruct(
    mask_warped: Tensor, mixture_spec: Tensor, n_fft: int, hop: int, length: int
) -> Tensor:
    """Waveform ``[..., length]`` of a warped mask ``[..., B, T]`` applied to a mixture.

    Unwarps the mask to the mixture's ``F`` bins, divided by the unwarp of a mask of ones
    (1 except at DC and the top bin, which the zero-padded unwarp halves), so that a mask
    of ones gives back the mixture and masks summing to one give tracks summing to it;
    multiplies the linear mixture magnitude, keeps the mixture phase and inverts the STFT.
    No clipping (the released code clips the result to [-1, 1] after overlap-add).
    """
    mag, phase = magnitude_phase(mixture_spec)
    bins = mask_warped.shape[-2]
    gain = unwarp(mask_warped.new_ones(bins, 1), mixture_spec.shape[-2])
    est = unwarp(mask_warped, mixture_spec.shape[-2]) / gain * mag
    return istft(est * torch.exp(1j * phase), n_fft, hop, length)


def window_frames(
    n_windows: int,
    frames: int,
    sample_rate: int,
    hop: int,
    mode: str = "seconds",
) -> tuple[Tensor, int]:
    """STFT frames of the 1-s windows of a crop: ``(start [n_windows] long, width)``.

    ``seconds``: window ``k`` holds the samples ``[k, k + 1)`` s, whose frames (centred on
    ``t * hop``) start at ``ceil(k * sample_rate / hop)``; every slice is
    ``ceil(sample_rate / hop)`` frames wide (44 at 11025 Hz, hop 256: 43.07 frames per
    second), and a last window that runs past the crop is moved back to end on its last
    frame. ``released``: the authors' 46-frame slices every 42 frames.
    """
    k = torch.arange(n_windows)
    if mode == "released":
        width, start = 46, 42 * k
    else:
        width = math.ceil(sample_rate / hop)
        start = torch.div(k * sample_rate + hop - 1, hop, rounding_mode="floor")
    if width > frames:
        raise ValueError(f"a {width}-frame window does not fit in {frames} frames")
    return start.clamp(max=frames - width), width
