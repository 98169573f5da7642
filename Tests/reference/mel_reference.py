"""Reference for the mel stage: torchaudio's MelSpectrogram + AmplitudeToDB, one channel at a time.

Usage: mel_reference.py MANIFEST.json

The manifest is a list of cases, each:
  {"input": "x.f32", "channels": C, "rate": SR,          # raw float32, [C, N] row-major
   "n_fft": 2048, "n_mels": 240, "frames": 240, "f_min": 0.0, "f_max": null, "top_db": 80.0,
   "output": "m.f32"}                                    # written: raw float32 [C, n_mels, frames]
Per channel: MelSpectrogram(sample_rate=SR, n_fft, hop_length=N // (frames - 1), n_mels,
power=2.0, center=True, pad_mode="reflect", norm=None, mel_scale="htk") on a [1, N] tensor,
AmplitudeToDB("power", top_db) on its [1, n_mels, T] result, first `frames` frames kept.
"""
import json
import sys
import warnings

import numpy as np
import torch

from torchaudio_import import import_torchaudio

torchaudio = import_torchaudio()


def log_mel(x, rate, n_fft=2048, n_mels=240, frames=240, f_min=0.0, f_max=None, top_db=80.0):
    n = x.shape[-1]
    hop = n // (frames - 1)
    mel = torchaudio.transforms.MelSpectrogram(
        sample_rate=rate, n_fft=n_fft, hop_length=hop, n_mels=n_mels, f_min=f_min, f_max=f_max,
        power=2.0, center=True, pad_mode="reflect", norm=None, mel_scale="htk")
    to_db = torchaudio.transforms.AmplitudeToDB("power", top_db=top_db)
    return to_db(mel(x))[..., :frames]


def main() -> None:
    warnings.simplefilter("ignore")  # empty mel filters at high n_mels are expected
    with open(sys.argv[1]) as f:
        cases = json.load(f)
    for case in cases:
        channels = case["channels"]
        x = torch.from_numpy(np.fromfile(case["input"], dtype=np.float32).reshape(channels, -1))
        keys = ("n_fft", "n_mels", "frames", "f_min", "f_max", "top_db")
        params = {k: case[k] for k in keys if k in case}
        out = torch.cat([log_mel(x[c:c + 1], case["rate"], **params) for c in range(channels)])
        assert out.dtype == torch.float32
        out.numpy().tofile(case["output"])


if __name__ == "__main__":
    main()
