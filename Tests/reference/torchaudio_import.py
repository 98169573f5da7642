"""Imports torchaudio's pure-Python transforms without its compiled extension.

The torchaudio 2.11 wheel in the venv is a CUDA build: its `_torchaudio` extension needs
libcudart, which a CPU machine does not have, so `import torchaudio` fails while loading it.
MelSpectrogram and AmplitudeToDB are plain torch code and never touch the extension, so a stub
module stands in for `torchaudio._extension` when (and only when) the real one cannot load.
"""
import sys
import types


def import_torchaudio():
    try:
        import torchaudio  # noqa: F401
        return sys.modules["torchaudio"]
    except OSError:
        for name in [n for n in sys.modules if n == "torchaudio" or n.startswith("torchaudio.")]:
            del sys.modules[name]
    stub = types.ModuleType("torchaudio._extension")
    stub._IS_TORCHAUDIO_EXT_AVAILABLE = False
    stub._IS_ALIGN_AVAILABLE = False
    stub.fail_if_no_align = lambda f: f
    sys.modules["torchaudio._extension"] = stub
    import torchaudio
    return torchaudio
