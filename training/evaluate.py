"""Evaluation: SI-SDR and SI-SDRi per source, with the mixture baseline and the oracle ceiling.

Held-out mixtures are made like training ones (data.MixtureDataset, deterministic for a
seed) and separated the way the agent does it: ``demucs.apply.apply_model(model, mix,
shifts=0, split=False)`` for a mixture no longer than the model's segment, ``split=True,
overlap=0.25`` beyond. For every source the table gives the SI-SDR of

* ``mixture``: the unprocessed mixture taken as the estimate (the baseline, SI-SDRi = 0);
* ``model``: the model's estimate, and its improvement over the mixture (SI-SDRi);
* ``oracle IRM``: the ideal ratio mask computed from the true sources (1024-point STFT,
  hop 256), the ceiling of a mask-based separator that knew the answer.

Means are over the mixtures (in dB).
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from . import data as data_mod
from .metrics import ideal_ratio_mask, si_sdr


def load_model(path: Path):
    """(model, sources) from an exported ``.safetensors`` or a ``.th`` checkpoint."""
    path = Path(path)
    if not path.exists():
        raise ValueError(f"{path}: no such model file")
    if path.suffix == ".safetensors":
        from demucs.hf import load_safetensors_model
        try:
            model = load_safetensors_model(str(path))
        except Exception as error:
            raise ValueError(f"{path}: demucs cannot load it ({error})") from None
    else:
        from .train import load_checkpoint
        model, _, _ = load_checkpoint(path)
    model.eval()
    return model, list(model.sources)


@torch.no_grad()
def evaluate(model, dataset) -> dict:
    """Per-example SI-SDR (dB) of mixture, model and oracle IRM: {name: [N, S] tensor}."""
    from demucs.apply import apply_model
    segment = int(float(model.segment) * model.samplerate)
    rows = {"mixture": [], "model": [], "oracle": []}
    for index in range(len(dataset)):
        mix, ref = dataset[index]                       # [1, T], [S, 1, T]
        length = mix.shape[-1]
        est = apply_model(model, mix[None], shifts=0, split=length > segment, overlap=0.25)[0]
        n_src = ref.shape[0]
        refs = ref[:, 0]
        rows["mixture"].append(si_sdr(mix[0].expand(n_src, length), refs))
        rows["model"].append(si_sdr(est[:, 0], refs))
        rows["oracle"].append(si_sdr(ideal_ratio_mask(mix[0], refs), refs))
    return {k: torch.stack(v) for k, v in rows.items()}


def table(sources, scores: dict) -> str:
    """Markdown table of the mean figures per source, and their mean."""
    mix = scores["mixture"].mean(0)
    mod = scores["model"].mean(0)
    ora = scores["oracle"].mean(0)
    lines = ["| source | mixture SI-SDR | model SI-SDR | model SI-SDRi | oracle IRM SI-SDR | oracle IRM SI-SDRi |",
             "|---|---:|---:|---:|---:|---:|"]
    for i, s in enumerate(sources):
        lines.append(f"| {s} | {mix[i]:.2f} | {mod[i]:.2f} | **{mod[i] - mix[i]:.2f}** | "
                     f"{ora[i]:.2f} | {ora[i] - mix[i]:.2f} |")
    lines.append(f"| mean | {mix.mean():.2f} | {mod.mean():.2f} | **{(mod - mix).mean():.2f}** | "
                 f"{ora.mean():.2f} | {(ora - mix).mean():.2f} |")
    return "\n".join(lines)


def run(args) -> dict:
    """The ``evaluate`` command: print the table (and write JSON if asked)."""
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    model, sources = load_model(args.model)
    sr = model.samplerate
    seconds = args.seconds if args.seconds else float(model.segment)
    mimii = {}
    if args.layout == "mimii":
        mimii = dict(conditions=tuple(args.mimii_conditions.split(",")), snr=args.mimii_snr)
    pools, noise = data_mod.scan(args.data, sources, args.layout, sr, **mimii)
    noise_snr = tuple(args.noise_snr) if args.noise_snr else None
    dataset = data_mod.MixtureDataset(pools, noise, sources, int(round(seconds * sr)), args.examples,
                                      seed=args.seed, gain_db=args.gain_db, noise_snr=noise_snr)
    scores = evaluate(model, dataset)
    text = table(sources, scores)
    noise_text = f", background noise at {noise_snr[0]:g}-{noise_snr[1]:g} dB SNR" if noise_snr else ""
    print(f"{args.examples} mixtures of {seconds:g} s from {args.data} (seed {args.seed}, "
          f"gains +-{args.gain_db:g} dB{noise_text}); SI-SDR in dB, SI-SDRi = improvement "
          f"over the mixture\n")
    print(text)
    result = {"model": str(args.model), "data": str(args.data), "examples": args.examples,
              "seconds": seconds, "seed": args.seed, "gain_db": args.gain_db,
              "noise_snr": list(noise_snr) if noise_snr else None,
              "sources": {s: {"mixture": float(scores["mixture"][:, i].mean()),
                              "model": float(scores["model"][:, i].mean()),
                              "sisdri": float((scores["model"][:, i] - scores["mixture"][:, i]).mean()),
                              "oracle_irm": float(scores["oracle"][:, i].mean())}
                          for i, s in enumerate(sources)}}
    result["mean_sisdri"] = float((scores["model"] - scores["mixture"]).mean())
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1))
    return result
