"""Reference for the denoise stage: noisereduce 3.0.3's reduce_noise, one channel at a time.

Usage: denoise_reference.py MANIFEST.json

The manifest is a list of cases, each:
  {"input": "x.f32", "channels": C, "rate": SR,           # raw float32, [C, N] row-major
   "noise": "n.f32" | null, "noise_channels": Cn,         # raw float32, [Cn, M]; Cn == 1 applies to all
   "stationary": true|false, "params": {...reduce_noise keyword arguments...},
   "output": "y.f32"}                                     # written: raw float32 [C, N]
Each channel c is reduced with reduce_noise(y=x[c], sr=SR, y_noise=noise[c or 0],
stationary=..., **params), as the agent does per microphone.
"""
import json
import sys

import numpy as np
import noisereduce


def main() -> None:
    with open(sys.argv[1]) as f:
        cases = json.load(f)
    for case in cases:
        channels = case["channels"]
        x = np.fromfile(case["input"], dtype=np.float32).reshape(channels, -1)
        noise = None
        if case.get("noise"):
            noise = np.fromfile(case["noise"], dtype=np.float32).reshape(case["noise_channels"], -1)
        out = np.zeros_like(x)
        for c in range(channels):
            y_noise = None
            if noise is not None:
                y_noise = noise[c] if noise.shape[0] > 1 else noise[0]
            out[c] = noisereduce.reduce_noise(
                y=x[c], sr=case["rate"], y_noise=y_noise, stationary=case["stationary"],
                **case.get("params", {}))
        assert out.dtype == np.float32
        out.tofile(case["output"])


if __name__ == "__main__":
    main()
