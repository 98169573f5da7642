"""`acoustic-edge inspect` on tensor files written by the real libraries (torch.save,
numpy.save, safetensors): shapes, types and statistics as numpy computes them, ranks 0 to 4,
0-sized dimensions, half and double storages, non-contiguous views; and malformed files
(truncated zip, wrong pickle, bad headers) refused on one line, never a crash.

The write direction (files acoustic-edge writes, read back bit-exactly by torch.load with
weights_only=True, safetensors and numpy.load) is Tests/TensorFormatsTests/
ReferenceRoundTripTests.swift, which calls Tests/reference/tensor_read_reference.py.

The binary: $AE_BIN, or .build/release/acoustic-edge (scripts/test.sh builds it first).
"""
import io
import json
import os
import pickle
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.numpy import save_file as save_numpy
from safetensors.torch import save_file as save_torch

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def agent():
    path = Path(os.environ.get("AE_BIN") or ROOT / ".build/release/acoustic-edge")
    if not os.access(path, os.X_OK):
        pytest.fail(f"no acoustic-edge binary at {path}: run `swift build -c release` or set AE_BIN")
    return str(path)


def inspect(agent, path):
    """Runs `inspect --json PATH`; returns the parsed report (asserting success)."""
    result = subprocess.run([agent, "inspect", "--json", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return json.loads(result.stdout)


def inspect_fails(agent, path):
    """Runs `inspect PATH` expecting the one-line failure; returns the reason."""
    result = subprocess.run([agent, "inspect", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)  # not a signal
    assert result.stdout == ""
    lines = result.stderr.split("\n")
    assert len(lines) == 2 and lines[1] == "", result.stderr
    assert lines[0].startswith("acoustic-edge: error: "), result.stderr
    return lines[0][len("acoustic-edge: error: "):]


def numpy_facts(array):
    a = np.asarray(array).astype(np.float32).astype(np.float64).reshape(-1)
    finite = a[np.isfinite(a)]
    facts = {"shape": list(np.shape(array)), "count": int(a.size),
             "nan": int(np.isnan(a).sum()), "inf": int(np.isinf(a).sum())}
    if finite.size:
        facts.update(min=float(finite.min()), max=float(finite.max()),
                     mean=float(finite.mean()), std=float(finite.std()))
    else:
        facts.update(min=None, max=None, mean=None, std=None)
    return facts


def assert_matches(entry, expected):
    for key in ("shape", "count", "nan", "inf", "min", "max"):
        assert entry[key] == expected[key], (key, entry[key], expected[key])
    for key in ("mean", "std"):
        if expected[key] is None:
            assert entry[key] is None
        else:
            assert entry[key] == pytest.approx(expected[key], rel=1e-9, abs=1e-12), key


SHAPES = [(), (17,), (0,), (3, 5), (4, 0), (1, 240, 240), (4, 0, 3), (2, 3, 4, 5), (2, 0, 4, 5)]
DTYPES = [torch.float32, torch.float16, torch.float64]


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)) or "scalar")
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: str(d).replace("torch.", ""))
def test_inspect_reads_torch_save(agent, tmp_path, shape, dtype):
    g = torch.Generator().manual_seed(len(shape) * 31 + sum(shape))
    t = (torch.randn(shape, generator=g) * 50).to(dtype)
    path = tmp_path / "t.pt"
    torch.save(t, path)
    report = inspect(agent, path)
    assert report["format"] == "pt" and report["metadata"] == {}
    assert len(report["tensors"]) == 1
    assert_matches(report["tensors"][0], numpy_facts(t.float().numpy()))


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)) or "scalar")
@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.float64], ids=lambda d: np.dtype(d).name)
def test_inspect_reads_numpy_save(agent, tmp_path, shape, dtype):
    rng = np.random.default_rng(len(shape) * 7 + sum(shape))
    a = (rng.standard_normal(shape) * 50).astype(dtype)
    path = tmp_path / "t.npy"
    np.save(path, a)
    report = inspect(agent, path)
    assert report["format"] == "npy"
    assert_matches(report["tensors"][0], numpy_facts(a))


