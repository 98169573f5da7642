"""Writes tensor files with the real libraries for `acoustic-edge inspect` to read, and what
inspect must say about them, computed by numpy.

Usage: inspect_reference.py DIR
Writes DIR/NAME.pt (torch.save), DIR/NAME.npy (numpy.save), DIR/multi.safetensors (two
tensors, F32 and F16, with metadata) and DIR/expected.json:
{file name: {"metadata": {...}, "tensors": [{"name", "shape", "dtype", "count", "min",
"max", "mean", "std", "nan", "inf"}]}}; statistics over the finite values (std with
divisor n), null when there is none.
"""
import json
import sys
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
g = torch.Generator().manual_seed(11)


def stats(name, array, dtype):
    a = np.asarray(array, dtype=np.float32).astype(np.float64).reshape(-1)
    finite = a[np.isfinite(a)]
    entry = {"name": name, "shape": list(np.shape(array)), "dtype": dtype, "count": int(a.size),
             "nan": int(np.isnan(a).sum()), "inf": int(np.isinf(a).sum())}
    if finite.size:
        entry.update(min=float(finite.min()), max=float(finite.max()),
                     mean=float(finite.mean()), std=float(finite.std()))
    else:
        entry.update(min=None, max=None, mean=None, std=None)
    return entry


specials = torch.tensor([[1.0, float("nan"), -2.5], [float("inf"), 0.25, float("-inf")]])
cases = {
    "rank1": torch.randn(17, generator=g),
    "rank2": torch.randn(3, 5, generator=g) * 10,
    "mel": torch.randn(1, 240, 240, generator=g) * 20 - 40,
    "rank4": torch.randn(2, 3, 4, 5, generator=g),
    "empty": torch.zeros(4, 0, 3),
    "specials": specials,
    "allnan": torch.full((2, 2), float("nan")),
}
expected = {}
for name, t in cases.items():
    torch.save(t, out / f"{name}.pt")
    np.save(out / f"{name}.npy", t.numpy())
    for ext in ("pt", "npy"):
        expected[f"{name}.{ext}"] = {"metadata": {}, "tensors": [stats(None, t.numpy(), None)]}

weights = torch.randn(4, 6, generator=g)
half = (torch.randn(3, 2, generator=g) * 100).half()
metadata = {"mic": "0", "source": "fan", "segment_start": "2026-11-24T20:00:00.000Z"}
save_file({"weights": weights, "half": half}, str(out / "multi.safetensors"), metadata=metadata)
# The order of the tensors in the file is the library's (by dtype size, then name): read it
# from the header, as inspect lists the tensors in file order.
raw = (out / "multi.safetensors").read_bytes()
header = json.loads(raw[8:8 + int.from_bytes(raw[:8], "little")])
order = sorted((v["data_offsets"][0], k) for k, v in header.items() if k != "__metadata__")
facts = {"half": stats("half", half.float().numpy(), "F16"), "weights": stats("weights", weights.numpy(), "F32")}
expected["multi.safetensors"] = {"metadata": metadata, "tensors": [facts[name] for _, name in order]}
(out / "expected.json").write_text(json.dumps(expected))
