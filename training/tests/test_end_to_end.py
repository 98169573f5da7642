"""Tiny end-to-end run of the toolkit: synth -> train -> evaluate -> export -> load in demucs.

Small enough for CI (a few seconds on one core): 1.5-s clips, a 20-k-parameter HTDemucs,
a few optimizer steps. It checks the plumbing and the file format against the real demucs
library, not the quality of the model.
"""
import json

import numpy as np
import pytest
import torch

from training import cli, synth
from training.export import check_roundtrip
from training.train import load_checkpoint

SOURCES = "fan,pump,slider,valve"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("e2e")
    synth.write_dataset(root / "data", seed=3, splits=(("train", 3), ("valid", 1), ("test", 1)),
                        duration=1.5, progress=False)
    code = cli.main(["train", "--train", str(root / "data/train"), "--valid", str(root / "data/valid"),
                     "--sources", SOURCES, "--out", str(root / "run"), "--preset", "tiny",
                     "--segment", "1", "--crop", "0.5", "--steps", "4", "--batch-size", "2",
                     "--valid-every", "2",
                     "--valid-examples", "2", "--noise-snr", "20", "30", "--seed", "1",
                     "--bar-interval", "60"])
    assert code == 0
    return root


def test_train_writes_checkpoints_and_log(workdir):
    run = workdir / "run"
    assert (run / "best.th").exists() and (run / "checkpoint.th").exists()
    lines = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [entry["step"] for entry in lines] == [2, 4]
    assert all(np.isfinite(entry["sisdr_mean"]) for entry in lines)
    ckpt = torch.load(run / "checkpoint.th", weights_only=False)
    assert ckpt["step"] == 4 and ckpt["kwargs"]["sources"] == SOURCES.split(",")
    # trained on 0.5-s crops, validated and loaded with the declared 1-s segment
    model, kwargs, _ = load_checkpoint(run / "best.th")
    assert model.segment == kwargs["segment"] == 1


def test_train_refuses_a_bad_configuration(workdir, tmp_path, capsys):
    code = cli.main(["train", "--train", str(workdir / "data/train"), "--valid",
                     str(workdir / "data/valid"), "--out", str(tmp_path / "run"), "--preset", "tiny",
                     "--t-heads", "3", "--steps", "1"])
    assert code == 1
    assert "HTDemucs refused the configuration" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_resume_continues_and_refuses_to_overwrite(workdir, tmp_path):
    import shutil
    run = tmp_path / "run"
    shutil.copytree(workdir / "run", run)
    base = ["train", "--train", str(workdir / "data/train"), "--valid", str(workdir / "data/valid"),
            "--sources", SOURCES, "--out", str(run), "--preset", "tiny", "--segment", "1",
            "--steps", "6", "--batch-size", "2", "--valid-every", "2", "--valid-examples", "2",
            "--seed", "1", "--bar-interval", "60"]
    assert cli.main(base) == 1  # exists, no --resume: refused, nothing overwritten
    assert torch.load(run / "checkpoint.th", weights_only=False)["step"] == 4
    assert cli.main(base + ["--resume"]) == 0
    assert torch.load(run / "checkpoint.th", weights_only=False)["step"] == 6


def test_evaluate_table(workdir, capsys):
    out = workdir / "eval.json"
    code = cli.main(["evaluate", "--model", str(workdir / "run/best.th"), "--data",
                     str(workdir / "data/test"), "--examples", "2", "--seed", "2",
                     "--noise-snr", "20", "30", "--json", str(out)])
    assert code == 0
    text = capsys.readouterr().out
    assert "| valve |" in text and "oracle IRM SI-SDRi" in text
    result = json.loads(out.read_text())
    for source in SOURCES.split(","):
        row = result["sources"][source]
        assert all(np.isfinite(v) for v in row.values())
        # the oracle mask knows the sources: it must beat the unprocessed mixture
        assert row["oracle_irm"] > row["mixture"] + 3


@pytest.mark.parametrize("dtype,limit", [("float32", 1e-5), ("float16", 5e-2)])
def test_export_loads_in_demucs_and_matches(workdir, dtype, limit):
    from demucs.apply import apply_model
    from demucs.hf import load_safetensors_model
    from safetensors import safe_open

    path = workdir / f"model-{dtype}.safetensors"
    assert cli.main(["export", "--checkpoint", str(workdir / "run/best.th"), "--out", str(path),
                     "--dtype", dtype]) == 0
    model, kwargs, _ = load_checkpoint(workdir / "run/best.th")

    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
        names = set(f.keys())
        assert {f.get_tensor(k).dtype for k in names} == {getattr(torch, dtype)}
    assert meta["klass"] == "demucs.htdemucs.HTDemucs"
    assert json.loads(meta["args"]) == []
    stored = json.loads(meta["kwargs"])
    assert stored["segment"] == {"_type": "fraction", "numerator": 1, "denominator": 1}
    assert stored["sources"] == SOURCES.split(",") and stored["audio_channels"] == 1
    assert stored["samplerate"] == 16000
    assert names == set(model.state_dict().keys())

    loaded = load_safetensors_model(str(path))
    assert type(loaded).__name__ == "HTDemucs" and loaded.sources == SOURCES.split(",")
    mix = 0.1 * torch.randn(1, 1, 16000, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        ref = apply_model(model, mix, shifts=0, split=False)
        out = apply_model(loaded, mix, shifts=0, split=False)
        # a longer input goes through demucs' split path (overlap 0.25), as in the agent
        long_mix = 0.1 * torch.randn(1, 1, 40000, generator=torch.Generator().manual_seed(6))
        ref_long = apply_model(model, long_mix, shifts=0, split=True, overlap=0.25)
        out_long = apply_model(loaded, long_mix, shifts=0, split=True, overlap=0.25)
    assert out.shape == (1, 4, 1, 16000)
    assert float((out - ref).abs().max() / ref.abs().max()) <= limit
    assert float((out_long - ref_long).abs().max() / ref_long.abs().max()) <= limit
    assert check_roundtrip(model, path) <= limit


def test_export_refuses_a_missing_checkpoint(tmp_path, capsys):
    assert cli.main(["export", "--checkpoint", str(tmp_path / "nope.th"), "--out",
                     str(tmp_path / "m.safetensors")]) == 1
    assert "nope.th" in capsys.readouterr().err
    assert not (tmp_path / "m.safetensors").exists()
