"""The ``python -m training`` command line: synth | train | evaluate | export."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

OVERVIEW = """\
Train an HTDemucs (demucs 4.1.0) that splits one microphone's sound into machine parts, and
export it to the model file the acoustic-edge agent runs (`separator.model` in its config).

A new model, from recordings to the agent, is four commands:

  1. python -m training synth --out data/synth --seed 0
       (or bring your own recordings: <root>/<track>/<source>.wav, or the MIMII layout)
  2. python -m training train --train data/synth/train --valid data/synth/valid \\
         --sources fan,pump,slider,valve --out runs/mine --seed 0 \\
         --crop 2.5 --loss sdr --source-weights valve=2
       (demucs' L1 loss is the default; with impulsive sources such as valves use the SDR
        loss as here, see models/README.md for the demo model's full command)
  3. python -m training evaluate --model runs/mine/best.th --data data/synth/test --seed 2
  4. python -m training export --checkpoint runs/mine/best.th --out models/mine.safetensors

Run `python -m training <command> --help` for each command's options. docs/training.md
explains the choices (model size, segment, loss, data) and what to expect from them.
"""


def _add_seed(p):
    p.add_argument("--seed", type=int, default=0,
                   help="random seed: the same seed gives the same files / examples / weights "
                        "(default %(default)s)")


def _add_data(p):
    p.add_argument("--layout", choices=("folder", "mimii"), default="folder",
                   help="'folder': <root>/<track>/<source>.wav (+ optional background.wav); "
                        "'mimii': <root>/<snr>_<machine>/<machine>/id_XX/normal/*.wav "
                        "(default %(default)s)")
    p.add_argument("--mimii-conditions", default="normal",
                   help="MIMII layout: which condition folders to use, comma separated "
                        "(default %(default)s)")
    p.add_argument("--mimii-snr", default=None,
                   help="MIMII layout: keep only one SNR folder, e.g. 6_dB (default: all)")
    p.add_argument("--gain-db", type=float, default=5.0,
                   help="each source of a mixture gets a random gain in [-G, +G] dB around "
                        "unit RMS (default %(default)s)")
    p.add_argument("--noise-snr", type=float, nargs=2, metavar=("LOW", "HIGH"), default=None,
                   help="add the background.wav recordings to mixtures at a random SNR in "
                        "[LOW, HIGH] dB (default: no background noise)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m training", description=OVERVIEW,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="synth|train|evaluate|export")
    fmt = argparse.ArgumentDefaultsHelpFormatter

    p = sub.add_parser("synth", help="write synthetic machine recordings (fan, pump, slider, valve)",
                       description="Write synthetic mono 16-kHz recordings of the four MIMII machine "
                       "types (fan: blade-pass tone over airflow; pump: pressure pulses; slider: rail "
                       "travel bursts with start/stop; valve: intermittent clicks), several machine "
                       "IDs each, plus site background noise, as train/valid/test splits. Same "
                       "--seed, same files.")
    p.add_argument("--out", required=True, type=Path, help="folder to write (train/, valid/, test/)")
    _add_seed(p)
    p.add_argument("--layout", choices=("folder", "mimii"), default="folder",
                   help="'folder': <split>/<track>/{fan,...,background}.wav mono; 'mimii': the "
                        "MIMII tree, 8 channels, noise mixed in at 6 dB (default %(default)s)")
    p.add_argument("--machines", default="fan,pump,slider,valve",
                   help="machine types to write (default %(default)s)")
    p.add_argument("--ids", default="0,2,4,6", help="machine IDs per type (default %(default)s)")
    p.add_argument("--duration", type=float, default=10.0,
                   help="seconds per recording (default %(default)s)")
    p.add_argument("--train-tracks", type=int, default=256, help="(default %(default)s)")
    p.add_argument("--valid-tracks", type=int, default=16, help="(default %(default)s)")
    p.add_argument("--test-tracks", type=int, default=32, help="(default %(default)s)")

    p = sub.add_parser("train", formatter_class=fmt,
                       help="train an HTDemucs on mixtures made on the fly",
                       description="Train demucs' HTDemucs (mono) to split mixtures of the given "
                       "sources. Mixtures are made on the fly from the recordings (random crops, "
                       "gains and, optionally, background noise). Shows a progress bar with the "
                       "loss and the validation SI-SDR; writes OUT/checkpoint.th (resume with "
                       "--resume), OUT/best.th and OUT/log.jsonl. Ctrl-C saves and stops.")
    p.add_argument("--train", required=True, type=Path, help="training data folder")
    p.add_argument("--valid", required=True, type=Path, help="validation data folder")
    p.add_argument("--sources", default="fan,pump,slider,valve",
                   help="source names, in the model's output order")
    p.add_argument("--out", required=True, type=Path, help="run folder")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    _add_seed(p)
    _add_data(p)
    p.add_argument("--sample-rate", type=int, default=16000, help="Hz, recordings must match")
    p.add_argument("--segment", type=float, default=10.0,
                   help="seconds per training example = the model's segment; the agent runs "
                        "one forward pass per segment of this length, so match its segment")
    p.add_argument("--crop", type=float, default=None,
                   help="seconds per training example if shorter than --segment (default: the "
                        "segment). Shorter crops give more, more varied steps for the same CPU; "
                        "validation still runs whole segments, so it shows whether the model "
                        "carries over to the segment length. Can change on --resume.")
    p.add_argument("--preset", default="small", choices=("tiny", "small", "large"),
                   help="model size: tiny (tests), small (the shipped demo model), large")
    for name in ("channels", "depth", "nfft", "t-layers", "t-heads"):
        p.add_argument(f"--{name}", type=int, default=None,
                       help=f"override the preset's HTDemucs {name.replace('-', '_')}")
    p.add_argument("--steps", type=int, default=2000, help="optimizer steps in total")
    p.add_argument("--batch-size", type=int, default=4, help="examples per step")
    p.add_argument("--lr", type=float, default=1e-3,
                   help="Adam learning rate (linear warm-up, then cosine decay to 5%%)")
    p.add_argument("--warmup", type=int, default=50, help="warm-up steps")
    p.add_argument("--clip-grad", type=float, default=5.0, help="gradient norm clip (0 = off)")
    p.add_argument("--loss", choices=("l1", "l1norm", "sdr"), default="l1",
                   help="waveform loss: l1 (demucs'), l1norm (L1 / mean |source|: sparse sources "
                        "such as valve clicks count as much as dense ones), sdr (negative "
                        "thresholded SDR)")
    p.add_argument("--source-weights", default=None,
                   help="per-source loss weights, e.g. valve=3 (others 1)")
    p.add_argument("--valid-examples", type=int, default=16, help="validation mixtures")
    p.add_argument("--valid-every", type=int, default=100, help="validate + checkpoint every N steps")
    p.add_argument("--time-limit", type=float, default=None,
                   help="minutes; save and stop after this long (resume later)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda")
    p.add_argument("--bar-interval", type=float, default=1.0,
                   help="seconds between progress bar refreshes (raise it when logging to a file)")

    p = sub.add_parser("evaluate", formatter_class=fmt,
                       help="SI-SDR / SI-SDRi table on held-out mixtures",
                       description="Separate held-out mixtures the way the agent does (demucs "
                       "apply_model: one pass per segment, overlap 0.25 beyond) and print, per "
                       "source, the SI-SDR of the unprocessed mixture (baseline), of the model and "
                       "of an oracle ideal ratio mask (ceiling), and the improvements (SI-SDRi).")
    p.add_argument("--model", required=True, type=Path,
                   help="a .safetensors export or a .th checkpoint of `train`")
    p.add_argument("--data", required=True, type=Path, help="held-out data folder")
    p.add_argument("--examples", type=int, default=64, help="number of test mixtures")
    p.add_argument("--seconds", type=float, default=None,
                   help="mixture length in seconds (default: the model's segment)")
    _add_seed(p)
    _add_data(p)
    p.add_argument("--json", type=Path, default=None, help="also write the figures as JSON")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")

    p = sub.add_parser("export", formatter_class=fmt,
                       help="write the model file the agent runs (demucs safetensors)",
                       description="Write a checkpoint as demucs' single-model safetensors file "
                       "(what demucs.hf.load_safetensors_model reads and the agent runs): the "
                       "state_dict tensors, and klass/args/kwargs in the metadata. Loads the file "
                       "back with demucs and checks it separates like the checkpoint.")
    p.add_argument("--checkpoint", required=True, type=Path, help="best.th or checkpoint.th")
    p.add_argument("--out", required=True, type=Path, help="the .safetensors file to write")
    p.add_argument("--dtype", choices=("float32", "float16"), default="float32",
                   help="tensor precision in the file (float16 halves it)")
    p.add_argument("--segment", type=float, default=None,
                   help="seconds: the segment written in the file (default: the one the model "
                        "was declared with, --segment of train). A model trained on short --crop "
                        "examples can be exported with segment = crop: the agent then splits its "
                        "10-s segments into overlapping pieces of that length, as demucs' "
                        "apply_model does (overlap 0.25)")
    _add_seed(p)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    from .data import DataError
    from .train import TrainError
    try:
        if args.command == "synth":
            from .synth import write_dataset
            machines = [m.strip() for m in args.machines.split(",") if m.strip()]
            ids = [int(i) for i in args.ids.split(",")]
            info = write_dataset(args.out, args.seed, machines, ids,
                                 (("train", args.train_tracks), ("valid", args.valid_tracks),
                                  ("test", args.test_tracks)), args.duration, args.layout)
            print(f"wrote {sum(info['splits'].values())} tracks to {args.out} "
                  f"({', '.join(f'{k} {v}' for k, v in info['splits'].items())})")
        elif args.command == "train":
            from .train import run
            best = run(args)
            print(f"best weights: {best}")
        elif args.command == "evaluate":
            from .evaluate import run as evaluate
            evaluate(args)
        elif args.command == "export":
            from .export import run as export
            export(args)
    except (DataError, TrainError, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0
