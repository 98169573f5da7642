"""Export to demucs' single-model safetensors format (docs/contract.md, "The model file").

The file is what ``demucs.hf.load_safetensors_model(path)`` reads (demucs 4.1.0, ``hf.py``):

* tensors: the model's ``state_dict()`` under their PyTorch names, float32 or float16
  (``load_state_dict`` copies float16 into the float32 parameters when loading);
* ``__metadata__`` (all values are strings): ``klass`` = ``demucs.htdemucs.HTDemucs``,
  ``args`` = JSON list of positional constructor arguments (empty here), ``kwargs`` = JSON
  object of the keyword arguments, a ``fractions.Fraction`` written as
  ``{"_type": "fraction", "numerator": n, "denominator": d}`` (``segment``). No
  ``structure`` key: that is only for quantized (diffq) states.

``segment`` in ``kwargs`` is the segment the model was trained with: the agent (like
``apply_model``) runs one forward pass when its segment is no longer than that, and splits
longer inputs with overlap 0.25.
"""
from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import torch

KLASS = "demucs.htdemucs.HTDemucs"


def _encode(value):
    """JSON-able form of constructor arguments, Fractions as demucs' hf.py decodes them."""
    if isinstance(value, Fraction):
        return {"_type": "fraction", "numerator": value.numerator, "denominator": value.denominator}
    if isinstance(value, dict):
        return {str(k): _encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        return value.item()  # numpy / torch scalars
    return value


def metadata_for(kwargs: dict, extra: dict | None = None) -> dict:
    """The ``__metadata__`` of the file for an ``HTDemucs(**kwargs)``."""
    meta = {"klass": KLASS, "args": json.dumps([]), "kwargs": json.dumps(_encode(kwargs))}
    for key, value in (extra or {}).items():
        meta[key] = value if isinstance(value, str) else json.dumps(_encode(value))
    return meta


def save(model: torch.nn.Module, kwargs: dict, path: Path, dtype: str = "float32",
         extra: dict | None = None) -> Path:
    """Write ``model`` (an ``HTDemucs(**kwargs)``) to ``path``, atomically."""
    from safetensors.torch import save_file
    if dtype not in ("float32", "float16"):
        raise ValueError(f"dtype '{dtype}' is not float32 or float16")
    torch_dtype = torch.float32 if dtype == "float32" else torch.float16
    tensors = {}
    for name, tensor in model.state_dict().items():
        tensor = tensor.detach().cpu()
        if tensor.is_floating_point():
            tensor = tensor.to(torch_dtype)
        tensors[name] = tensor.contiguous().clone()  # no shared storage: safetensors refuses it
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    save_file(tensors, str(tmp), metadata=metadata_for(kwargs, extra))
    tmp.replace(path)
    return path


@torch.no_grad()
def check_roundtrip(model: torch.nn.Module, path: Path, seed: int = 0) -> float:
    """Load ``path`` with demucs and return the max relative error of its separation of a
    seeded random mixture (one segment) against ``model``'s."""
    from demucs.apply import apply_model
    from demucs.hf import load_safetensors_model
    loaded = load_safetensors_model(str(path))
    generator = torch.Generator().manual_seed(seed)
    length = int(float(model.segment) * model.samplerate)
    mix = 0.1 * torch.randn(1, model.audio_channels, length, generator=generator)
    model.eval()
    ref = apply_model(model, mix, shifts=0, split=False)
    out = apply_model(loaded, mix, shifts=0, split=False)
    return float((out - ref).abs().max() / ref.abs().max())


def run(args) -> None:
    """The ``export`` command."""
    from .train import load_checkpoint
    torch.manual_seed(args.seed)
    model, kwargs, best = load_checkpoint(args.checkpoint)
    if args.segment:
        kwargs = dict(kwargs, segment=Fraction(args.segment).limit_denominator(10000))
        model.segment = kwargs["segment"]
    extra = {"sources": ",".join(kwargs["sources"]), "trained_by": "acoustic-edge training/"}
    if best:
        extra["validation_sisdr_db"] = f"{best.get('sisdr', float('nan')):.2f}"
    save(model, kwargs, args.out, args.dtype, extra)
    error = check_roundtrip(model, args.out, args.seed)
    size = Path(args.out).stat().st_size
    print(f"wrote {args.out} ({size / 1e6:.2f} MB, {args.dtype}); demucs.hf.load_safetensors_model "
          f"reloads it, separation max relative error vs the checkpoint {error:.2e}")
    limit = 1e-5 if args.dtype == "float32" else 5e-2
    if error > limit:
        raise ValueError(f"{args.out}: reloaded model differs from the checkpoint "
                         f"(relative error {error:.2e} > {limit:g})")
