"""Writes one 1x240x240 float32 tensor in each payload format with the real libraries
(torch.save, safetensors, numpy.save) and prints `<file> <mean>` per file, for the test of
examples/ml_subscriber.py."""
import sys

import numpy as np
import torch
from safetensors.torch import save_file

out = sys.argv[1]
generator = torch.Generator().manual_seed(7)
for index, name in enumerate(["t.pt", "t.safetensors", "t.npy"]):
    tensor = torch.randn(1, 240, 240, generator=generator) - 60.0 + index
    path = f"{out}/{name}"
    if name.endswith(".pt"):
        torch.save(tensor, path)
    elif name.endswith(".safetensors"):
        save_file({"mel": tensor}, path, metadata={"mic": "1", "source": "pump"})
    else:
        np.save(path, tensor.numpy())
    print(name, f"{float(tensor.mean()):.6f}")