def test_inspect_reads_fortran_order_npy(agent, tmp_path):
    a = np.asfortranarray(np.arange(24, dtype=np.float32).reshape(2, 3, 4))
    np.save(tmp_path / "f.npy", a)
    assert_matches(inspect(agent, tmp_path / "f.npy")["tensors"][0], numpy_facts(a))


@pytest.mark.parametrize("view", ["transposed", "sliced", "expanded_row"])
def test_inspect_reads_non_contiguous_views(agent, tmp_path, view):
    base = torch.randn(10, 8, generator=torch.Generator().manual_seed(3))
    t = {"transposed": base.t(), "sliced": base[2:7, 1:6], "expanded_row": base[3]}[view]
    torch.save(t, tmp_path / "v.pt")
    assert_matches(inspect(agent, tmp_path / "v.pt")["tensors"][0], numpy_facts(t.contiguous().numpy()))


def test_inspect_counts_nan_and_infinity(agent, tmp_path):
    t = torch.tensor([[1.0, float("nan"), -2.5], [float("inf"), 0.25, float("-inf")]])
    torch.save(t, tmp_path / "s.pt")
    entry = inspect(agent, tmp_path / "s.pt")["tensors"][0]
    assert (entry["nan"], entry["inf"], entry["min"], entry["max"]) == (1, 2, -2.5, 1.0)
    torch.save(torch.full((3,), float("nan")), tmp_path / "n.pt")
    entry = inspect(agent, tmp_path / "n.pt")["tensors"][0]
    assert entry["nan"] == 3 and entry["min"] is None and entry["std"] is None


def test_inspect_reads_safetensors_with_metadata(agent, tmp_path):
    g = torch.Generator().manual_seed(5)
    tensors = {"mel": torch.randn(1, 240, 240, generator=g), "b16": torch.randn(3, 4, generator=g).bfloat16(),
               "f16": torch.randn(5, generator=g).half(), "f64": torch.randn(2, 2, generator=g).double(),
               "empty": torch.zeros(0, 3)}
    metadata = {"mic": "0", "source": "fan", "segment_start": "2026-11-24T20:00:00.000Z", "model": "abc"}
    save_torch(tensors, str(tmp_path / "m.safetensors"), metadata=metadata)
    report = inspect(agent, tmp_path / "m.safetensors")
    assert report["format"] == "safetensors"
    assert report["metadata"] == metadata
    by_name = {e["name"]: e for e in report["tensors"]}
    assert set(by_name) == set(tensors)
    assert {n: e["dtype"] for n, e in by_name.items()} == {"mel": "F32", "b16": "BF16", "f16": "F16",
                                                           "f64": "F64", "empty": "F32"}
    for name, t in tensors.items():
        assert_matches(by_name[name], numpy_facts(t.float().numpy()))
    # Without metadata (safetensors' numpy writer).
    save_numpy({"x": np.ones((2, 2), np.float32)}, str(tmp_path / "plain.safetensors"))
    report = inspect(agent, tmp_path / "plain.safetensors")
    assert report["metadata"] == {} and report["tensors"][0]["max"] == 1.0


