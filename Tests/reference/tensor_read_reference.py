"""Reads the tensor files acoustic-edge wrote with the real libraries and checks them
bit-exactly: torch.load(weights_only=True) for .pt (from a path and from io.BytesIO, as an
MQTT subscriber does), safetensors (torch and numpy loaders, with the metadata) for
.safetensors, numpy.load for .npy.

Usage: tensor_read_reference.py DIR
DIR/cases.json lists {name: {"shape": [...], "metadata": {...}}}; for every case the Swift
test wrote NAME.pt, NAME.safetensors, NAME.npy and NAME.expected.bin (row-major float32,
little-endian). A case with "dtype": "float16" was written as float16 from those float32
values: the files must hold float16 (torch.HalfStorage, F16, <f2) whose bits are what torch's
own conversion `tensor.half()` gives (NaNs compared as NaN: their payload bits may differ).
Exits non-zero with one line per mismatch; prints "ok N" on success.
"""
import io
import json
import sys
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.numpy import load_file as load_numpy
from safetensors.torch import load_file as load_torch

folder = Path(sys.argv[1])
cases = json.loads((folder / "cases.json").read_text())
problems = []
checked = 0


def same_bits(what, got, expected, shape):
    """got: a numpy array; compares dtype, shape and every bit of every value (float16: of
    every value that is not NaN; NaN must stay NaN)."""
    global checked
    if got.dtype != expected.dtype:
        problems.append(f"{what}: dtype {got.dtype}, expected {expected.dtype}")
        return
    if list(got.shape) != shape:
        problems.append(f"{what}: shape {list(got.shape)}, expected {shape}")
        return
    flat = np.ascontiguousarray(got).reshape(-1)
    if expected.dtype == np.float16:
        nan = np.isnan(expected)
        if not np.array_equal(np.isnan(flat), nan) or not np.array_equal(
                flat[~nan].view(np.uint16), expected[~nan].view(np.uint16)):
            problems.append(f"{what}: values differ in their bits")
            return
    elif not np.array_equal(flat.view(np.uint32), expected.view(np.uint32)):
        problems.append(f"{what}: values differ in their bits")
        return
    checked += 1


for name, info in sorted(cases.items()):
    shape = info["shape"]
    expected = np.fromfile(folder / f"{name}.expected.bin", dtype="<f4")
    if info.get("dtype") == "float16":
        expected = torch.from_numpy(expected).half().numpy()

    # .pt: torch.load with the safe unpickler, from the file and from bytes.
    pt_path = folder / f"{name}.pt"
    t = torch.load(pt_path, weights_only=True)
    if not isinstance(t, torch.Tensor):
        problems.append(f"{name}.pt: torch.load gave {type(t).__name__}, not a tensor")
    else:
        if not t.is_contiguous():
            problems.append(f"{name}.pt: not contiguous")
        same_bits(f"{name}.pt", t.numpy(), expected, shape)
    t2 = torch.load(io.BytesIO(pt_path.read_bytes()), weights_only=True)
    same_bits(f"{name}.pt (BytesIO)", t2.numpy(), expected, shape)

    # .safetensors: both loaders, and the metadata through safe_open.
    st_path = folder / f"{name}.safetensors"
    tensors = load_torch(str(st_path))
    if list(tensors) != [info["tensor_name"]]:
        problems.append(f"{name}.safetensors: tensors {list(tensors)}, expected [{info['tensor_name']}]")
    else:
        same_bits(f"{name}.safetensors (torch)", tensors[info["tensor_name"]].numpy(), expected, shape)
        same_bits(f"{name}.safetensors (numpy)", load_numpy(str(st_path))[info["tensor_name"]], expected, shape)
    with safe_open(str(st_path), framework="np") as f:
        metadata = f.metadata() or {}
    if metadata != info["metadata"]:
        problems.append(f"{name}.safetensors: metadata {metadata}, expected {info['metadata']}")

    # .npy: numpy.load without pickles.
    same_bits(f"{name}.npy", np.load(folder / f"{name}.npy", allow_pickle=False), expected, shape)

if problems:
    print("\n".join(problems), file=sys.stderr)
    sys.exit(1)
print(f"ok {checked}")
