"""Training loop: HTDemucs on mixtures made on the fly, waveform loss, Adam, checkpoints.

Everything a run needs to continue is in ``<out>/checkpoint.th`` (model constructor
arguments and weights, optimizer, step, best weights so far, the command's arguments), saved
at every validation, on SIGINT/SIGTERM and at ``--time-limit``; ``--resume`` carries on from
it with the same data order (example ``i`` of the training set is a pure function of the seed
and ``i``). ``<out>/best.th`` holds the weights with the best validation SI-SDR and
``<out>/log.jsonl`` one line per validation.
"""
from __future__ import annotations

import json
import math
import signal
import time
from pathlib import Path

import torch

from . import data as data_mod
from . import model as model_mod
from .metrics import si_sdr


class TrainError(Exception):
    """A training run that cannot start or continue; the message says why."""


def parse_weights(text: str | None, sources) -> torch.Tensor:
    """``"valve=3,slider=1.5"`` -> per-source loss weights (1 for sources not named)."""
    weights = {s: 1.0 for s in sources}
    if text:
        for item in text.split(","):
            name, _, value = item.partition("=")
            name = name.strip()
            if name not in weights:
                raise TrainError(f"--source-weights: '{name}' is not one of the sources "
                                 f"({', '.join(sources)})")
            try:
                weights[name] = float(value)
            except ValueError:
                raise TrainError(f"--source-weights: '{item}' is not name=number") from None
    return torch.tensor([weights[s] for s in sources])


def separation_loss(estimate, reference, weights, kind: str = "l1"):
    """Waveform loss of ``estimate`` against ``reference`` ([B, S, C, T]) -> scalar.

    * ``l1``: mean absolute error per source, weighted by ``weights`` (what demucs uses);
    * ``l1norm``: each source's L1 divided by that source's mean absolute value in the example,
      so that a sparse source (valve clicks: most samples near zero) weighs as much as a
      dense one of the same energy instead of much less;
    * ``sdr``: negative thresholded SDR per source, ``-10 log10(|s|^2 / (|s - e|^2 + 1e-3 |s|^2))``
      (scale-aware, capped at 30 dB so that solved examples stop pulling).
    """
    w = weights.to(estimate.device)[None, :]
    err = estimate - reference
    if kind == "l1":
        per = err.abs().mean(dim=(2, 3))
    elif kind == "l1norm":
        per = err.abs().mean(dim=(2, 3)) / (reference.abs().mean(dim=(2, 3)) + 1e-6)
    elif kind == "sdr":
        sig = (reference ** 2).sum(dim=(2, 3))
        noise = (err ** 2).sum(dim=(2, 3))
        per = -10 * torch.log10((sig + 1e-8) / (noise + 1e-3 * sig + 1e-8))
    else:
        raise TrainError(f"unknown loss '{kind}' (expected l1, l1norm or sdr)")
    return (per * w).sum(dim=1).mean() / w.sum()


@torch.no_grad()
def validate(model, dataset, batch_size: int, device, segment) -> torch.Tensor:
    """Mean SI-SDR (dB) per source of ``model`` over ``dataset`` -> [S], one forward pass
    per example of ``segment`` seconds (the model's declared segment)."""
    # HTDemucs sets `segment` to the length of the last training batch, and in eval mode it
    # cannot run an input longer than `segment` in one pass (it reshapes to that length);
    # use the declared segment for validation and give the training value back after.
    trained_segment = model.segment
    model.segment = segment
    model.eval()
    scores = []
    for start in range(0, len(dataset), batch_size):
        items = [dataset[i] for i in range(start, min(len(dataset), start + batch_size))]
        mix = torch.stack([m for m, _ in items]).to(device)
        ref = torch.stack([s for _, s in items]).to(device)
        est = model(mix)
        scores.append(si_sdr(est[:, :, 0], ref[:, :, 0]).cpu())
    model.segment = trained_segment
    model.train()
    return torch.cat(scores).mean(dim=0)


def _lr_at(step: int, total: int, lr: float, warmup: int) -> float:
    """Linear warm-up, then cosine decay to 5% of ``lr`` at ``total`` steps."""
    if step < warmup:
        return lr * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress)))


