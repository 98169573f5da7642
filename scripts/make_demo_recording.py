"""The demo's input: a multi-microphone recording of the four synthetic machines of the
training toolkit (training/synth.py: fan, pump, slider, valve, each at its own level on each
microphone, as if the microphones stood at different places in the hall) over site background
noise, and the site's noise profile recorded "before the machines started" (background only),
saved with torch.save as the original prototype kept it.

usage: make_demo_recording.py OUTDIR [--seconds 25] [--channels 4] [--seed 0]
writes OUTDIR/recording.wav (float32) and OUTDIR/noise.pt ([channels, 2 s])"""
import argparse
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from training.synth import MACHINES, SAMPLE_RATE, background, machine_sound  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("outdir")
p.add_argument("--seconds", type=float, default=25)
p.add_argument("--channels", type=int, default=4)
p.add_argument("--seed", type=int, default=0)
a = p.parse_args()
out = Path(a.outdir)
out.mkdir(parents=True, exist_ok=True)
rng = np.random.default_rng(a.seed)
n = int(a.seconds * SAMPLE_RATE)
# One recording per machine (machine IDs 0..3), heard by every microphone at its own gain.
sources = [machine_sound(m, i % 4, n, rng) for i, m in enumerate(MACHINES)]
gains_db = rng.uniform(-6, 0, size=(a.channels, len(MACHINES)))
level = 10 ** (-30 / 20)  # machines around -30 dBFS RMS, as the training data
mics = []
for c in range(a.channels):
    mix = sum(10 ** (g / 20) * s for g, s in zip(gains_db[c], sources))
    mics.append(level * (mix + 0.3 * background(rng, n)))
sf.write(out / "recording.wav", np.stack(mics, axis=1).astype(np.float32), SAMPLE_RATE, subtype="FLOAT")
noise = np.stack([level * 0.3 * background(rng, 2 * SAMPLE_RATE) for _ in range(a.channels)]).astype(np.float32)
torch.save(torch.from_numpy(noise), out / "noise.pt")
