"""Separation metrics: SI-SDR, and the oracle ideal-ratio-mask ceiling.

SI-SDR (Le Roux et al., "SDR - half-baked or well done?", ICASSP 2019): with zero-mean
reference ``s`` and estimate ``e``, ``t = (<e, s> / <s, s>) s`` and
``SI-SDR = 10 log10(|t|^2 / |e - t|^2)``. SI-SDR *improvement* (SI-SDRi) is the SI-SDR of
the estimate minus that of the unprocessed mixture taken as the estimate of the source.
"""
from __future__ import annotations

import torch

_EPS = 1e-8


def si_sdr(estimate: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """SI-SDR in dB over the last axis (leading axes are kept), float64 inside."""
    e = estimate.double()
    s = reference.double()
    e = e - e.mean(dim=-1, keepdim=True)
    s = s - s.mean(dim=-1, keepdim=True)
    alpha = (e * s).sum(-1, keepdim=True) / ((s * s).sum(-1, keepdim=True) + _EPS)
    target = alpha * s
    noise = e - target
    return 10 * torch.log10(((target ** 2).sum(-1) + _EPS) / ((noise ** 2).sum(-1) + _EPS))


def ideal_ratio_mask(mix: torch.Tensor, sources: torch.Tensor, n_fft: int = 1024,
                     hop: int = 256, power: float = 1.0) -> torch.Tensor:
    """Oracle separation by the ideal ratio mask ``|S_i|^p / sum_j |S_j|^p`` on the mixture STFT.

    ``mix`` [..., T], ``sources`` [..., S, T] -> estimates [..., S, T]. It knows the true
    sources, so it is a ceiling for a masking separator at this STFT resolution (not a
    bound for HTDemucs, which also has a waveform branch and is not limited to masks).
    Background noise in the mixture, not in any source, is shared out by the mask.
    """
    window = torch.hann_window(n_fft, dtype=torch.float64)
    length = mix.shape[-1]

    def stft(x):
        flat = x.reshape(-1, length).double()
        return torch.stft(flat, n_fft, hop, window=window, return_complex=True, center=True)

    mix_spec = stft(mix)                                  # [B, F, N]
    src_spec = stft(sources)                              # [B*S, F, N]
    n_src = sources.shape[-2]
    src_spec = src_spec.reshape(-1, n_src, *src_spec.shape[-2:])
    mag = src_spec.abs() ** power
    mask = mag / (mag.sum(dim=1, keepdim=True) + 1e-12)
    est = mask * mix_spec[:, None]
    out = torch.istft(est.reshape(-1, *est.shape[-2:]), n_fft, hop, window=window,
                      length=length, center=True)
    return out.reshape(sources.shape).to(sources.dtype)