def run(args) -> Path:
    """Train as the ``train`` command's ``args`` say; returns the path of ``best.th``."""
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available()
                          else ("cpu" if args.device == "auto" else args.device))
    out = Path(args.out)
    ckpt_path = out / "checkpoint.th"
    state = None
    if ckpt_path.exists():
        if not args.resume:
            raise TrainError(f"{ckpt_path} exists: pass --resume to continue that run, "
                             "or choose another --out")
        state = torch.load(ckpt_path, map_location="cpu", weights_only=False)
    elif args.resume:
        raise TrainError(f"--resume: no checkpoint at {ckpt_path}")

    sources = [s.strip() for s in args.sources.split(",") if s.strip()]
    if state is not None:
        kwargs = state["kwargs"]
        if list(kwargs["sources"]) != sources:
            raise TrainError(f"--resume: the checkpoint's sources are {','.join(kwargs['sources'])}, "
                             f"not {','.join(sources)}")
    else:
        kwargs = model_mod.model_kwargs(
            sources, args.segment, args.sample_rate, args.preset, channels=args.channels,
            depth=args.depth, nfft=args.nfft, t_layers=args.t_layers, t_heads=args.t_heads)
    try:
        model = model_mod.build(kwargs)
    except Exception as error:
        reason = str(error) or type(error).__name__
        raise TrainError(f"HTDemucs refused the configuration {kwargs}: {reason} (see the "
                         "size rules in training/model.py)") from None
    if state is not None:
        model.load_state_dict(state["model"])
    model.to(device)
    segment = int(round(float(kwargs["segment"]) * kwargs["samplerate"]))
    crop = int(round(args.crop * kwargs["samplerate"])) if args.crop else segment

    mimii = {}
    if args.layout == "mimii":
        mimii = dict(conditions=tuple(args.mimii_conditions.split(",")), snr=args.mimii_snr)
    train_pools, train_noise = data_mod.scan(args.train, sources, args.layout, kwargs["samplerate"], **mimii)
    valid_pools, valid_noise = data_mod.scan(args.valid, sources, args.layout, kwargs["samplerate"], **mimii)
    noise_snr = tuple(args.noise_snr) if args.noise_snr else None
    train_set = data_mod.MixtureDataset(train_pools, train_noise, sources, crop, 1 << 40,
                                        seed=args.seed, gain_db=args.gain_db, noise_snr=noise_snr)
    valid_set = data_mod.MixtureDataset(valid_pools, valid_noise, sources, segment,
                                        args.valid_examples, seed=args.seed + 1,
                                        gain_db=args.gain_db, noise_snr=noise_snr)
    weights = parse_weights(args.source_weights, sources)
    out.mkdir(parents=True, exist_ok=True)  # only once the model and the data are known good

    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    step, best, history = 0, {"sisdr": -math.inf, "step": 0}, []
    if state is not None:
        optimizer.load_state_dict(state["optimizer"])
        step, best, history = state["step"], state["best"], state["history"]

    stop = {"why": None}

    def on_signal(signum, _frame):
        stop["why"] = signal.Signals(signum).name

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}

    def save():
        payload = {"kwargs": kwargs, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                   "step": step, "best": best, "history": history, "args": vars(args)}
        tmp = ckpt_path.with_suffix(".th.part")
        torch.save(payload, tmp)
        tmp.replace(ckpt_path)

    from tqdm import tqdm
    n_params = model_mod.parameter_count(model)
    print(f"HTDemucs {n_params / 1e6:.2f} M parameters, sources {','.join(sources)}, "
          f"segment {segment} samples ({float(kwargs['segment']):g} s), training crops "
          f"{crop} samples, device {device}; "
          f"{sum(len(v) for v in train_pools.values())} training recordings", flush=True)
    started = time.monotonic()
    bar = tqdm(total=args.steps, initial=step, desc="train", dynamic_ncols=True,
               mininterval=args.bar_interval)
    running = None
    last_val = history[-1]["sisdr_mean"] if history else float("nan")
    model.train()
    try:
        while step < args.steps:
            for group in optimizer.param_groups:
                group["lr"] = _lr_at(step, args.steps, args.lr, args.warmup)
            items = [train_set[step * args.batch_size + b] for b in range(args.batch_size)]
            mix = torch.stack([m for m, _ in items]).to(device)
            ref = torch.stack([s for _, s in items]).to(device)
            est = model(mix)
            loss = separation_loss(est, ref, weights, args.loss)
            optimizer.zero_grad()
            loss.backward()
            if args.clip_grad > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip_grad)
            optimizer.step()
            step += 1
            running = loss.item() if running is None else 0.98 * running + 0.02 * loss.item()
            bar.update(1)
            bar.set_postfix(loss=f"{running:.4f}", val_sisdr=f"{last_val:.2f}dB", refresh=False)
            out_of_time = args.time_limit and (time.monotonic() - started) / 60 >= args.time_limit
            if step % args.valid_every == 0 or step == args.steps or out_of_time or stop["why"]:
                scores = validate(model, valid_set, args.batch_size, device, kwargs["segment"])
                last_val = float(scores.mean())
                entry = {"step": step, "loss": running, "sisdr_mean": last_val,
                         "minutes": (time.monotonic() - started) / 60,
                         **{f"sisdr_{s}": float(v) for s, v in zip(sources, scores)}}
                history.append(entry)
                with open(out / "log.jsonl", "a") as log:
                    log.write(json.dumps(entry) + "\n")
                bar.write(f"step {step}: loss {running:.4f}, validation SI-SDR {last_val:.2f} dB ("
                          + ", ".join(f"{s} {float(v):.2f}" for s, v in zip(sources, scores)) + ")")
                if last_val > best["sisdr"]:
                    best = {"sisdr": last_val, "step": step,
                            "per_source": {s: float(v) for s, v in zip(sources, scores)}}
                    tmp = out / "best.th.part"
                    torch.save({"kwargs": kwargs, "model": model.state_dict(), "best": best,
                                "args": vars(args)}, tmp)
                    tmp.replace(out / "best.th")
                save()
            if out_of_time or stop["why"]:
                bar.write(f"stopping at step {step} ({stop['why'] or 'time limit'}); "
                          f"continue with --resume")
                break
    finally:
        bar.close()
        for s, handler in previous.items():
            signal.signal(s, handler)
    if not (out / "best.th").exists():
        raise TrainError("no validation was run (increase --steps or lower --valid-every)")
    return out / "best.th"


def load_checkpoint(path: Path):
    """(model, kwargs, info) from a ``best.th`` / ``checkpoint.th`` written by ``train``."""
    path = Path(path)
    if not path.exists():
        raise TrainError(f"{path}: no such checkpoint")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=False)
        kwargs = payload["kwargs"]
        model = model_mod.build(kwargs)
        model.load_state_dict(payload["model"])
    except TrainError:
        raise
    except Exception as error:
        raise TrainError(f"{path}: not a checkpoint of this toolkit ({error})") from None
    # the library sets `segment` to the length of the last training batch; keep the declared one
    model.segment = kwargs["segment"]
    model.eval()
    return model, kwargs, payload.get("best", {})

