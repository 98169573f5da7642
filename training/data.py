"""Data sets: recordings of each source, mixed on the fly into training examples.

Two layouts are read:

* **folder per source** (``--layout folder``): ``<root>/<track>/<source>.wav`` - one file per
  source in each track folder (``fan.wav``, ``pump.wav``, ...), any channel count, any length.
  A ``background.wav`` next to them is site noise (not a source); it is added to mixtures
  when ``noise_snr`` is given.
* **MIMII** (``--layout mimii``): ``<root>/<snr>_<machine>/<machine>/id_XX/{normal,abnormal}/*.wav``,
  8 channels, as the MIMII data set (Purohit et al., 2019) ships it; the source name is the
  machine type. Only ``normal`` clips are used unless ``conditions`` says otherwise.

The recordings of one source are a pool: an example takes, for every source, a random
recording, a random crop of ``segment`` samples and one random channel, scales it to unit
RMS times a random gain (``gain_db``: uniform in [-gain_db, +gain_db] dB), and sums the
sources into the mixture, adding background noise at a random SNR if asked. The pools are
independent, so the same few minutes of recordings make very many different mixtures.

Validation and test examples are deterministic (example ``i`` is drawn from the seed and
``i``), so every evaluation of a model sees the same mixtures.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch


class DataError(Exception):
    """A data set that cannot be used: the message names the folder or file and the reason."""


@dataclass(frozen=True)
class Recording:
    """One audio file of one source (path, frames, channels)."""
    path: Path
    frames: int
    channels: int
    sample_rate: int


def _info(path: Path) -> Recording:
    import soundfile as sf
    try:
        info = sf.info(str(path))
    except Exception as error:  # soundfile raises several types for unreadable files
        raise DataError(f"{path}: cannot read audio file ({error})") from None
    return Recording(path, info.frames, info.channels, info.samplerate)


def scan_folder(root: Path, sources) -> tuple[dict, list]:
    """Pools of the folder-per-source layout: ({source: [Recording]}, [background Recording])."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: no such data folder")
    pools: dict = {s: [] for s in sources}
    noise: list = []
    for track in sorted(p for p in root.iterdir() if p.is_dir()):
        for source in sources:
            for ext in (".wav", ".flac"):
                path = track / f"{source}{ext}"
                if path.exists():
                    pools[source].append(_info(path))
        for ext in (".wav", ".flac"):
            if (track / f"background{ext}").exists():
                noise.append(_info(track / f"background{ext}"))
    return pools, noise


