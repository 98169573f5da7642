"""torch.nn.functional.conv2d (3x3) or conv1d (kernel 3), stride 1, padding 1, on random
data, for the Winograd kernels' test (Tests/SeparatorTests: WinogradTests).

usage: conv3x3_reference.py OUTDIR --batch B --cin CI --cout CO --height H --width W [--dims 1]
Writes x.f32 [B, CI, H, W], weight.f32 [CO, CI, 3, 3], bias.f32 [CO], out.f32 [B, CO, H, W]
(all little-endian float32, PyTorch layout) and glu.f32 = GLU over the channels of out.
With --dims 1: x [B, CI, W], weight [CO, CI, 3], out [B, CO, W] (conv1d; --height ignored).
"""
import argparse
import os

import torch
import torch.nn.functional as F

parser = argparse.ArgumentParser()
parser.add_argument("outdir")
parser.add_argument("--batch", type=int, default=2)
parser.add_argument("--cin", type=int, default=5)
parser.add_argument("--cout", type=int, default=6)
parser.add_argument("--height", type=int, default=7)
parser.add_argument("--width", type=int, default=9)
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--dims", type=int, default=2, choices=[1, 2])
args = parser.parse_args()

torch.manual_seed(args.seed)
if args.dims == 2:
    x = torch.randn(args.batch, args.cin, args.height, args.width)
    weight = torch.randn(args.cout, args.cin, 3, 3) / 3
else:
    x = torch.randn(args.batch, args.cin, args.width)
    weight = torch.randn(args.cout, args.cin, 3) / 3
bias = torch.randn(args.cout)
with torch.no_grad():
    out = (F.conv2d if args.dims == 2 else F.conv1d)(x, weight, bias, padding=1)
    glu = F.glu(out, dim=1)
for name, t in [("x", x), ("weight", weight), ("bias", bias), ("out", out), ("glu", glu)]:
    t.contiguous().numpy().astype("<f4").tofile(os.path.join(args.outdir, name + ".f32"))
