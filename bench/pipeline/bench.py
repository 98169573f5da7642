"""Pipeline benchmark (issue 4): one 8-microphone 10-s segment through the whole pipeline
(denoise -> separate -> mel), the original prototype in Python (noisereduce + demucs +
torchaudio, Tests/reference/prototype_pipeline.py) against `acoustic-edge process`, side by
side in one run, with the product's default-size HTDemucs (4 sources, mono, 16 kHz, segment 10,
26.9 M parameters, random weights).

    swift build -c release --product acoustic-edge
    .venv/bin/python bench/pipeline/bench.py [--runs 3] [--threads 2]

Both sides get the same input, noise profile, model and thread count (torch.set_num_threads /
OPENBLAS_NUM_THREADS); each round runs Python, then acoustic-edge, then acoustic-edge with
OPENBLAS_CORETYPE as set, so all three see the same machine load. Times are the processing of the segment (model loading and file I/O
excluded on both sides, as each reports it), best and median of --runs, plus each command's
wall time and peak resident memory. acoustic-edge runs with OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE
unset (as on an edge node) and once more as set in this environment. Not a test: run it on a
quiet machine and quote the ratio, not the absolute times.
"""
import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable
KWARGS = {"sources": ["fan", "pump", "slider", "valve"], "audio_channels": 1, "samplerate": 16000, "segment": 10}


RUNNER = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); "
          "print('maxrss_kb', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(r.returncode)")


def timed(cmd, env=None):
    """Runs cmd in a fresh wrapper process; returns (stdout+stderr, wall seconds, peak RSS of
    cmd in MB, from the wrapper's RUSAGE_CHILDREN, which holds only cmd)."""
    t0 = time.perf_counter()
    p = subprocess.run([PY, "-c", RUNNER] + [str(c) for c in cmd], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit(f"{cmd[0]} failed: {p.stderr[-2000:]}")
    peak = int(re.search(r"maxrss_kb (\d+)", p.stderr).group(1)) / 1024
    return p.stdout + p.stderr, wall, peak


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--agent", default=str(ROOT / ".build/release/acoustic-edge"))
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ae-pipeline-bench-"))
    subprocess.run([PY, ROOT / "Tests/reference/pipeline_inputs.py", work, "--seconds", "10", "--channels", "8"], check=True)
    subprocess.run([PY, ROOT / "Tests/reference/demucs_reference.py", work / "m", "--kwargs", json.dumps(KWARGS),
                    "--model-only"], check=True, capture_output=True)
    model = work / "m/model.safetensors"
    config = work / "agent.yaml"
    config.write_text(f"denoise:\n  noise_profile: {work / 'noise.pt'}\nseparator:\n  model: {model}\n"
                      f"output:\n  dir: {work / 'out'}\n")

    def python_run():
        out, wall, peak = timed([PY, ROOT / "Tests/reference/prototype_pipeline.py", work / "recording.wav", work / "ref",
                                 "--noise", work / "noise.pt", "--model", model, "--threads", str(a.threads), "--no-save"])
        return float(re.search(r"seconds ([0-9.]+)", out).group(1)), wall, peak, None

    def agent_run(unset, i):
        env = dict(os.environ, OPENBLAS_NUM_THREADS=str(a.threads))
        if unset:
            env.pop("OPENBLAS_CORETYPE", None)
            env.pop("OPENBLAS_L2_SIZE", None)
        out, wall, peak = timed([a.agent, "process", "--config", str(config), "--output", str(work / f"out{i}"),
                                 str(work / "recording.wav")], env=env)
        m = re.search(r"in ([0-9.]+) s \(denoise ([0-9.]+) s, separate ([0-9.]+) s, mel ([0-9.]+) s\)", out)
        return float(m.group(1)), wall, peak, m.groups()

    # Rounds alternate the three commands, so that each sees the same load on a shared machine.
    runs = {"python": [], "edge": [], "set": []}
    for i in range(a.runs):
        runs["python"].append(python_run())
        runs["edge"].append(agent_run(True, 2 * i))
        runs["set"].append(agent_run(False, 2 * i + 1))
    python_times, python_walls = [r[0] for r in runs["python"]], [r[1] for r in runs["python"]]
    python_rss = max(r[2] for r in runs["python"])
    edge_times, edge_walls = [r[0] for r in runs["edge"]], [r[1] for r in runs["edge"]]
    edge_rss, edge_stages = max(r[2] for r in runs["edge"]), runs["edge"][-1][3]
    set_times = [r[0] for r in runs["set"]]
    per_round = [p / e for p, e in zip(python_times, edge_times)]

    print(f"one 8-microphone 10-s segment, default HTDemucs (26.9 M parameters), {a.threads} threads each side")
    print(f"  Python prototype (noisereduce + demucs + torchaudio): best {min(python_times):.3f} s, median {statistics.median(python_times):.3f} s"
          f" (command wall median {statistics.median(python_walls):.2f} s)")
    print(f"  acoustic-edge process, OPENBLAS_CORETYPE unset:       best {min(edge_times):.3f} s, median {statistics.median(edge_times):.3f} s"
          f" (command wall median {statistics.median(edge_walls):.2f} s; last run: denoise {edge_stages[1]} s, separate {edge_stages[2]} s, mel {edge_stages[3]} s)")
    print(f"  acoustic-edge process, OPENBLAS_CORETYPE as set ({os.environ.get('OPENBLAS_CORETYPE', 'unset')}): "
          f"best {min(set_times):.3f} s, median {statistics.median(set_times):.3f} s")
    print(f"  ratio (Python / acoustic-edge, medians): {statistics.median(python_times) / statistics.median(edge_times):.2f}x"
          f" (with OPENBLAS_CORETYPE set: {statistics.median(python_times) / statistics.median(set_times):.2f}x); goal >= 2.5x")
    print(f"  ratio of the bests: {min(python_times) / min(edge_times):.2f}x; per round: "
          + ", ".join(f"{r:.2f}x" for r in per_round))
    print(f"  peak memory (resident): Python {python_rss:.0f} MB, acoustic-edge {edge_rss:.0f} MB")


if __name__ == "__main__":
    main()
