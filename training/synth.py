"""Synthetic machine sounds: mono 16-kHz recordings of the four MIMII machine types.

No data set can be downloaded where this toolkit was written, so the demo model is trained on
sounds synthesised from the acoustic signature of each machine type (MIMII, Purohit et al.
2019, describes the real recordings):

* fan    - blade-pass tone (rotation rate x blade count) and its harmonics over broadband
           airflow noise, with a slow speed drift and a little rotor imbalance;
* pump   - periodic pressure pulses (a damped resonance struck at the pulse rate) with the
           motor hum at harmonics of the pulse rate and a low flow noise;
* slider - a rail carriage that travels and stops: friction noise bursts whose level and
           roller ticks follow an accelerate/cruise/decelerate speed profile, a motor whine
           that glides with the speed, and an end-stop knock;
* valve  - a solenoid valve switching on and off: intermittent impulsive clicks (ringing
           metal modes, a broadband snap and a low thump) with faint flow hiss while open.

Every machine *ID* (``id_00``, ``id_02``... as in MIMII) has its own parameters (blade count,
resonances, pulse rate, switching rhythm), drawn from the plant seed, so that models see the
same kind of within-type variety as on a real site. Every recording of an ID varies a little
around them (speed, levels). ``background`` is site noise (pink and brown noise, mains hum
and its harmonics) that is not a source to separate.

Everything is a pure function of its seeds: the same ``--seed`` writes the same files.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16000
MACHINES = ("fan", "pump", "slider", "valve")
DEFAULT_IDS = (0, 2, 4, 6)
# Level of each machine recording (RMS, dBFS) before it is written; mixtures are made from
# unit-RMS sources, so this only keeps the PCM files comfortably away from clipping.
_RMS_DBFS = -30.0


# --------------------------------------------------------------------------------------------
# small signal helpers


def _colored_noise(rng: np.random.Generator, n: int, sr: int, shape) -> np.ndarray:
    """White noise shaped in frequency by ``shape(freqs_hz) -> gain`` (FFT filtering)."""
    spec = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1.0 / sr)
    spec *= shape(freqs)
    out = np.fft.irfft(spec, n)
    return out / (np.std(out) + 1e-12)


def _band(freqs, center, width):
    """Smooth band-pass gain (Gaussian on a log-frequency axis), ``width`` in octaves."""
    f = np.maximum(freqs, 1.0)
    return np.exp(-0.5 * (np.log2(f / center) / width) ** 2)


def _smooth_walk(rng: np.random.Generator, n: int, sr: int, rate_hz: float) -> np.ndarray:
    """A slowly varying random curve in [-1, 1] with changes at about ``rate_hz``."""
    knots = max(4, int(n / sr * rate_hz) + 4)
    values = rng.uniform(-1.0, 1.0, knots)
    x = np.linspace(0, knots - 1, n)
    return np.interp(x, np.arange(knots), values)


def _damped(sr: int, freq: float, tau: float, length_s: float | None = None) -> np.ndarray:
    """A damped sinusoid ``exp(-t/tau) sin(2 pi f t)``, cut after 7 time constants."""
    length_s = length_s or 7.0 * tau
    t = np.arange(int(length_s * sr)) / sr
    return np.exp(-t / tau) * np.sin(2 * np.pi * freq * t)


def _place(out: np.ndarray, kernel: np.ndarray, start: int, gain: float = 1.0) -> None:
    """Add ``gain * kernel`` into ``out`` at sample ``start`` (clipped at both ends)."""
    if start >= len(out):
        return
    k0 = max(0, -start)
    s0 = max(0, start)
    length = min(len(kernel) - k0, len(out) - s0)
    if length > 0:
        out[s0:s0 + length] += gain * kernel[k0:k0 + length]


# --------------------------------------------------------------------------------------------
# per-ID parameters


def machine_params(machine: str, machine_id: int, plant_seed: int) -> dict:
    """The fixed parameters of one machine (type + ID) of the plant ``plant_seed``."""
    rng = np.random.default_rng([plant_seed, MACHINES.index(machine), machine_id, 7919])
    if machine == "fan":
        return {
            "rot_hz": rng.uniform(12.0, 28.0),
            "blades": int(rng.integers(4, 10)),
            "harmonics": rng.uniform(0.15, 1.0, 6) * (0.75 ** np.arange(6)),
            "tone_db": rng.uniform(4.0, 10.0),
            "air_center": rng.uniform(180.0, 380.0),
            "air_width": rng.uniform(0.4, 0.7),
            "drift": rng.uniform(0.005, 0.025),
            "imbalance": rng.uniform(0.05, 0.3),
        }
    if machine == "pump":
        return {
            "rate_hz": rng.uniform(7.0, 24.0),
            "res_hz": rng.uniform(550.0, 1100.0),
            "res_tau": rng.uniform(0.004, 0.018),
            "res2_hz": rng.uniform(1100.0, 1600.0),
            "hum": rng.uniform(0.1, 1.0, 6) * (0.7 ** np.arange(6)),
            "hum_db": rng.uniform(-14.0, -4.0),
            "flow_db": rng.uniform(-34.0, -26.0),
        }
    if machine == "slider":
        return {
            "move_s": rng.uniform(0.5, 1.4),
            "pause_s": rng.uniform(0.25, 0.8),
            "rail_hz": rng.uniform(3200.0, 5200.0),
            "rail_width": rng.uniform(0.25, 0.4),
            "tick_hz": rng.uniform(25.0, 70.0),
            "motor_hz": rng.uniform(700.0, 1100.0),
            "motor_db": rng.uniform(-20.0, -12.0),
            "knock_hz": rng.uniform(3500.0, 5000.0),
        }
    if machine == "valve":
        return {
            "period_s": rng.uniform(0.45, 1.1),
            "open_s": rng.uniform(0.08, 0.3),
            "modes_hz": np.sort(rng.uniform(1500.0, 2800.0, 3)),
            "modes_tau": rng.uniform(0.0015, 0.008, 3),
            "thump_hz": rng.uniform(1000.0, 1400.0),
            "hiss_hz": rng.uniform(1600.0, 2600.0),
            "hiss_db": rng.uniform(-50.0, -40.0),
        }
    raise ValueError(f"unknown machine type '{machine}' (expected one of {', '.join(MACHINES)})")


# --------------------------------------------------------------------------------------------
# generators: one recording of ``n`` samples, unit RMS


def _fan(rng, p, n, sr):
    speed = 1.0 + rng.uniform(-0.03, 0.03) + p["drift"] * _smooth_walk(rng, n, sr, 0.15)
    phase = 2 * np.pi * np.cumsum(p["rot_hz"] * speed) / sr + rng.uniform(0, 2 * np.pi)
    tone = np.zeros(n)
    for k, amp in enumerate(p["harmonics"], start=1):
        tone += amp * np.sin(k * p["blades"] * phase + rng.uniform(0, 2 * np.pi))
    tone += p["imbalance"] * np.sin(phase)
    tone /= np.std(tone) + 1e-12
    air = _colored_noise(rng, n, sr, lambda f: _band(f, p["air_center"], p["air_width"])
                         / np.sqrt(np.maximum(f, 20.0) / 20.0))
    air *= 1.0 + 0.15 * np.sin(phase)  # the blades modulate the airflow
    return 10 ** (p["tone_db"] / 20) * tone + air


def _pump(rng, p, n, sr):
    rate = p["rate_hz"] * (1.0 + rng.uniform(-0.04, 0.04))
    kernel = np.zeros(int(0.9 * sr / rate))
    _place(kernel, _damped(sr, p["res_hz"], p["res_tau"]), 0)
    _place(kernel, _damped(sr, p["res2_hz"], 0.002), 0, 0.35)
    width = int(sr / rate / 2)
    _place(kernel, np.sin(np.pi * np.arange(width) / width), 0, 0.25)  # the pressure swell
    pulses = np.zeros(n)
    t = rng.uniform(0, 1.0 / rate)
    while t * sr < n:
        _place(pulses, kernel, int(t * sr), rng.uniform(0.85, 1.15))
        t += (1.0 / rate) * (1.0 + rng.normal(0, 0.01))
    pulses /= np.std(pulses) + 1e-12
    tt = np.arange(n) / sr
    hum = sum(a * np.sin(2 * np.pi * rate * k * tt + rng.uniform(0, 2 * np.pi))
              for k, a in enumerate(p["hum"], start=1))
    hum /= np.std(hum) + 1e-12
    flow = _colored_noise(rng, n, sr, lambda f: 1.0 / np.maximum(f, 50.0) * (f < 3000))
    return pulses + 10 ** (p["hum_db"] / 20) * hum + 10 ** (p["flow_db"] / 20) * flow


def _slider(rng, p, n, sr):
    speed = np.zeros(n)
    knocks = []
    t = rng.uniform(-p["move_s"], p["pause_s"])  # may start mid-travel
    while t * sr < n:
        move = p["move_s"] * rng.uniform(0.8, 1.2)
        ramp = min(move / 3, rng.uniform(0.06, 0.15))
        start, stop = int(t * sr), int((t + move) * sr)
        seg = np.arange(stop - start) / sr
        profile = np.minimum(1.0, np.minimum(seg / ramp, (move - seg) / ramp))
        _place(speed, np.clip(profile, 0, 1) * rng.uniform(0.85, 1.0), start)
        knocks.append(stop)
        t += move + p["pause_s"] * rng.uniform(0.7, 1.3)
    rail = _colored_noise(rng, n, sr, lambda f: _band(f, p["rail_hz"], p["rail_width"]))
    tick_phase = 2 * np.pi * np.cumsum(p["tick_hz"] * speed) / sr
    ticks = np.maximum(0.0, np.sin(tick_phase)) ** 8
    motor_phase = 2 * np.pi * np.cumsum(p["motor_hz"] * (0.3 + 0.7 * speed)) / sr
    motor = np.sin(motor_phase) + 0.15 * np.sin(2 * motor_phase)
    out = rail * speed * (0.6 + 0.8 * ticks) + 10 ** (p["motor_db"] / 20) * motor * speed
    knock = _damped(sr, p["knock_hz"], 0.02) * 2.5
    for k in knocks:
        _place(out, knock, k, rng.uniform(0.6, 1.0))
    return out


def _valve_click(rng, p, sr, closing):
    length = int(0.06 * sr)
    click = np.zeros(length)
    for f, tau in zip(p["modes_hz"], p["modes_tau"]):
        mode = _damped(sr, f * rng.uniform(0.98, 1.02), tau)[:length]
        click[:len(mode)] += rng.uniform(0.5, 1.0) * mode
    snap = int(0.002 * sr)
    click[:snap] += rng.standard_normal(snap) * np.exp(-np.arange(snap) / (0.0005 * sr)) * 1.5
    thump = _damped(sr, p["thump_hz"], 0.006)[:length]
    click[:len(thump)] += 0.8 * thump
    return click * (1.25 if closing else 1.0)


def _valve(rng, p, n, sr):
    out = np.zeros(n)
    gate = np.zeros(n)
    t = rng.uniform(0, p["period_s"])
    while t * sr < n:
        open_s = p["open_s"] * rng.uniform(0.8, 1.2)
        start, stop = int(t * sr), int((t + open_s) * sr)
        _place(out, _valve_click(rng, p, sr, closing=False), start, rng.uniform(0.8, 1.0))
        _place(out, _valve_click(rng, p, sr, closing=True), stop, rng.uniform(0.8, 1.0))
        fade = np.minimum(1.0, np.minimum(np.arange(stop - start), np.arange(stop - start)[::-1])
                          / (0.01 * sr))
        _place(gate, fade, start)
        t += p["period_s"] * rng.uniform(0.75, 1.25)
    peak = np.max(np.abs(out)) + 1e-12
    hiss = _colored_noise(rng, n, sr, lambda f: _band(f, p["hiss_hz"], 0.5))
    return out + peak * 10 ** (p["hiss_db"] / 20) * 3.0 * hiss * gate


def background(rng: np.random.Generator, n: int, sr: int = SAMPLE_RATE,
               mains_hz: float = 50.0) -> np.ndarray:
    """Site background noise of ``n`` samples, unit RMS: pink and brown noise, mains hum."""
    pink = _colored_noise(rng, n, sr, lambda f: 1.0 / np.sqrt(np.maximum(f, 10.0)))
    brown = _colored_noise(rng, n, sr, lambda f: 1.0 / np.maximum(f, 10.0))
    tt = np.arange(n) / sr
    hum = sum(rng.uniform(0.1, 1.0) / k * np.sin(2 * np.pi * mains_hz * k * tt + rng.uniform(0, 6.3))
              for k in range(1, 6))
    hum /= np.std(hum) + 1e-12
    out = pink + rng.uniform(0.3, 1.0) * brown + rng.uniform(0.05, 0.4) * hum
    return (out / (np.std(out) + 1e-12)).astype(np.float32)


_GENERATORS = {"fan": _fan, "pump": _pump, "slider": _slider, "valve": _valve}


def machine_sound(machine: str, machine_id: int, n: int, rng: np.random.Generator,
                  plant_seed: int = 0, sr: int = SAMPLE_RATE) -> np.ndarray:
    """One recording (``n`` samples, float32, unit RMS) of machine ``machine`` / ``machine_id``."""
    if machine not in _GENERATORS:
        raise ValueError(f"unknown machine type '{machine}' (expected one of {', '.join(MACHINES)})")
    out = _GENERATORS[machine](rng, machine_params(machine, machine_id, plant_seed), n, sr)
    out = out - np.mean(out)  # microphones do not record DC (the pump's pressure swell has some)
    return (out / (np.sqrt(np.mean(out ** 2)) + 1e-12)).astype(np.float32)


# --------------------------------------------------------------------------------------------
# writing a synthetic data set


def _write_wav(path: Path, audio: np.ndarray, sr: int) -> None:
    """Write PCM-16 WAV atomically (aside, then renamed), ``audio`` shaped [frames] or [frames, ch]."""
    import soundfile as sf
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    sf.write(str(tmp), audio, sr, subtype="PCM_16", format="WAV")
    tmp.replace(path)


def _level(x: np.ndarray) -> np.ndarray:
    return x * 10 ** (_RMS_DBFS / 20)


def _multichannel(rng, mono: np.ndarray, channels: int, sr: int) -> np.ndarray:
    """A crude microphone array: each channel delayed (< 1 ms) and scaled a little."""
    out = np.zeros((len(mono), channels), dtype=np.float32)
    for c in range(channels):
        d = int(rng.integers(0, int(0.001 * sr)))
        out[d:, c] = mono[:len(mono) - d] * rng.uniform(0.8, 1.0)
    return out


def write_dataset(out: Path, seed: int, machines=MACHINES, ids=DEFAULT_IDS,
                  splits=(("train", 256), ("valid", 16), ("test", 32)), duration: float = 10.0,
                  layout: str = "folder", sr: int = SAMPLE_RATE, progress: bool = True) -> dict:
    """Write a synthetic data set under ``out`` and return its description (also ``synth.json``).

    ``layout="folder"``: ``<out>/<split>/<track>/{fan,pump,...,background}.wav``, one mono
    recording per machine type (of a random ID) in every track.
    ``layout="mimii"``: ``<out>/<split>/6_dB_<machine>/<machine>/id_XX/normal/NNNNNNNN.wav``,
    8 channels, as the MIMII data set is laid out (with the site noise already mixed in at 6 dB).
    """
    if layout not in ("folder", "mimii"):
        raise ValueError(f"unknown layout '{layout}' (expected 'folder' or 'mimii')")
    n = int(round(duration * sr))
    total = sum(count for _, count in splits)
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=total, desc="synth", unit="track")
    for split_index, (split, count) in enumerate(splits):
        for track in range(count):
            rng = np.random.default_rng([seed, split_index, track])
            if layout == "folder":
                folder = out / split / f"track{track:04d}"
                for machine in machines:
                    mid = int(rng.choice(ids))
                    sound = machine_sound(machine, mid, n, rng, plant_seed=seed, sr=sr)
                    _write_wav(folder / f"{machine}.wav", _level(sound), sr)
                _write_wav(folder / "background.wav", _level(background(rng, n, sr)), sr)
            else:
                for machine in machines:
                    mid = int(rng.choice(ids))
                    sound = machine_sound(machine, mid, n, rng, plant_seed=seed, sr=sr)
                    noise = background(rng, n, sr) * 10 ** (-6.0 / 20)
                    audio = _multichannel(rng, _level(sound + noise), 8, sr)
                    _write_wav(out / split / f"6_dB_{machine}" / machine / f"id_{mid:02d}" / "normal"
                               / f"{track:08d}.wav", audio, sr)
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    info = {
        "generator": "training.synth", "seed": seed, "layout": layout, "sample_rate": sr,
        "duration_s": duration, "machines": list(machines), "ids": [int(i) for i in ids],
        "splits": {name: count for name, count in splits},
        "params": {f"{m}/id_{i:02d}": {k: (v.tolist() if isinstance(v, np.ndarray) else v)
                                      for k, v in machine_params(m, i, seed).items()}
                   for m in machines for i in ids},
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "synth.json").write_text(json.dumps(info, indent=1, default=float))
    return info

