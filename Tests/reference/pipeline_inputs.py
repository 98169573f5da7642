"""Inputs for the end-to-end test of `process`: a multi-microphone recording of synthetic
machine-like sounds over site noise, and a noise profile of that site saved with torch.save
as the original prototype saved it.

usage: pipeline_inputs.py OUTDIR --seconds 25 --channels 4 --rate 16000"""
import argparse
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

p = argparse.ArgumentParser()
p.add_argument("outdir")
p.add_argument("--seconds", type=float, default=25)
p.add_argument("--channels", type=int, default=4)
p.add_argument("--rate", type=int, default=16000)
p.add_argument("--seed", type=int, default=5)
a = p.parse_args()
out = Path(a.outdir)
out.mkdir(parents=True, exist_ok=True)
rng = np.random.default_rng(a.seed)
n = int(a.seconds * a.rate)
t = np.arange(n) / a.rate


def site_noise(length):
    # Pink-ish broadband hum of a hall: filtered white noise plus mains hum.
    white = rng.standard_normal(length)
    pink = np.convolve(white, np.ones(8) / 8, mode="same")
    tt = np.arange(length) / a.rate
    return 0.02 * pink + 0.005 * np.sin(2 * np.pi * 50 * tt)


channels = []
for c in range(a.channels):
    fan = 0.1 * sum(np.sin(2 * np.pi * (120 + 7 * c) * k * t) / k for k in range(1, 5))
    pump = 0.08 * np.sin(2 * np.pi * 300 * t) * (0.5 + 0.5 * np.sign(np.sin(2 * np.pi * 2 * t)))
    clicks = np.zeros(n)
    clicks[rng.integers(0, n, 40)] = 0.5
    valve = np.convolve(clicks, np.exp(-np.arange(200) / 30.0), mode="same")
    channels.append(fan + pump + valve + site_noise(n))
audio = np.stack(channels, axis=1).astype(np.float32)
sf.write(out / "recording.wav", audio, a.rate, subtype="FLOAT")
noise = np.stack([site_noise(2 * a.rate) for _ in range(a.channels)]).astype(np.float32)
torch.save(torch.from_numpy(noise), out / "noise.pt")
