"""PyTorch's convolutions on random data, for the separator's fast convolution kernels' tests
(Tests/SeparatorTests: WinogradTests, PolyphaseTests).

usage: conv_reference.py OUTDIR --op OP --batch B --cin CI --cout CO --height H --width W
                         [--stride S --pad P --pad-right R]
OP:
  conv3x3    F.conv2d, 3x3, stride 1, padding 1: x [B, CI, H, W], weight [CO, CI, 3, 3]
  conv1d     F.conv1d, kernel 3, stride 1, padding 1: x [B, CI, W], weight [CO, CI, 3]
  strided    F.conv2d, kernel (2S, 1), stride (S, 1), padding (P, 0) (HEncLayer's over F)
  transposed F.conv_transpose2d, kernel (2S, 1), stride (S, 1), then rows P ..< full - P
             (HDecLayer's over F): weight [CI, CO, 2S, 1]
  strided_time     F.pad(x, (0, R)) then F.conv1d, kernel 2S, stride S, padding P (HEncLayer's
             over time, after demucs pads the time axis to a multiple of the stride):
             x [B, CI, W], weight [CO, CI, 2S]
  transposed_time  F.conv_transpose1d, kernel 2S, stride S, then positions P ..< full - P
             (HDecLayer's over time): x [B, CI, W], weight [CI, CO, 2S]
Writes x.f32, weight.f32, bias.f32 [CO], out.f32 [B, CO, ...] (little-endian float32, PyTorch
layout), glu.f32 = GLU over the channels of out and gelu.f32 = exact GELU of out.
"""
import argparse
import os

import torch
import torch.nn.functional as F

parser = argparse.ArgumentParser()
parser.add_argument("outdir")
parser.add_argument("--op", required=True, choices=["conv3x3", "conv1d", "strided", "strided_time", "transposed", "transposed_time"])
parser.add_argument("--batch", type=int, default=2)
parser.add_argument("--cin", type=int, default=5)
parser.add_argument("--cout", type=int, default=6)
parser.add_argument("--height", type=int, default=7)
parser.add_argument("--width", type=int, default=9)
parser.add_argument("--stride", type=int, default=4)
parser.add_argument("--pad", type=int, default=2)
parser.add_argument("--pad-right", type=int, default=0)
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()

torch.manual_seed(args.seed)
b, ci, co, h, w, s = args.batch, args.cin, args.cout, args.height, args.width, args.stride
bias = torch.randn(co)
with torch.no_grad():
    if args.op == "conv3x3":
        x, weight = torch.randn(b, ci, h, w), torch.randn(co, ci, 3, 3) / 3
        out = F.conv2d(x, weight, bias, padding=1)
    elif args.op == "conv1d":
        x, weight = torch.randn(b, ci, w), torch.randn(co, ci, 3) / 3
        out = F.conv1d(x, weight, bias, padding=1)
    elif args.op == "strided":
        x, weight = torch.randn(b, ci, h, w), torch.randn(co, ci, 2 * s, 1) / 3
        out = F.conv2d(x, weight, bias, stride=(s, 1), padding=(args.pad, 0))
    elif args.op == "strided_time":
        x, weight = torch.randn(b, ci, w), torch.randn(co, ci, 2 * s) / 3
        out = F.conv1d(F.pad(x, (0, args.pad_right)), weight, bias, stride=s, padding=args.pad)
    elif args.op == "transposed_time":
        x, weight = torch.randn(b, ci, w), torch.randn(ci, co, 2 * s) / 3
        full = F.conv_transpose1d(x, weight, bias, stride=s)
        out = full[:, :, args.pad:full.shape[2] - args.pad]
    else:
        x, weight = torch.randn(b, ci, h, w), torch.randn(ci, co, 2 * s, 1) / 3
        full = F.conv_transpose2d(x, weight, bias, stride=(s, 1))
        out = full[:, :, args.pad:full.shape[2] - args.pad]
    glu = F.glu(out, dim=1) if co % 2 == 0 else out[:, :0]
    gelu = F.gelu(out)
for name, t in [("x", x), ("weight", weight), ("bias", bias), ("out", out), ("glu", glu), ("gelu", gelu)]:
    t.contiguous().numpy().astype("<f4").tofile(os.path.join(args.outdir, name + ".f32"))
