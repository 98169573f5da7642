"""Checks a noise profile written by acoustic-edge against the audio it was recorded from.

usage: capture_profile_check.py PROFILE.pt RAW_FLOAT32 CHANNELS FRAMES

RAW_FLOAT32 is the interleaved little-endian float32 stream the ALSA test device replayed.
The profile must load with torch.load(weights_only=True) as a float32 tensor
[CHANNELS, FRAMES] equal to the first FRAMES frames of that stream, channel by channel.
Prints "ok <max abs difference>" or exits non-zero with the reason.
"""
import sys

import numpy as np
import torch

path, raw, channels, frames = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
profile = torch.load(path, weights_only=True)
if not isinstance(profile, torch.Tensor):
    sys.exit(f"not a tensor: {type(profile)}")
if profile.dtype != torch.float32 or tuple(profile.shape) != (channels, frames):
    sys.exit(f"got {profile.dtype} {tuple(profile.shape)}, want float32 ({channels}, {frames})")
stream = np.fromfile(raw, dtype="<f4").reshape(-1, channels)
expected = np.zeros((frames, channels), dtype=np.float32)
n = min(frames, stream.shape[0])
expected[:n] = stream[:n]  # the device gives zeros after its infile
diff = np.abs(profile.numpy() - expected.T).max()
if diff != 0:
    sys.exit(f"profile differs from the recorded audio by up to {diff}")
print(f"ok {diff}")
