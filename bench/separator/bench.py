"""Separator benchmark: the Swift HTDemucs against PyTorch 2.13 CPU, same machine, same
thread count, in one run. See bench/separator/README.md.

usage: bench.py [--swift-bench PATH] [--threads 2] [--iterations 2] [--rounds 3] [--batches 1,8]

1. builds the default HTDemucs of the product (4 sources, mono, 16 kHz, segment 10, every other
   argument default) with random weights and saves it in demucs's safetensors format;
2. counts its FLOPs per 10-s channel (torch.utils.flop_counter: convolutions, matmuls);
3. in several rounds, alternately times PyTorch (torch.set_num_threads(threads), eval,
   no_grad, apply_model(split=False)) and runs the Swift benchmark with OPENBLAS_CORETYPE /
   OPENBLAS_L2_SIZE unset (as on an edge node) and with them as set in this environment;
   every figure is the best over the rounds;
5. prints seconds per channel, the ratio torch / swift, GFLOPS and the fraction of the SGEMM
   peak measured by the Swift benchmark.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import torch

from demucs.apply import apply_model
from demucs.htdemucs import HTDemucs
from safetensors.torch import save_file

SOURCES = ["fan", "pump", "slider", "valve"]
KWARGS = {"sources": SOURCES, "audio_channels": 1, "samplerate": 16000, "segment": 10}


def run_swift(binary, model, batches, iterations, threads, unset):
    env = dict(os.environ)
    if unset:
        env.pop("OPENBLAS_CORETYPE", None)
        env.pop("OPENBLAS_L2_SIZE", None)
    out = subprocess.run([binary, model, "--batches", ",".join(map(str, batches)),
                          "--iterations", str(iterations), "--threads", str(threads)],
                         env=env, check=True, capture_output=True, text=True).stdout
    results = {"batches": {}}
    for line in out.splitlines():
        if not line.startswith("{"):
            continue
        item = json.loads(line)
        if "batch" in item:
            results["batches"][item["batch"]] = item["seconds_per_channel"]
            results.setdefault("memory", {})[item["batch"]] = {
                # ru_maxrss is useless here: Linux carries the parent's high-water mark over exec.
                "workspace_mb": item["workspace_mb"], "peak_live_mb": item["peak_live_mb"]}
        else:
            results.update(item)
    return results


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--swift-bench", default=".build/release/SeparatorBench")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--iterations", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batches", default="1,8")
    args = parser.parse_args()
    batches = [int(b) for b in args.batches.split(",")]

    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    model = HTDemucs(**KWARGS).eval()
    params = sum(p.numel() for p in model.parameters())
    tmp = tempfile.mkdtemp(prefix="separator-bench-")
    path = os.path.join(tmp, "htdemucs_default.safetensors")
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, path,
              metadata={"klass": "demucs.htdemucs.HTDemucs", "args": "[]", "kwargs": json.dumps(KWARGS)})
    length = int(model.segment * model.samplerate)

    from torch.utils.flop_counter import FlopCounterMode
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, 1, length))
    gflop = counter.get_total_flops() / 1e9

    # Rounds alternate torch and Swift so both see the same machine load (a shared machine
    # makes single measurements meaningless); each figure is the best over all rounds.
    torch_times = {b: float("inf") for b in batches}
    swift_runs = {True: {}, False: {}}
    mixes = {b: torch.randn(b, 1, length) * 0.1 for b in batches}
    with torch.no_grad():
        for b in batches:
            apply_model(model, mixes[b], shifts=0, split=False)  # warm-up
    for _ in range(args.rounds):
        for batch in batches:
            with torch.no_grad():
                for _ in range(args.iterations):
                    t0 = time.perf_counter()
                    apply_model(model, mixes[batch], shifts=0, split=False)
                    torch_times[batch] = min(torch_times[batch], (time.perf_counter() - t0) / batch)
            for unset in (True, False):
                run = run_swift(args.swift_bench, path, [batch], args.iterations, args.threads, unset)
                best = swift_runs[unset]
                best["sgemm_gflops"] = max(best.get("sgemm_gflops", 0), run["sgemm_gflops"])
                best.setdefault("batches", {})
                best.setdefault("memory", {})[batch] = run["memory"][batch]
                best["batches"][batch] = min(best["batches"].get(batch, float("inf")), run["batches"][batch])

    report = {"parameters_M": params / 1e6, "gflop_per_channel": gflop, "threads": args.threads,
              "rounds": args.rounds, "iterations": args.iterations,
              "torch_seconds_per_channel": torch_times}
    for label, unset in [("edge (OPENBLAS_CORETYPE/L2 unset)", True), ("as set here", False)]:
        swift = swift_runs[unset]
        rows = {}
        for batch in batches:
            s = swift["batches"][batch]
            rows[batch] = {
                "swift_seconds_per_channel": round(s, 4),
                "torch_seconds_per_channel": round(torch_times[batch], 4),
                "ratio_torch_over_swift": round(torch_times[batch] / s, 2),
                "swift_gflops": round(gflop / s, 1),
                "fraction_of_sgemm_peak": round(gflop / s / swift["sgemm_gflops"], 3),
                "swift_memory": swift["memory"][batch],
            }
        report[label] = {"sgemm_peak_gflops": round(swift["sgemm_gflops"], 1), "per_batch": rows}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    sys.exit(main())
