"""Synthetic sounds, data sets and metrics."""
import numpy as np
import pytest
import torch

from training import data, synth
from training.metrics import ideal_ratio_mask, si_sdr


def test_synth_is_seeded_and_ids_differ():
    def clip(machine, mid, seed, plant=0):
        return synth.machine_sound(machine, mid, 16000, np.random.default_rng(seed), plant_seed=plant)
    for machine in synth.MACHINES:
        a, b = clip(machine, 0, 1), clip(machine, 0, 1)
        assert a.dtype == np.float32 and a.shape == (16000,)
        assert np.array_equal(a, b)
        assert abs(float(np.sqrt(np.mean(a.astype(np.float64) ** 2))) - 1) < 1e-3
        assert not np.array_equal(a, clip(machine, 0, 2))
    assert synth.machine_params("fan", 0, 0) != synth.machine_params("fan", 2, 0)
    assert synth.machine_params("fan", 0, 0) != synth.machine_params("fan", 0, 1)


def test_signatures():
    sr = 16000
    rng = np.random.default_rng(0)
    # valve: impulsive - most of the energy in a small fraction of the samples
    valve = synth.machine_sound("valve", 0, 10 * sr, rng)
    energy = np.sort(valve.astype(np.float64) ** 2)[::-1]
    assert energy[: len(energy) // 10].sum() / energy.sum() > 0.6
    # fan: a spectral line at the blade-pass frequency, well above the airflow around it
    p = synth.machine_params("fan", 0, 0)
    fan = synth.machine_sound("fan", 0, 10 * sr, rng).astype(np.float64)
    spec = np.abs(np.fft.rfft(fan * np.hanning(len(fan))))
    freqs = np.fft.rfftfreq(len(fan), 1 / sr)
    bpf = p["rot_hz"] * p["blades"]
    near = (freqs > bpf * 0.93) & (freqs < bpf * 1.07)
    ring = ((freqs > bpf * 1.3) & (freqs < bpf * 1.5))
    assert spec[near].max() > 10 * np.median(spec[ring])
    # pump: periodic - the envelope's autocorrelation peaks at the pulse period
    pump = synth.machine_sound("pump", 0, 10 * sr, rng).astype(np.float64)
    env = np.convolve(np.abs(pump), np.ones(80) / 80, mode="same")
    env -= env.mean()
    spec = np.fft.rfft(env[:4 * sr], 8 * sr)
    ac = np.fft.irfft(np.abs(spec) ** 2)[:4 * sr]  # autocorrelation via FFT
    period = sr / synth.machine_params("pump", 0, 0)["rate_hz"]
    lag = int(np.argmax(ac[int(0.5 * period):int(1.5 * period)])) + int(0.5 * period)
    assert abs(lag - period) / period < 0.08
    # slider: stops - some 50-ms windows are far quieter than the travel
    slider = synth.machine_sound("slider", 0, 10 * sr, rng).astype(np.float64)
    rms = np.sqrt((slider[: len(slider) // 800 * 800].reshape(-1, 800) ** 2).mean(1))
    assert rms.min() < 0.05 * np.median(rms)


def test_folder_and_mimii_layouts(tmp_path):
    synth.write_dataset(tmp_path / "f", seed=1, splits=(("train", 2),), duration=1.0, progress=False)
    pools, noise = data.scan(tmp_path / "f/train", ["fan", "valve"], "folder")
    assert len(pools["fan"]) == 2 and len(noise) == 2 and pools["fan"][0].channels == 1
    synth.write_dataset(tmp_path / "m", seed=1, machines=("fan", "valve"), splits=(("train", 2),),
                        duration=1.0, layout="mimii", progress=False)
    pools, noise = data.scan(tmp_path / "m/train", ["fan", "valve"], "mimii", snr="6_dB")
    assert len(pools["valve"]) == 2 and pools["valve"][0].channels == 8 and noise == []
    ds = data.MixtureDataset(pools, noise, ["fan", "valve"], 8000, 3, seed=0)
    mix, ref = ds[1]
    assert mix.shape == (1, 8000) and ref.shape == (2, 1, 8000)
    assert torch.allclose(mix, ref.sum(0), atol=1e-6)  # no background asked: sum of sources
    assert torch.equal(ds[1][0], mix)  # deterministic per index
    with pytest.raises(data.DataError, match="pump"):
        data.scan(tmp_path / "m/train", ["pump"], "mimii")
    with pytest.raises(data.DataError, match="no such data folder"):
        data.scan(tmp_path / "nowhere", ["fan"], "folder")


def test_background_at_requested_snr(tmp_path):
    synth.write_dataset(tmp_path, seed=2, splits=(("train", 1),), duration=1.0, progress=False)
    pools, noise = data.scan(tmp_path / "train", ["fan", "pump"], "folder")
    ds = data.MixtureDataset(pools, noise, ["fan", "pump"], 16000, 1, seed=0, noise_snr=(20, 20))
    mix, ref = ds[0]
    residual = mix - ref.sum(0)
    snr = 10 * torch.log10((ref.sum(0) ** 2).sum() / (residual ** 2).sum())
    assert abs(float(snr) - 20) < 0.2


def test_si_sdr_against_closed_form():
    g = torch.Generator().manual_seed(0)
    s = torch.randn(16000, generator=g, dtype=torch.float64)
    s -= s.mean()
    n = torch.randn(16000, generator=g, dtype=torch.float64)
    n -= n.mean()
    n -= (n @ s) / (s @ s) * s  # orthogonal to s
    n *= (s.norm() / n.norm()) * 10 ** (-12 / 20)  # 12 dB below
    assert abs(float(si_sdr(3.0 * (s + n), s)) - 12.0) < 1e-6  # scale-invariant
    assert float(si_sdr(s, s)) > 70


def test_ideal_ratio_mask_separates_disjoint_bands():
    t = torch.arange(16000, dtype=torch.float64) / 16000
    low, high = torch.sin(2 * np.pi * 200 * t), torch.sin(2 * np.pi * 3000 * t)
    refs = torch.stack([low, high])
    est = ideal_ratio_mask(refs.sum(0), refs)
    assert (si_sdr(est, refs) > 30).all()
