"""Model files the Separator must refuse (each checked first against demucs's own loader).

usage: demucs_bad_models.py OUTDIR
Writes other_class, missing_tensor, wrong_shape, extra_tensor and not_safetensors .safetensors.
"""
import json
import os
import sys

import torch
from safetensors.torch import save_file

from demucs.hf import load_safetensors_model
from demucs.htdemucs import HTDemucs

KWARGS = {"sources": ["a", "b"], "audio_channels": 1, "channels": 8, "depth": 2, "nfft": 256,
          "samplerate": 8000, "segment": 1, "t_layers": 1, "t_heads": 2}


def save(path, state, klass="demucs.htdemucs.HTDemucs"):
    save_file({k: v.contiguous() for k, v in state.items()}, path,
              metadata={"klass": klass, "args": "[]", "kwargs": json.dumps(KWARGS)})


def refused_by_demucs(path):
    try:
        load_safetensors_model(path)
    except Exception:  # noqa: BLE001 - any refusal counts
        return True
    return False


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    state = {k: v.detach() for k, v in HTDemucs(**KWARGS).state_dict().items()}

    save(os.path.join(out, "other_class.safetensors"), state, klass="demucs.demucs.Demucs")
    missing = dict(state)
    del missing["encoder.0.conv.bias"]
    save(os.path.join(out, "missing_tensor.safetensors"), missing)
    wrong = dict(state)
    wrong["encoder.1.conv.weight"] = torch.zeros(3, 3, 3, 1)
    save(os.path.join(out, "wrong_shape.safetensors"), wrong)
    extra = dict(state)
    extra["encoder.9.conv.weight"] = torch.zeros(2)
    save(os.path.join(out, "extra_tensor.safetensors"), extra)
    with open(os.path.join(out, "not_safetensors.safetensors"), "wb") as f:
        f.write(b"PK\x03\x04 this is a zip, not safetensors")
    for name in ["missing_tensor", "wrong_shape", "extra_tensor", "not_safetensors"]:
        assert refused_by_demucs(os.path.join(out, name + ".safetensors")), name

    # Branches that do not meet: nfft 512 merges at layer 3, where the time branch has
    # stride 4^4 = 256 but the spectrogram hop is 128. demucs loads it and fails in forward.
    kwargs = dict(KWARGS, nfft=512, depth=5, t_layers=0)
    mismatch = HTDemucs(**kwargs)
    path = os.path.join(out, "branches_mismatch.safetensors")
    save_file({k: v.contiguous() for k, v in mismatch.state_dict().items()}, path,
              metadata={"klass": "demucs.htdemucs.HTDemucs", "args": "[]", "kwargs": json.dumps(kwargs)})
    model = load_safetensors_model(path).eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, 1, 8000))
    except AssertionError:
        pass
    else:
        raise SystemExit("demucs ran the mismatched model")


if __name__ == "__main__":
    main()
