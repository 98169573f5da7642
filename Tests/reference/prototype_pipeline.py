"""The original prototype's pipeline (shared/seed), in Python with the real libraries, as the
reference for acoustic-edge's `process`:

    for each whole segment of the input, for each microphone:
        noisereduce.reduce_noise(y, sr, y_noise=noise[mic], stationary=True)   (or no denoise)
        demucs.apply.apply_model(model, x, shifts=0, split=len(x) > segment, overlap=0.25)
        torchaudio MelSpectrogram(...) + AmplitudeToDB("power", top_db) -> [1, n_mels, frames]

usage: prototype_pipeline.py INPUT.wav OUTDIR [--noise NOISE.pt] [--model MODEL.safetensors]
           [--segment-seconds 10] [--nonstationary] [--n-mels 240] [--frames 240] [--n-fft 2048]
           [--top-db 80] [--threads 2]
writes OUTDIR/seg_{k}/mic_{i}/{source}.npy and prints "seconds <processing time>" (without
file I/O or model loading), the figure the benchmark compares."""
import argparse
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

p = argparse.ArgumentParser()
p.add_argument("input")
p.add_argument("outdir")
p.add_argument("--noise")
p.add_argument("--model")
p.add_argument("--segment-seconds", type=float, default=10.0)
p.add_argument("--nonstationary", action="store_true")
p.add_argument("--no-denoise", action="store_true")
p.add_argument("--n-mels", type=int, default=240)
p.add_argument("--frames", type=int, default=240)
p.add_argument("--n-fft", type=int, default=2048)
p.add_argument("--top-db", type=float, default=80.0)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--no-save", action="store_true")
a = p.parse_args()
torch.set_num_threads(a.threads)

import noisereduce as nr  # noqa: E402
from torchaudio_import import import_torchaudio  # noqa: E402  (the wheel's extension does not load)
from demucs.apply import apply_model  # noqa: E402
from demucs.hf import load_safetensors_model  # noqa: E402

audio, sr = sf.read(a.input, dtype="float32", always_2d=True)  # [samples, channels]
noise = None
if a.noise and not a.no_denoise:
    n = torch.load(a.noise, weights_only=True).numpy().astype(np.float32)
    noise = n[None, :] if n.ndim == 1 else n
model = None
if a.model:
    model = load_safetensors_model(a.model)
    model.eval()
    sources = list(model.sources)
else:
    sources = ["mix"]

torchaudio = import_torchaudio()
seg = int(round(sr * a.segment_seconds))
hop = seg // (a.frames - 1)
mel = torch.nn.Sequential(
    torchaudio.transforms.MelSpectrogram(sample_rate=sr, n_fft=a.n_fft, hop_length=hop, n_mels=a.n_mels,
                                         power=2.0, center=True, pad_mode="reflect", norm=None, mel_scale="htk"),
    torchaudio.transforms.AmplitudeToDB("power", top_db=a.top_db),
)
out = Path(a.outdir)
elapsed = 0.0
for k in range(audio.shape[0] // seg):
    block = audio[k * seg:(k + 1) * seg]
    t0 = time.perf_counter()
    results = {}
    for mic in range(block.shape[1]):
        y = block[:, mic]
        if not a.no_denoise:
            if a.nonstationary:
                y = nr.reduce_noise(y=y, sr=sr, stationary=False)
            else:
                y = nr.reduce_noise(y=y, sr=sr, y_noise=noise[mic if noise.shape[0] > 1 else 0], stationary=True)
        x = torch.from_numpy(np.ascontiguousarray(y, dtype=np.float32))
        with torch.no_grad():
            if model is not None:
                split = x.shape[-1] > int(model.segment * model.samplerate)
                parts = apply_model(model, x[None, None, :], shifts=0, split=split, overlap=0.25, progress=False)[0]
                parts = [parts[s, 0] for s in range(len(sources))]
            else:
                parts = [x]
            for name, part in zip(sources, parts):
                results[(mic, name)] = mel(part[None, :])[:, :, :a.frames].numpy()
    elapsed += time.perf_counter() - t0
    if not a.no_save:
        for (mic, name), m in results.items():
            d = out / f"seg_{k}" / f"mic_{mic}"
            d.mkdir(parents=True, exist_ok=True)
            np.save(d / f"{name}.npy", m.astype(np.float32))
print(f"seconds {elapsed:.6f}")
print(f"segments {audio.shape[0] // seg}")
