"""Building the HTDemucs of the demucs library for custom sources, mono, 16 kHz.

The model is ``demucs.htdemucs.HTDemucs`` itself (not a copy): what is trained here is what
``demucs.apply.apply_model`` and the Swift engine run. Only its constructor arguments are
chosen; they are kept (``kwargs``) in checkpoints and in the exported file.

Sizes that work at 16 kHz (the library's defaults are for 44.1-kHz stereo music):

* ``nfft`` sets the spectral branch: hop = nfft / 4. With ``depth`` 4 and ``stride`` 4 the
  frequency axis shrinks 256 times, so ``nfft`` 2048 (1024 bins, 128-ms window, 32-ms hop)
  leaves 4 bins at the bottom; ``nfft`` 1024 with ``depth`` 4 collapses the frequency axis
  to 1, which makes the library merge the branches before the transformer (slower here).
* the transformer works at ``channels * growth ** (depth - 1)`` channels; ``t_heads`` must
  divide it.
* ``channels / dconv_comp`` must be >= 1 (the residual branch would have no channel).
"""
from __future__ import annotations

from fractions import Fraction

import torch

# Presets: ``tiny`` is for tests (seconds on one core), ``small`` is the shipped demo model
# (1.8 M parameters, about 0.05 s of one CPU core per second of audio and training step),
# ``large`` about twice the compute and four times the parameters, for a machine with time.
PRESETS = {
    "tiny": dict(channels=8, depth=2, nfft=256, t_layers=1, t_heads=2),
    "small": dict(channels=16, depth=4, nfft=2048, t_layers=2, t_heads=4),
    "large": dict(channels=24, depth=4, nfft=2048, t_layers=3, t_heads=4),
}


def model_kwargs(sources, segment_s: float, sample_rate: int = 16000, preset: str = "small",
                 **overrides) -> dict:
    """Constructor arguments of ``HTDemucs`` for mono audio at ``sample_rate``."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset '{preset}' (expected one of {', '.join(PRESETS)})")
    kwargs = dict(PRESETS[preset])
    kwargs.update({k: v for k, v in overrides.items() if v is not None})
    kwargs.update(sources=list(sources), audio_channels=1, samplerate=int(sample_rate),
                  segment=Fraction(segment_s).limit_denominator(10000))
    return kwargs


def build(kwargs: dict) -> torch.nn.Module:
    """The ``HTDemucs`` of these constructor arguments."""
    from demucs.htdemucs import HTDemucs
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's weight_norm/kaiming deprecation chatter
        return HTDemucs(**kwargs)


def parameter_count(model: torch.nn.Module) -> int:
    """Number of trainable numbers of ``model``."""
    return sum(p.numel() for p in model.parameters())
