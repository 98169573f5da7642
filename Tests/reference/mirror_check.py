"""Reads a mirror segment folder with the real clients (torch.load weights_only, json) and
prints one line per tensor: mic source shape dtype sum; then the segment.json keys."""
import json
import sys
from pathlib import Path

import torch

folder = Path(sys.argv[1])
for mic in sorted(folder.glob("mic_*")):
    for f in sorted(mic.glob("*.pt")):
        t = torch.load(f, weights_only=True)
        print(mic.name, f.stem, tuple(t.shape), str(t.dtype), f"{float(t.double().sum()):.6f}")
record = json.loads((folder / "segment.json").read_text())
print("json", record["segment_index"], record["first_sample"], record["start"], record["sources"])
