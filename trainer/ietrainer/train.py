"""MoCo v3 training for one exploration iteration.

Usage: python -m ietrainer.train --manifest M.json --out-dir DIR [--preset cpu-small] ...
Progress is reported as JSON lines on stdout (see events.py); logs go to stderr.
"""

from __future__ import annotations

import argparse
import inspect
import math
import os
import signal
import sys
import time
import traceback
from dataclasses import dataclass
from typing import Any

import torch

from . import checkpoint as ckpt
from .config import ARCH_FIELDS, PRESETS, TrainConfig, preset
from .data import BatchPlan, Manifest, read_manifest
from .errors import (
    EXIT_CANCELLED,
    EXIT_DIVERGED,
    EXIT_USAGE,
    CancelledError,
    DivergedError,
    UsageError,
)
from .events import emit, log
from .export import export_onnx
from .init_weights import load_init_checkpoint
from .lifetime import die_with_parent
from .loader import DECODE_CHOICES, PipelineInfo, TrainingBatches
from .moco import MoCoV3, lr_at, momentum_at
from .precision import AMP_CHOICES, Precision, choose, make_deterministic, make_scaler

REPORT_EVERY = 5


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m ietrainer.train", description=__doc__)
    p.add_argument("--manifest", required=True, help="JSON {target, candidates, replay} paths")
    p.add_argument("--out-dir", required=True, help="directory for checkpoints")
    p.add_argument("--preset", choices=PRESETS, default="cpu-small")
    p.add_argument("--image-size", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--steps", type=int, help="total optimisation steps of this iteration")
    p.add_argument("--checkpoint-every", type=int)
    p.add_argument("--workers", type=int, help="DataLoader worker processes")
    p.add_argument("--resume", help="checkpoint path, or 'auto' for the newest in --out-dir")
    p.add_argument("--init", help="weights-only start from a previous iteration's checkpoint")
    p.add_argument(
        "--init-checkpoint",
        help="start from weights made elsewhere (official MoCo v3, torchvision ResNet, or ours)",
    )
    p.add_argument(
        "--base-onnx",
        help="export the starting encoder here before the first step (kept if it exists)",
    )
    p.add_argument("--onnx", help="export the encoder here at the end (+ PATH.json sidecar)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument(
        "--decode", choices=DECODE_CHOICES, help="JPEG decoding on a GPU (default auto: nvJPEG)"
    )
    p.add_argument(
        "--amp-dtype", choices=AMP_CHOICES, help="GPU autocast dtype (default auto: bfloat16)"
    )
    p.add_argument(
        "--deterministic",
        action="store_true",
        help="deterministic GPU kernels: a resumed run reproduces an uninterrupted one exactly",
    )
    return p.parse_args(argv)


def resolve_device(choice: str) -> torch.device:
    if choice == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda requested but CUDA is not available")
    if choice == "auto":
        choice = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(choice)


def build_config(args: argparse.Namespace, stored: dict[str, Any] | None) -> TrainConfig:
    """Preset, then the stored architecture (resume/init), then explicit CLI overrides."""
    cfg = preset(args.preset)
    if stored is not None:
        base = TrainConfig.from_dict(stored)
        for name in (*ARCH_FIELDS, "image_size", "mean", "std"):
            if getattr(cfg, name) != getattr(base, name):
                log(f"using {name}={getattr(base, name)!r} from checkpoint")
            setattr(cfg, name, getattr(base, name))
        cfg.preset = base.preset
    overrides = {
        "image_size": args.image_size,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "steps": args.steps,
        "checkpoint_every": args.checkpoint_every,
        "workers": args.workers,
        "decode": getattr(args, "decode", None),
        "amp_dtype": getattr(args, "amp_dtype", None),
    }
    for name, value in overrides.items():
        if value is not None:
            setattr(cfg, name, value)
    if cfg.steps < 0:
        raise UsageError("--steps must be >= 0")
    if cfg.batch_size < 2:
        raise UsageError("--batch-size must be at least 2")
    if cfg.checkpoint_every < 1:
        raise UsageError("--checkpoint-every must be >= 1")
    if cfg.image_size < 8:
        raise UsageError("--image-size must be at least 8")
    if getattr(args, "deterministic", False):
        cfg.deterministic = True
    return cfg


def cpu_threads() -> int:
    """Cores this process may run on (respects CPU affinity)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def _install_sigterm() -> None:
    def handler(signum: int, frame: object) -> None:
        raise CancelledError()

    signal.signal(signal.SIGTERM, handler)


@dataclass
class Session:
    """Everything the loop needs, after resume/init has been applied."""

    cfg: TrainConfig
    device: torch.device
    manifest: Manifest
    model: MoCoV3
    optimizer: torch.optim.Optimizer
    scaler: Any
    precision: Precision
    step: int
    resumed_from: str | None
    pipeline: PipelineInfo | None = None  # how the last batches were made


def make_optimizer(model: MoCoV3, cfg: TrainConfig, device: torch.device) -> torch.optim.Optimizer:
    kwargs: dict[str, Any] = {"lr": cfg.lr, "weight_decay": cfg.weight_decay}
    # One fused kernel for the whole update on a GPU where torch has it (2.x); same state layout.
    if device.type == "cuda" and "fused" in inspect.signature(torch.optim.AdamW).parameters:
        kwargs["fused"] = True
    return torch.optim.AdamW(model.trainable_parameters(), **kwargs)


def check_same_data(
    state: dict[str, Any], path: str | None, manifest: Manifest, args: argparse.Namespace
) -> None:
    """A checkpoint resumes only the training it came from: the same manifest, in the same order."""
    stored = state.get("data")
    if stored is None or stored == manifest.fingerprint():
        return  # checkpoints written before fingerprints existed carry none
    raise UsageError(
        f"checkpoint {path} was trained on other data than {args.manifest} lists "
        f"(checkpoint: {state.get('dataCounts')}, fingerprint {str(stored)[:12]}; manifest: "
        f"{manifest.counts()}, fingerprint {manifest.fingerprint()[:12]}). An iteration's data "
        "must not change while it trains: restore the manifest it started with, or remove "
        f"{args.out_dir} to train the iteration again from its start"
    )


def resume_point(args: argparse.Namespace) -> tuple[str | None, dict[str, Any] | None]:
    """The checkpoint to resume from and its state. With ``--resume auto``, the newest one in
    --out-dir that loads: a newer one that does not (torn, corrupted) is skipped and said so."""
    if args.resume != "auto":
        return (args.resume, ckpt.load(args.resume)) if args.resume else (None, None)
    path, state, skipped = ckpt.load_newest(args.out_dir)
    for bad, why in skipped:
        log(f"checkpoint {bad} cannot be loaded ({why}); trying the previous one")
        emit("checkpointSkipped", path=bad, reason=why)
    if path is None:
        log(f"no checkpoint in {args.out_dir}; starting fresh")
    elif skipped:
        log(f"resuming from {path}, an older checkpoint than the newest")
    return path, state


def prepare(args: argparse.Namespace) -> Session:
    device = resolve_device(args.device)
    if device.type == "cpu" and "OMP_NUM_THREADS" not in os.environ:
        # Some builds default to one intra-op thread; use the cores we are allowed on.
        torch.set_num_threads(cpu_threads())

    manifest = read_manifest(args.manifest)
    os.makedirs(args.out_dir, exist_ok=True)

    if args.init and args.init_checkpoint:
        raise UsageError("--init and --init-checkpoint are exclusive: give one starting point")
    resume_path, resume_state = resume_point(args)
    if resume_state is not None:
        check_same_data(resume_state, resume_path, manifest, args)
    # The starting weights are rebuilt on resume only when the base export is still missing.
    need_base = bool(args.base_onnx) and not os.path.exists(args.base_onnx)
    starting = resume_state is None or need_base
    init_state = ckpt.load(args.init) if (starting and args.init) else None
    stored = resume_state or init_state
    cfg = build_config(args, stored["config"] if stored else None)
    cfg.amp = cfg.amp and device.type == "cuda"
    precision = choose(device, cfg.amp, cfg.amp_dtype)

    torch.manual_seed(args.seed)
    model = MoCoV3(cfg)
    if cfg.deterministic:
        make_deterministic(model, device)
    elif device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    if init_state is not None:
        model.load_state_dict(init_state["model"])
    elif starting and args.init_checkpoint:
        report = load_init_checkpoint(model, args.init_checkpoint, cfg.arch)
        log(
            f"initialised from {args.init_checkpoint} ({report.layout} layout): loaded "
            f"{report.loaded}, skipped {len(report.skipped)} tensors"
        )
        for key, reason in report.skipped:
            log(f"  skipped {key}: {reason}")
        if resume_state is None:
            emit("initialised", path=args.init_checkpoint, **report.to_event())
    if need_base:
        export_onnx(model.backbone, cfg, model.feature_dim, args.base_onnx)
        emit("base", onnx=args.base_onnx)
    if resume_state is not None:
        model.load_state_dict(resume_state["model"])
    model.to(device)
    if precision.channels_last:
        model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    optimizer = make_optimizer(model, cfg, device)
    scaler = make_scaler(precision.needs_scaler)
    step = 0
    if resume_state is not None:
        optimizer.load_state_dict(resume_state["optimizer"])
        if resume_state.get("scaler") and precision.needs_scaler:
            scaler.load_state_dict(resume_state["scaler"])
        step = int(resume_state["step"])
        ckpt.restore_rng(resume_state.get("rng", {}), device)
    elif init_state is not None:
        log(f"initialised weights from {args.init}")
    log(f"precision {precision.name}, channels_last {precision.channels_last}")
    return Session(cfg, device, manifest, model, optimizer, scaler, precision, step, resume_path)


def save_checkpoint(s: Session, args: argparse.Namespace, final: bool) -> str:
    path = ckpt.checkpoint_path(args.out_dir, s.step)
    state = {
        "model": s.model.state_dict(),
        "optimizer": s.optimizer.state_dict(),
        "scaler": s.scaler.state_dict() if s.precision.needs_scaler else None,
        "step": s.step,
        "rng": ckpt.capture_rng(s.device),
        "config": s.cfg.to_dict(),
        "seed": args.seed,
        "featureDim": s.model.feature_dim,
        # What these weights were trained on: a resume on other data is refused (check_same_data).
        "data": s.manifest.fingerprint(),
        "dataCounts": s.manifest.counts(),
    }
    ckpt.save_atomic(state, path)
    # Keep the two newest periodic checkpoints, plus the final one at the end.
    ckpt.prune(args.out_dir, keep=3 if final else 2)
    emit("checkpoint", step=s.step, path=path)
    return path


def make_batches(s: Session, args: argparse.Namespace) -> TrainingBatches:
    cfg = s.cfg
    plan = BatchPlan(
        len(s.manifest.target), len(s.manifest.pool), cfg.batch_size, args.seed,
        cfg.target_fraction,
    )  # fmt: skip
    batches = TrainingBatches(
        cfg, s.manifest, plan, s.step, s.device, args.seed, cfg.decode, cpu_threads(),
        reuse_buffers=True,
    )  # fmt: skip
    s.pipeline = batches.info
    return batches


def weights_finite(model: MoCoV3) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in model.parameters())


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train_steps(s: Session, args: argparse.Namespace, warmup: int = 0) -> tuple[int, float]:
    """Run steps until s.cfg.steps; returns (images trained on, seconds spent) after the first
    ``warmup`` steps (one-off costs: image decoding, cuDNN autotuning)."""
    cfg, device, model, optimizer = s.cfg, s.device, s.model, s.optimizer
    batches = make_batches(s, args)
    model.train()
    images_done, started = 0, None
    window_start, window_images = time.time(), 0
    first_step = s.step
    for x1, x2 in batches:
        if started is None and s.step - first_step >= warmup:
            _sync(device)
            started = window_start = time.time()
            window_images = 0
        lr = lr_at(s.step, cfg.steps, cfg.lr, cfg.warmup_steps)
        for group in optimizer.param_groups:
            group["lr"] = lr
        with s.precision.autocast(device):
            loss = model(x1, x2)
        optimizer.zero_grad(set_to_none=True)
        s.scaler.scale(loss).backward()
        s.scaler.step(optimizer)
        s.scaler.update()
        model.update_momentum(momentum_at(s.step, cfg.steps, cfg.momentum_base))
        s.step += 1
        if started is not None:
            images_done += x1.shape[0]
        window_images += x1.shape[0]
        report = s.step % REPORT_EVERY == 0 or s.step == cfg.steps
        if report or s.step % cfg.checkpoint_every == 0:
            # Reading the loss synchronises the GPU, so only when reporting or before a checkpoint
            # (a diverged model is never saved: the newest checkpoint is one to resume from).
            value = float(loss.item())
            if not math.isfinite(value):
                raise DivergedError(s.step, value, lr, cfg.lr, cfg.batch_size, weights=False)
        if report:
            now = time.time()
            rate = window_images / max(now - window_start, 1e-9)
            emit("step", step=s.step, loss=round(value, 6), lr=lr, imagesPerSec=round(rate, 2))
            window_start, window_images = now, 0
        if s.step >= cfg.steps:
            break
        if s.step % cfg.checkpoint_every == 0:
            # This step's update came after its loss: check the weights it leaves too.
            if not weights_finite(model):
                raise DivergedError(s.step, value, lr, cfg.lr, cfg.batch_size, weights=True)
            save_checkpoint(s, args, final=False)
    _sync(device)
    return images_done, (time.time() - started) if started else 0.0


def train(args: argparse.Namespace) -> int:
    s = prepare(args)
    emit(
        "start", step=s.step, steps=s.cfg.steps, device=s.device.type,
        images=s.manifest.counts(), preset=s.cfg.preset,
    )  # fmt: skip
    if s.resumed_from is not None:
        emit("resumed", step=s.step, checkpoint=s.resumed_from)
    images, seconds = train_steps(s, args) if s.step < s.cfg.steps else (0, 0.0)
    if not weights_finite(s.model):
        raise DivergedError(s.step, math.nan, s.cfg.lr, s.cfg.lr, s.cfg.batch_size, weights=True)
    final = save_checkpoint(s, args, final=True)
    onnx_path: str | None = None
    if args.onnx:
        export_onnx(s.model.backbone, s.cfg, s.model.feature_dim, args.onnx)
        onnx_path = args.onnx
    rate = round(images / seconds, 2) if images and seconds > 0 else None
    emit("done", step=s.step, checkpoint=final, onnx=onnx_path, imagesPerSec=rate)
    return 0


def divergence_message(exc: DivergedError, checkpoint: str | None) -> str:
    """What diverged and what to change: the same state and settings diverge again."""
    start = (
        f"resume from {checkpoint}, the newest checkpoint (saved before the loss diverged)"
        if checkpoint
        else "start again from the same weights"
    )
    return (
        f"training diverged: {exc.what} at step {exc.step} (learning rate "
        f"{exc.lr:.4g} at that step, base {exc.base_lr:.4g}, batch {exc.batch_size}). The same "
        f"state and settings diverge again: lower the learning rate (--lr, e.g. "
        f"{exc.base_lr / 10:.4g}) or use a smaller batch (--batch-size), and {start}"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    _install_sigterm()
    die_with_parent()
    try:
        return train(args)
    except CancelledError:
        emit("cancelled")
        log("received SIGTERM; stopped")
        return EXIT_CANCELLED
    except UsageError as exc:
        log(f"error: {exc}")
        emit("error", message=str(exc))
        return EXIT_USAGE
    except DivergedError as exc:
        message = divergence_message(exc, ckpt.latest_checkpoint(args.out_dir))
        log(f"error: {message}")
        emit(
            "error", message=message, kind="diverged", what=exc.what, step=exc.step,
            loss=str(exc.loss), lr=exc.lr, baseLr=exc.base_lr, batchSize=exc.batch_size,
            checkpoint=ckpt.latest_checkpoint(args.out_dir),
        )  # fmt: skip
        return EXIT_DIVERGED
    except Exception as exc:
        traceback.print_exc(file=sys.stderr)
        emit("error", message=f"{type(exc).__name__}: {exc}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
