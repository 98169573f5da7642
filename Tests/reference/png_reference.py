"""The real decoder and colour map the PNG pictures of `acoustic-edge inspect --png` are
checked against: Pillow decodes the file, matplotlib says what viridis colour a value has.

Usage:
  png_reference.py inputs DIR
      Writes with torch.save DIR/ramp.pt ([1, 240, 240], value = bin + 0.25 * frame - 60),
      DIR/stereo.pt ([2, 8, 8], not a mel) and DIR/segment/ (segment.json and
      mic_{0,1}/{fan,pump}.pt, [1, 24, 32] constants: mic_0 fan -80, pump -40; mic_1 fan -20,
      pump 0) as the disk mirror lays it out.
  png_reference.py decode PNG QUERIES.json OUT.json
      QUERIES.json: {"low": L, "high": H, "points": [{"x", "y", "value"}]}. OUT.json:
      {"format", "mode", "width", "height", "pixels": [[r, g, b] at each point],
       "expected": [[r, g, b] of matplotlib's viridis(Normalize(L, H)(value)), 0..255]}.
  png_reference.py viridis OUT.json
      matplotlib's viridis at t = i / 1000, i = 0..1000, as 0..255 integers.
"""
import json
import sys
from pathlib import Path

import numpy as np


def viridis_bytes(values, low, high):
    from matplotlib import colormaps
    from matplotlib.colors import Normalize
    rgba = colormaps["viridis"](Normalize(vmin=low, vmax=high)(np.asarray(values, dtype=np.float64)))
    return np.round(np.asarray(rgba)[..., :3] * 255).astype(int).tolist()


def inputs(out):
    import torch
    out.mkdir(parents=True, exist_ok=True)
    bins, frames = torch.meshgrid(torch.arange(240.0), torch.arange(240.0), indexing="ij")
    torch.save((bins + 0.25 * frames - 60).unsqueeze(0).float(), out / "ramp.pt")
    torch.save(torch.zeros(2, 8, 8), out / "stereo.pt")
    segment = out / "segment"
    values = {(0, "fan"): -80.0, (0, "pump"): -40.0, (1, "fan"): -20.0, (1, "pump"): 0.0}
    for (mic, source), value in values.items():
        (segment / f"mic_{mic}").mkdir(parents=True, exist_ok=True)
        torch.save(torch.full((1, 24, 32), value), segment / f"mic_{mic}" / f"{source}.pt")
    record = {"segment_index": 7, "first_sample": 1120000, "start": "2026-11-24T21:30:10.000Z",
              "sample_rate": 16000, "frames": 160000, "channels": 2, "sources": ["fan", "pump"],
              "model": None, "model_sha256": None, "noise_profile": None, "denoise": "off",
              "overrun": False, "origin": "test"}
    (segment / "segment.json").write_text(json.dumps(record) + "\n")


def decode(png, queries_path, out):
    from PIL import Image
    queries = json.loads(Path(queries_path).read_text())
    with Image.open(png) as image:
        image.load()
        result = {"format": image.format, "mode": image.mode, "width": image.width, "height": image.height}
        rgb = image.convert("RGB")
        result["pixels"] = [list(rgb.getpixel((p["x"], p["y"]))) for p in queries["points"]]
    result["expected"] = viridis_bytes([p["value"] for p in queries["points"]], queries["low"], queries["high"])
    Path(out).write_text(json.dumps(result))


def main():
    mode = sys.argv[1]
    if mode == "inputs":
        inputs(Path(sys.argv[2]))
    elif mode == "decode":
        decode(sys.argv[2], sys.argv[3], sys.argv[4])
    elif mode == "viridis":
        Path(sys.argv[2]).write_text(json.dumps(viridis_bytes(np.linspace(0, 1, 1001), 0.0, 1.0)))
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
