"""Audio files written and read with soundfile (libsndfile's Python binding) for the Swift
AudioFiles tests.

  write DIR   -> DIR/<name>.<ext> in several formats plus DIR/<name>.expected.f32 (what
                 soundfile reads back as float32, interleaved) and DIR/formats.json
  check WAV EXPECTED.f32 CHANNELS RATE -> exits 1 unless WAV is float32 WAV of that content"""
import json
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

cmd = sys.argv[1]
if cmd == "write":
    out = Path(sys.argv[2])
    rng = np.random.default_rng(3)
    t = np.arange(4001) / 16000.0
    data = np.stack([0.5 * np.sin(2 * np.pi * (220 + 110 * c) * t) + 0.05 * rng.standard_normal(t.size)
                     for c in range(3)], axis=1).astype(np.float32)
    formats = {"pcm16.wav": "PCM_16", "pcm24.wav": "PCM_24", "pcm32.wav": "PCM_32",
               "float.wav": "FLOAT", "flac16.flac": "PCM_16"}
    for name, subtype in formats.items():
        sf.write(out / name, data, 16000, subtype=subtype)
        back, _ = sf.read(out / name, dtype="float32", always_2d=True)
        back.astype("<f4").tofile(out / (name + ".expected.f32"))
    (out / "formats.json").write_text(json.dumps(list(formats)))
elif cmd == "check":
    path, expected, channels, rate = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    info = sf.info(path)
    assert info.subtype == "FLOAT" and info.format == "WAV", (info.format, info.subtype)
    assert info.channels == channels and info.samplerate == rate, (info.channels, info.samplerate)
    data, _ = sf.read(path, dtype="float32", always_2d=True)
    want = np.fromfile(expected, dtype="<f4").reshape(-1, channels)
    assert np.array_equal(data, want), "samples differ"
