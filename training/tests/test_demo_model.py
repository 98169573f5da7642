"""The shipped demo model (models/demo-machines.safetensors) loads in demucs and separates
new synthetic mixtures of the plant it was trained on (models/README.md has the full table)."""
from pathlib import Path

import numpy as np
import pytest
import torch

from training import synth
from training.metrics import si_sdr

MODEL = Path(__file__).resolve().parents[2] / "models" / "demo-machines.safetensors"


@pytest.mark.skipif(not MODEL.exists(), reason="no demo model in models/")
def test_demo_model_separates_new_mixtures():
    from demucs.apply import apply_model
    from demucs.hf import load_safetensors_model

    torch.set_num_threads(1)
    model = load_safetensors_model(str(MODEL))
    assert model.sources == ["fan", "pump", "slider", "valve"]
    assert model.samplerate == 16000 and model.audio_channels == 1 and model.segment == 10
    improvements = []
    for index in range(2):
        # recordings no split of `synth --seed 0` contains (another random stream), of the
        # same plant (plant seed 0: the machines the model was trained on)
        rng = np.random.default_rng([4242, index])
        refs = torch.stack([torch.from_numpy(synth.machine_sound(
            machine, int(rng.choice(synth.DEFAULT_IDS)), 160000, rng, plant_seed=0))
            * 10 ** (rng.uniform(-5, 5) / 20) for machine in model.sources])
        noise = torch.from_numpy(synth.background(rng, 160000))
        mix = refs.sum(0)
        mix = (mix + noise * mix.std() * 10 ** (-30 / 20)) * 0.05
        with torch.no_grad():
            est = apply_model(model, mix[None, None], shifts=0, split=False)[0, :, 0]
        improvements.append(si_sdr(est, refs) - si_sdr(mix.expand(4, -1), refs))
    mean = torch.stack(improvements).mean(0)
    # measured 16-19 dB per source on 64 test mixtures; 10 dB is the floor
    assert (mean > 10).all(), dict(zip(model.sources, mean.tolist()))
