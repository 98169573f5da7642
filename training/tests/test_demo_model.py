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


def _binary():
    import os
    path = Path(os.environ.get("AE_BIN") or MODEL.parents[1] / ".build/release/acoustic-edge")
    return path if path.exists() else None


@pytest.mark.skipif(not MODEL.exists() or _binary() is None,
                    reason="needs models/demo-machines.safetensors and a release acoustic-edge "
                           "(swift build -c release, or AE_BIN)")
def test_swift_separate_runs_the_demo_model_like_demucs(tmp_path):
    """`acoustic-edge separate` on the shipped model against demucs' apply_model on the same
    two-channel 25-s file: one pass would not do (25 s > the 10-s segment), so this is the
    split path with overlap 0.25, per channel, as docs/contract.md ("What each stage matches") states."""
    import subprocess

    import soundfile as sf
    from demucs.apply import apply_model
    from demucs.hf import load_safetensors_model

    torch.set_num_threads(1)
    length = 25 * 16000
    channels = []
    for index in range(2):
        rng = np.random.default_rng([777, index])
        mix = sum(torch.from_numpy(synth.machine_sound(m, int(rng.choice(synth.DEFAULT_IDS)), length,
                                                       rng, plant_seed=0))
                  for m in synth.MACHINES)
        channels.append(0.05 * mix)
    audio = torch.stack(channels)                                # [2, T]
    sf.write(str(tmp_path / "mix.wav"), audio.T.numpy(), 16000, subtype="FLOAT")
    result = subprocess.run([str(_binary()), "separate", "--model", str(MODEL),
                             str(tmp_path / "mix.wav"), str(tmp_path / "parts")],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr

    model = load_safetensors_model(str(MODEL))
    with torch.no_grad():
        ref = apply_model(model, audio[:, None], shifts=0, split=True, overlap=0.25)  # [2, S, 1, T]
    for s, source in enumerate(model.sources):
        swift, _ = sf.read(str(tmp_path / "parts" / f"{source}.wav"), dtype="float32", always_2d=True)
        for c in range(2):
            expected = ref[c, s, 0].numpy()
            error = np.linalg.norm(swift[:, c] - expected) / np.linalg.norm(expected)
            assert error <= 1e-3, f"{source} channel {c}: relative error {error:.2e}"
