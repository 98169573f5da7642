"""Times noisereduce 3.0.3 and torchaudio on the benchmark's input (called by dsp-bench).

Usage: reference_bench.py SIGNAL.f32 NOISE.f32 CHANNELS RATE REPEATS
Prints one JSON object: seconds per channel for each stage, with 1 and 2 threads.
"""
import json
import os
import sys
import time
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Tests", "reference"))
from torchaudio_import import import_torchaudio  # noqa: E402

import noisereduce  # noqa: E402

torchaudio = import_torchaudio()
warnings.simplefilter("ignore")


def best_of(repeats, body):
    """Best wall and best process CPU time of `repeats` runs (after one warm-up)."""
    best, best_cpu = float("inf"), float("inf")
    body()
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        body()
        best = min(best, time.perf_counter() - t)
        best_cpu = min(best_cpu, time.process_time() - c)
    return best, best_cpu


def record(result, name, times, channels):
    result[name] = times[0] / channels
    result[name.replace("_1", "_cpu_1").replace("_2", "_cpu_2")] = times[1] / channels


def main() -> None:
    signal_path, noise_path, channels, rate, repeats = sys.argv[1:6]
    channels, rate, repeats = int(channels), int(rate), int(repeats)
    x = np.fromfile(signal_path, dtype=np.float32).reshape(channels, -1)
    noise = np.fromfile(noise_path, dtype=np.float32)
    n = x.shape[1]
    result = {}

    def denoise(c, stationary):
        return noisereduce.reduce_noise(y=x[c], sr=rate, y_noise=noise if stationary else None,
                                        stationary=stationary)

    for stationary, name in ((True, "denoise_stationary"), (False, "denoise_nonstationary")):
        record(result, name + "_1", best_of(repeats, lambda: [denoise(c, stationary) for c in range(channels)]),
               channels)
        with ThreadPoolExecutor(2) as pool:
            record(result, name + "_2",
                   best_of(repeats, lambda: list(pool.map(lambda c: denoise(c, stationary), range(channels)))),
                   channels)

    hop = n // 239
    mel = torchaudio.transforms.MelSpectrogram(
        sample_rate=rate, n_fft=2048, hop_length=hop, n_mels=240, power=2.0, center=True,
        pad_mode="reflect", norm=None, mel_scale="htk")
    to_db = torchaudio.transforms.AmplitudeToDB("power", top_db=80)
    batch = torch.from_numpy(x).reshape(channels, 1, n)  # [C, 1, N]: top_db per channel
    with torch.inference_mode():
        for threads in (1, 2):
            torch.set_num_threads(threads)
            record(result, f"mel_{threads}", best_of(repeats, lambda: to_db(mel(batch))[..., :240]), channels)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