def scan_mimii(root: Path, sources, conditions=("normal",), snr: str | None = None) -> tuple[dict, list]:
    """Pools of the MIMII layout, source = machine type; ``snr`` keeps only e.g. ``6_dB``."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: no such data folder")
    pools: dict = {s: [] for s in sources}
    for source in sources:
        for condition in conditions:
            pattern = f"*_{source}/{source}/id_*/{condition}/*.wav"
            for path in sorted(root.glob(pattern)):
                if snr is not None and not path.parts[-5].startswith(f"{snr}_"):
                    continue
                pools[source].append(_info(path))
    return pools, []


def scan(root: Path, sources, layout: str = "folder", sample_rate: int = 16000,
         min_frames: int = 1, **mimii) -> tuple[dict, list]:
    """Scan a data set and check that every source has recordings at ``sample_rate``."""
    if layout == "folder":
        pools, noise = scan_folder(root, sources)
    elif layout == "mimii":
        pools, noise = scan_mimii(root, sources, **mimii)
    else:
        raise DataError(f"unknown layout '{layout}' (expected 'folder' or 'mimii')")
    for source, recs in pools.items():
        if not recs:
            hint = (f"<track>/{source}.wav" if layout == "folder"
                    else f"*_{source}/{source}/id_XX/normal/*.wav")
            raise DataError(f"{root}: no recordings of source '{source}' (expected {hint})")
    for rec in [r for recs in pools.values() for r in recs] + noise:
        if rec.sample_rate != sample_rate:
            raise DataError(f"{rec.path}: sample rate {rec.sample_rate} Hz, the model runs at "
                            f"{sample_rate} Hz (resample the recordings first)")
        if rec.frames < min_frames:
            raise DataError(f"{rec.path}: only {rec.frames} frames")
    return pools, noise


def _read_crop(rec: Recording, length: int, rng: np.random.Generator) -> np.ndarray:
    """A random crop of ``length`` frames of one random channel (zero-padded if shorter)."""
    import soundfile as sf
    start = int(rng.integers(0, max(1, rec.frames - length + 1)))
    channel = int(rng.integers(0, rec.channels))
    data, _ = sf.read(str(rec.path), start=start, frames=length, dtype="float32", always_2d=True)
    out = np.zeros(length, dtype=np.float32)
    out[:len(data)] = data[:, channel]
    return out


def _unit_rms(x: np.ndarray) -> np.ndarray:
    rms = float(np.sqrt(np.mean(x.astype(np.float64) ** 2)))
    return x / rms if rms > 1e-8 else x


class MixtureDataset(torch.utils.data.Dataset):
    """Mixtures made on the fly: item ``i`` -> (mixture [1, T], sources [S, 1, T]) float32.

    Item ``i`` is drawn from ``numpy.random.default_rng([seed, i])``: always the same for the
    same seed, so validation sets are fixed and training (which asks for items
    ``step * batch + b``, never twice) is reproducible and resumes exactly.
    """

    def __init__(self, pools: dict, noise: list, sources, segment: int, length: int,
                 seed: int, gain_db: float = 5.0,
                 noise_snr: tuple | None = None, cache: bool = True):
        self.pools = pools
        self.noise = noise
        self.sources = list(sources)
        self.segment = segment
        self.length = length
        self.seed = seed
        self.gain_db = gain_db
        self.noise_snr = noise_snr if noise else None
        # Whole files in memory when small (synthetic sets are): reading 10-s crops from disk
        # for every example costs more than the mixing itself.
        self._cache: dict = {} if cache else None

    def __len__(self):
        return self.length

    def _crop(self, rec: Recording, rng) -> np.ndarray:
        if self._cache is None or rec.frames * rec.channels > 4_000_000:
            return _read_crop(rec, self.segment, rng)
        data = self._cache.get(rec.path)
        if data is None:
            import soundfile as sf
            data, _ = sf.read(str(rec.path), dtype="float32", always_2d=True)
            self._cache[rec.path] = data
        start = int(rng.integers(0, max(1, rec.frames - self.segment + 1)))
        channel = int(rng.integers(0, rec.channels))
        out = np.zeros(self.segment, dtype=np.float32)
        piece = data[start:start + self.segment, channel]
        out[:len(piece)] = piece
        return out

    def example(self, rng: np.random.Generator):
        """Draw one example with ``rng``: (mixture [1, T], sources [S, 1, T]) tensors."""
        stems = []
        for source in self.sources:
            recs = self.pools[source]
            x = _unit_rms(self._crop(recs[int(rng.integers(0, len(recs)))], rng))
            gain = 10 ** (rng.uniform(-self.gain_db, self.gain_db) / 20)
            stems.append(x * gain)
        stems = np.stack(stems)
        mix = stems.sum(axis=0)
        if self.noise_snr is not None:
            noise = _unit_rms(self._crop(self.noise[int(rng.integers(0, len(self.noise)))], rng))
            snr = rng.uniform(*self.noise_snr)
            mix_rms = float(np.sqrt(np.mean(mix ** 2)))
            mix = mix + noise * mix_rms * 10 ** (-snr / 20)
        # a random overall level, so that the model does not rely on one (it normalises anyway)
        scale = 0.1 * 10 ** (rng.uniform(-10, 10) / 20)
        return (torch.from_numpy((mix * scale).astype(np.float32))[None],
                torch.from_numpy((stems * scale).astype(np.float32))[:, None])

    def __getitem__(self, index):
        return self.example(np.random.default_rng([self.seed, index]))
