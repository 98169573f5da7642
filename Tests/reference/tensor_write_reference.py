"""Writes tensor files with the real libraries (torch.save, numpy.save, safetensors) for the
Swift readers to read. For every case NAME it writes NAME.pt / NAME.npy / NAME.safetensors and
NAME.expected.bin (the row-major float32 values) and lists the cases with their shapes in
cases.json."""
import json
import sys
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import save_file

out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
g = torch.Generator().manual_seed(7)
cases = {
    "rank1": torch.randn(17, generator=g),
    "rank2": torch.randn(3, 5, generator=g),
    "rank3": torch.randn(1, 240, 240, generator=g),
    "rank4": torch.randn(2, 3, 4, 5, generator=g),
    "empty": torch.zeros(4, 0, 3),
    "scalar": torch.tensor(3.25),
    "transposed": torch.randn(6, 4, generator=g).t(),          # non-contiguous strides
    "sliced": torch.randn(10, 8, generator=g)[2:7, 1:6],       # storage offset + strides
    "half": torch.randn(3, 7, generator=g).half(),
    "double": torch.randn(2, 9, generator=g).double(),
    "parameter": torch.nn.Parameter(torch.randn(4, 4, generator=g)),
}
listing = {}
for name, t in cases.items():
    torch.save(t, out / f"{name}.pt")
    expected = t.detach().float().contiguous().numpy()
    np.save(out / f"{name}.npy", t.detach().contiguous().numpy())
    if t.dtype in (torch.float32, torch.float16, torch.float64) and not isinstance(t, torch.nn.Parameter):
        save_file({"x": t.detach().contiguous().numpy()}, str(out / f"{name}.safetensors"),
                  metadata={"case": name})
    expected.astype("<f4").tofile(out / f"{name}.expected.bin")
    listing[name] = list(expected.shape)
(out / "cases.json").write_text(json.dumps(listing))