def test_inspect_text_names_shape_and_statistics(agent, tmp_path):
    torch.save(torch.arange(6, dtype=torch.float32).reshape(2, 3), tmp_path / "a.pt")
    result = subprocess.run([agent, "inspect", str(tmp_path / "a.pt")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "shape [2, 3]" in result.stdout and "6 values" in result.stdout
    assert "min 0  max 5  mean 2.5" in result.stdout


# Malformed files: one line naming the file, exit status 1, no crash (a signal would be a
# negative return code), whatever the bytes.

@pytest.mark.parametrize("fraction", [0.0, 0.01, 0.3, 0.7, 0.999])
@pytest.mark.parametrize("ext", ["pt", "npy", "safetensors"])
def test_truncated_files_are_refused(agent, tmp_path, ext, fraction):
    t = torch.randn(4, 50, generator=torch.Generator().manual_seed(1))
    whole = tmp_path / f"whole.{ext}"
    {"pt": lambda: torch.save(t, whole), "npy": lambda: np.save(whole, t.numpy()),
     "safetensors": lambda: save_torch({"x": t}, str(whole))}[ext]()
    data = whole.read_bytes()
    cut = tmp_path / f"cut.{ext}"
    cut.write_bytes(data[: int(len(data) * fraction)])
    assert str(cut) in inspect_fails(agent, cut)


def _pt_with_pickle(path, pickle_bytes):
    """A zip laid out as torch.save does, with `pickle_bytes` as its data.pkl."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", pickle_bytes)
        z.writestr("archive/byteorder", "little")
        z.writestr("archive/version", "3\n")


def test_wrong_pickles_are_refused_and_never_run(agent, tmp_path):
    marker = tmp_path / "pwned"
    evil = f"cos\nsystem\n(S'touch {marker}'\ntR.".encode()
    cases = {
        "evil": evil,
        "garbage": b"\x80\x02this is not a pickle",
        "dict": pickle.dumps({"a": 1}, protocol=2),
        "int": pickle.dumps(42, protocol=2),
        "empty": b"",
    }
    for name, payload in cases.items():
        path = tmp_path / f"{name}.pt"
        _pt_with_pickle(path, payload)
        assert str(path) in inspect_fails(agent, path), name
    assert not marker.exists()
    # A whole state dict (what a model checkpoint holds) is not a single tensor.
    torch.save({"w": torch.ones(2)}, tmp_path / "state.pt")
    assert "not a single tensor" in inspect_fails(agent, tmp_path / "state.pt")
    # An integer tensor is not a floating-point tensor.
    torch.save(torch.arange(4), tmp_path / "long.pt")
    inspect_fails(agent, tmp_path / "long.pt")


def test_zip_without_data_pkl_and_non_zip_are_refused(agent, tmp_path):
    with zipfile.ZipFile(tmp_path / "other.pt", "w") as z:
        z.writestr("hello.txt", "hi")
    inspect_fails(agent, tmp_path / "other.pt")
    (tmp_path / "text.pt").write_text("not a zip at all\n")
    inspect_fails(agent, tmp_path / "text.pt")


def test_bad_npy_headers_are_refused(agent, tmp_path):
    good = io.BytesIO()
    np.save(good, np.ones((2, 3), np.float32))
    data = good.getvalue()
    cases = {
        "magic": b"\x93NUMPX" + data[6:],
        "int32": data.replace(b"'<f4'", b"'<i4'"),
        "bigendian": data.replace(b"'<f4'", b"'>f4'"),
        "version": data[:6] + b"\x09" + data[7:],
        "shape": data.replace(b"(2, 3)", b"(2, 9)"),
        "header_length": data[:8] + b"\xff\xff" + data[10:],
    }
    for name, payload in cases.items():
        assert payload != data, name
        path = tmp_path / f"{name}.npy"
        path.write_bytes(payload)
        assert str(path) in inspect_fails(agent, path), name


def test_bad_safetensors_headers_are_refused(agent, tmp_path):
    buffer = tmp_path / "good.safetensors"
    save_numpy({"x": np.ones((2, 3), np.float32)}, str(buffer))
    data = buffer.read_bytes()
    n = int.from_bytes(data[:8], "little")
    header = data[8:8 + n]
    cases = {
        "length": (10 ** 12).to_bytes(8, "little") + data[8:],
        "json": data[:8] + b"{" * n + data[8 + n:],
        "dtype": data[:8] + header.replace(b'"F32"', b'"I32"') + data[8 + n:],
        "offsets": data[:8] + header.replace(b"[0,24]", b"[0,99]") + data[8 + n:],
        "shape": data[:8] + header.replace(b"[2,3]", b"[2,4]") + data[8 + n:],
    }
    for name, payload in cases.items():
        assert payload != data and (len(payload) == len(data) or name == "length"), name
        path = tmp_path / f"{name}.safetensors"
        path.write_bytes(payload)
        assert str(path) in inspect_fails(agent, path), name


def test_missing_file_and_unknown_extension(agent, tmp_path):
    assert inspect_fails(agent, tmp_path / "missing.pt") == f"{tmp_path / 'missing.pt'}: No such file or directory"
    (tmp_path / "x.wav").write_bytes(b"RIFF")
    assert "unknown tensor file extension" in inspect_fails(agent, tmp_path / "x.wav")
