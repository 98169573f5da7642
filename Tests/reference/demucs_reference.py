"""Reference for the Separator parity tests: demucs 4.1.0 HTDemucs, run as the product specifies.

Builds a random-initialized `demucs.htdemucs.HTDemucs(**kwargs)`, perturbs every parameter (norm
weights and LayerScale scales too, so no branch is trivially identity or zero), saves it in the
demucs library's single-model safetensors format (state_dict + `__metadata__` klass/args/kwargs,
fractions as {"_type": "fraction", ...}), loads it back with `demucs.hf.load_safetensors_model`
(the library's own loader, so float16 files are rounded exactly as the library rounds them), and
separates a deterministic multi-channel mix with `demucs.apply.apply_model(shifts=0)`:
`split=False` when the input is no longer than the model's segment, `split=True, overlap=0.25`
otherwise.

Writes into OUTDIR:
  model.safetensors            the model file
  mix.f32                      float32 little-endian [channels, length]
  out.f32                      float32 [channels, sources, length] (apply_model's [B, S, 1, L])
  layers/<name>.f32            with --layers: the output of every encoder/decoder layer and of
                               the transformer during one forward pass over the padded first
                               chunk, in PyTorch layout ([B, C, F, T] or [B, C, T]);
  layers.json                  names, shapes and order of those tensors.
Prints a JSON summary on stdout.

usage: demucs_reference.py OUTDIR --kwargs JSON [--length N] [--channels C] [--seed S]
                           [--half] [--layers]
"""
import argparse
import json
import math
import os
import sys
from fractions import Fraction

import numpy as np
import torch

from demucs.apply import apply_model, TensorChunk
from demucs.hf import load_safetensors_model
from demucs.htdemucs import HTDemucs


def encode_json(value):
    if isinstance(value, Fraction):
        return {"_type": "fraction", "numerator": value.numerator, "denominator": value.denominator}
    if isinstance(value, dict):
        return {k: encode_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [encode_json(v) for v in value]
    return value


def decode_kwargs(kwargs):
    out = {}
    for key, value in kwargs.items():
        if isinstance(value, dict) and value.get("_type") == "fraction":
            value = Fraction(value["numerator"], value["denominator"])
        out[key] = value
    return out


def perturb(model, generator):
    with torch.no_grad():
        for name, p in model.named_parameters():
            std = float(p.std()) if p.numel() > 1 else 0.0
            scale = 0.3 * std if std > 1e-6 else 0.3
            p.add_(torch.randn(p.shape, generator=generator) * scale)
            if name.endswith(".scale"):
                # LayerScale starts at 1e-3/1e-4: make the residual branches count.
                p.add_(torch.sign(p) * 0.2)


def make_mix(channels, length, samplerate, seed):
    rng = np.random.default_rng(seed)
    t = np.arange(length) / samplerate
    mix = np.zeros((channels, length), dtype=np.float64)
    for c in range(channels):
        for _ in range(4):
            f = rng.uniform(50, samplerate / 4)
            mix[c] += rng.uniform(0.05, 0.3) * np.sin(2 * math.pi * f * t + rng.uniform(0, 6.28))
        mix[c] += 0.05 * rng.standard_normal(length)
        mix[c] *= 0.5 + 0.5 * np.abs(np.sin(2 * math.pi * (0.7 + c) * t))
    return mix.astype(np.float32)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("outdir")
    parser.add_argument("--kwargs", required=True)
    parser.add_argument("--length", type=int, default=None)
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--half", action="store_true")
    parser.add_argument("--layers", action="store_true")
    parser.add_argument("--model-only", action="store_true")
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    torch.set_num_threads(1)
    kwargs = decode_kwargs(json.loads(args.kwargs))
    model = HTDemucs(**kwargs)
    perturb(model, torch.Generator().manual_seed(args.seed + 1))

    os.makedirs(args.outdir, exist_ok=True)
    from safetensors.torch import save_file
    dtype = torch.float16 if args.half else torch.float32
    state = {k: v.detach().to(dtype).contiguous() for k, v in model.state_dict().items()}
    metadata = {
        "klass": "demucs.htdemucs.HTDemucs",
        "args": json.dumps([]),
        "kwargs": json.dumps(encode_json(kwargs)),
    }
    model_path = os.path.join(args.outdir, "model.safetensors")
    save_file(state, model_path, metadata=metadata)
    if args.model_only:
        print(json.dumps({"model": model_path}))
        return

    model = load_safetensors_model(model_path)
    model.eval()
    training_length = int(model.segment * model.samplerate)
    length = args.length or training_length
    mix = make_mix(args.channels, length, model.samplerate, args.seed + 2)
    mix.tofile(os.path.join(args.outdir, "mix.f32"))
    ac = model.audio_channels
    # [B, audio_channels, L]: with a mono model each channel is a batch item, on its own.
    mix_t = torch.from_numpy(mix).reshape(args.channels // ac, ac, length)

    layer_names = []
    if args.layers:
        os.makedirs(os.path.join(args.outdir, "layers"), exist_ok=True)
        captured = []

        def hook_for(name):
            def hook(module, inputs, output):
                if isinstance(output, tuple):
                    if name == "crosstransformer":
                        captured.append((name + ".x", output[0]))
                        captured.append((name + ".xt", output[1]))
                        return
                    output = output[0]
                captured.append((name, output))
            return hook

        handles = []
        for prefix in ["encoder", "tencoder", "decoder", "tdecoder"]:
            for i, m in enumerate(getattr(model, prefix)):
                handles.append(m.register_forward_hook(hook_for(f"{prefix}.{i}")))
        if model.crosstransformer is not None:
            handles.append(model.crosstransformer.register_forward_hook(hook_for("crosstransformer")))
        chunk = TensorChunk(mix_t, 0, training_length).padded(training_length)
        with torch.no_grad():
            z = model._spec(chunk)
            captured.insert(0, ("spec", torch.view_as_real(z).permute(0, 1, 4, 2, 3)
                                .reshape(z.shape[0], -1, z.shape[2], z.shape[3])))
            model(chunk)
        for h in handles:
            h.remove()
        listing = []
        for name, tensor in captured:
            arr = tensor.detach().float().contiguous().numpy()
            arr.tofile(os.path.join(args.outdir, "layers", name + ".f32"))
            listing.append({"name": name, "shape": list(arr.shape)})
            layer_names.append(name)
        with open(os.path.join(args.outdir, "layers.json"), "w") as f:
            json.dump(listing, f)

    split = length > training_length
    with torch.no_grad():
        out = apply_model(model, mix_t, shifts=0, split=split, overlap=0.25)
    # [B, S, ac, L] -> [channels, sources, length]
    out = out.permute(0, 2, 1, 3).reshape(args.channels, len(model.sources), length).contiguous().numpy()
    out.tofile(os.path.join(args.outdir, "out.f32"))
    print(json.dumps({
        "sources": list(model.sources), "samplerate": model.samplerate,
        "training_length": training_length, "length": length, "channels": args.channels,
        "split": split, "layers": layer_names,
        "parameters": sum(p.numel() for p in model.parameters()),
    }))


if __name__ == "__main__":
    sys.exit(main())
