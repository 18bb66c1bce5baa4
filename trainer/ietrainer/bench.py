"""Training throughput of a preset on this machine: the data pipeline, the compute and the loop.

Usage: python -m ietrainer.bench [--preset cpu-small] [--device cpu|cuda] [--steps 30]
                                 [--batch-size B] [--synthetic N] [--json FILE]

In one run, each after a few warm-up steps:
* data: batches made by the trainer's own pipeline (decoding, augmentation, transfer), no model;
* compute: forward/backward of both branches, optimiser and momentum update on synthetic tensors
  already on the device, with the trainer's precision and memory format;
* loop: the trainer's training loop on the real images (both of the above, overlapped where the
  pipeline allows);
* augmentMsPerImage: CPU time per image of the batched augmentation (both views, into a batch), and
  of the PIL pipeline it replaced, on the same decoded images (one thread each).

Images: 32 px Tiny ImageNet validation photos for presets up to 64 px, else the full-size ImageNet
sample photos stored like the download stage stores web images (longer side 256 px, JPEG q90); both
from the shared datasets folder ($IE_DATASETS_DIR). --synthetic N generates N photo-like JPEGs
instead (no data needed), --image-dir DIR uses the JPEGs of DIR. Writes nothing outside a temporary
folder, except --json FILE.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any

import torch
from PIL import Image
from torch.utils.data import default_collate

from .augment import TwoViewAugment
from .augment_params import moco_recipes
from .config import PRESETS, TrainConfig
from .data import BatchPlan
from .decode import decode_file, fitted_size
from .errors import UsageError
from .legacy_augment import InMemoryImages, TwoViewDataset, build_augmentation, load_images
from .moco import momentum_at
from .synthetic import write_synthetic_jpegs
from .train import Session, make_batches, parse_args, prepare, train_steps

DEFAULT_DATASETS = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "datasets")
STORED_SIDE = 256  # the download stage's default maxSide


def _datasets_root() -> str:
    return os.environ.get("IE_DATASETS_DIR", DEFAULT_DATASETS)


def _missing(path: str) -> UsageError:
    return UsageError(
        f"{path} not found; set IE_DATASETS_DIR to the shared datasets folder, "
        "or pass --synthetic N"
    )


def extract_small(folder: str, count: int) -> list[str]:
    """The first ``count`` 32 px Tiny ImageNet validation JPEGs, as they are."""
    os.makedirs(folder, exist_ok=True)
    paths: list[str] = []
    archive = os.path.join(_datasets_root(), "tiny-imagenet-200-32px", "val.tar.gz")
    if not os.path.exists(archive):
        raise _missing(archive)
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar:
            if len(paths) >= count:
                break
            data = tar.extractfile(member)
            if data is None:
                continue
            path = os.path.join(folder, os.path.basename(member.name))
            with open(path, "wb") as fh:
                fh.write(data.read())
            paths.append(path)
    return paths


def extract_photos(folder: str, count: int) -> list[str]:
    """The first ``count`` full-size ImageNet sample photos, stored as web images are."""
    root = os.path.join(_datasets_root(), "imagenet-1k-samples")
    if not os.path.isdir(root):
        raise _missing(root)
    os.makedirs(folder, exist_ok=True)
    paths: list[str] = []
    for shard in sorted(n for n in os.listdir(root) if n.endswith(".tar")):
        with tarfile.open(os.path.join(root, shard)) as tar:
            for member in tar:
                if len(paths) >= count:
                    return paths
                data = tar.extractfile(member)
                if data is None:
                    continue
                with Image.open(io.BytesIO(data.read())) as img:
                    rgb = img.convert("RGB")
                height, width = fitted_size(rgb.height, rgb.width, STORED_SIDE)
                rgb = rgb.resize((width, height), Image.BILINEAR)
                path = os.path.join(folder, f"photo-{len(paths):04d}.jpg")
                rgb.save(path, format="JPEG", quality=90)
                paths.append(path)
    return paths


def gather_images(folder: str, args: argparse.Namespace, image_size: int) -> tuple[list[str], str]:
    if args.image_dir:
        names = sorted(
            n for n in os.listdir(args.image_dir) if n.lower().endswith((".jpg", ".jpeg"))
        )
        if not names:
            raise UsageError(f"no JPEG files in {args.image_dir}")
        return [os.path.join(args.image_dir, n) for n in names], args.image_dir
    if args.synthetic:
        return write_synthetic_jpegs(folder, args.synthetic), "synthetic"
    if image_size <= 64:
        return extract_small(folder, args.images), "tiny-imagenet-val-32px"
    return extract_photos(folder, args.images), "imagenet-1k-samples-256px"


@contextlib.contextmanager
def _threads(n: int) -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def augment_cost(paths: list[str], cfg: TrainConfig, count: int, repeats: int) -> dict[str, float]:
    """CPU ms per image (two views, collated into batches) of both pipelines, one thread each,
    alternating ``repeats`` times and keeping each one's least CPU (other work inflates CPU)."""
    size, n = cfg.image_size, min(count, len(paths))
    # The trainer's two PIL views as they were: (blur p, solarize p) per view.
    probs = ((1.0, 0.0), (0.1, 0.2)) if cfg.blur else ((0.0, 0.0), (0.0, 0.0))
    views = [build_augmentation(size, cfg.mean, cfg.std, b, p) for b, p in probs]
    legacy = TwoViewDataset(
        InMemoryImages(load_images(paths[:n], "bench", 2 * size, 1), []), *views
    )
    plan = BatchPlan(n, 0, n, seed=0, target_fraction=1.0)
    tensors = [decode_file(p, 2 * size) for p in paths[:n]]
    batched = TwoViewAugment(size, cfg.mean, cfg.std, moco_recipes(cfg.blur), seed=0)
    # The training process reuses its batch buffers (see loader.BatchStage); fresh memory is
    # what a DataLoader worker writes into.
    buffers = (torch.empty(n, 3, size, size), torch.empty(n, 3, size, size))
    best = dict.fromkeys(("legacy", "batched", "fresh"), float("inf"))

    runs: dict[str, Callable[[int], object]] = {
        "legacy": lambda step: default_collate([legacy[i] for i in plan.batch(step)]),
        "batched": lambda step: batched(tensors, step, buffers),
        "fresh": lambda step: batched(tensors, step),
    }
    with _threads(1):
        batched(tensors[:2], 0)  # first-call costs (allocator, kernels) out of the figures
        for step in range(repeats):
            for name, run in runs.items():
                cpu0 = time.process_time()
                run(step)
                best[name] = min(best[name], (time.process_time() - cpu0) / n * 1000)
    return {
        "augmentMsPerImage": round(best["batched"], 3),
        "augmentFreshMemoryMsPerImage": round(best["fresh"], 3),
        "legacyAugmentMsPerImage": round(best["legacy"], 3),
        "augmentSpeedup": round(best["legacy"] / best["batched"], 2),
    }


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def device_augment_ms(paths: list[str], s: Session, count: int, repeats: int) -> float:
    """Wall ms per image of the batched augmentation on the training device (GPU runs)."""
    cfg, n = s.cfg, min(count, len(paths))
    images = [decode_file(p, 2 * cfg.image_size).to(s.device) for p in paths[:n]]
    augment = TwoViewAugment(cfg.image_size, cfg.mean, cfg.std, moco_recipes(cfg.blur), seed=0)
    augment(images, 0)
    _sync(s.device)
    started = time.perf_counter()
    for step in range(repeats):
        augment(images, step)
    _sync(s.device)
    return (time.perf_counter() - started) / (n * repeats) * 1000


def data_only(s: Session, targs: argparse.Namespace, steps: int, warmup: int) -> float:
    """Images/s of the data pipeline alone (batches ready on the device, no model)."""
    batches = iter(make_batches(s, targs))
    try:
        for _ in range(warmup):
            next(batches)
        _sync(s.device)
        started = time.perf_counter()
        for _ in range(steps):
            next(batches)
        _sync(s.device)
        return steps * s.cfg.batch_size / (time.perf_counter() - started)
    finally:
        batches.close()  # type: ignore[attr-defined]


def compute_only(s: Session, steps: int, warmup: int) -> tuple[float, float]:
    """(images/s, images per CPU-second) of forward + backward + step + momentum update on
    synthetic tensors already on the device."""
    cfg, model, device = s.cfg, s.model, s.device
    shape = (cfg.batch_size, 3, cfg.image_size, cfg.image_size)
    fmt = torch.channels_last if s.precision.channels_last else torch.contiguous_format
    x1 = torch.randn(shape, device=device).contiguous(memory_format=fmt)
    x2 = torch.randn(shape, device=device).contiguous(memory_format=fmt)
    model.train()
    started = cpu0 = 0.0
    for step in range(warmup + steps):
        if step == warmup:
            _sync(device)
            started, cpu0 = time.perf_counter(), time.process_time()
        with s.precision.autocast(device):
            loss = model(x1, x2)
        s.optimizer.zero_grad(set_to_none=True)
        s.scaler.scale(loss).backward()
        s.scaler.step(s.optimizer)
        s.scaler.update()
        model.update_momentum(momentum_at(step, warmup + steps, cfg.momentum_base))
    _sync(device)
    images = cfg.batch_size * steps
    return images / (time.perf_counter() - started), images / (time.process_time() - cpu0)


def run(args: argparse.Namespace) -> dict[str, Any]:
    warmup = args.warmup if args.warmup is not None else (5 if args.device == "cuda" else 2)
    with tempfile.TemporaryDirectory(prefix="ie-bench-") as tmp:
        size_hint = args.image_size or (32 if args.preset == "cpu-small" else 224)
        photos, origin = gather_images(os.path.join(tmp, "images"), args, size_hint)
        third = max(1, len(photos) // 3)
        manifest = os.path.join(tmp, "manifest.json")
        with open(manifest, "w", encoding="utf-8") as fh:
            json.dump({"target": photos[:third], "candidates": photos[third:]}, fh)
        total = warmup + args.steps
        train_argv = ["--manifest", manifest, "--out-dir", os.path.join(tmp, "out"),
                      "--preset", args.preset, "--steps", str(total),
                      "--checkpoint-every", str(total + 1), "--device", args.device]  # fmt: skip
        for flag in ("batch_size", "image_size", "workers", "decode", "amp_dtype"):
            value = getattr(args, flag)
            if value is not None:
                train_argv += [f"--{flag.replace('_', '-')}", str(value)]
        targs = parse_args(train_argv)
        # The loop's progress events would mix with the figures: send them to stderr.
        with contextlib.redirect_stdout(sys.stderr):
            s = prepare(targs)
            cfg = s.cfg
            result: dict[str, Any] = {
                "device": s.device.type,
                "deviceName": torch.cuda.get_device_name(s.device)
                if s.device.type == "cuda"
                else "cpu",
                "preset": cfg.preset,
                "imageSize": cfg.image_size,
                "batchSize": cfg.batch_size,
                "steps": args.steps,
                "warmup": warmup,
                "images": len(photos),
                "imagesFrom": origin,
                "precision": s.precision.name,
                "channelsLast": s.precision.channels_last,
                "threads": torch.get_num_threads(),
                "torch": torch.__version__,
            }
            result.update(augment_cost(photos, cfg, args.augment_images, args.augment_repeats))
            if s.device.type == "cuda":
                result["augmentDeviceMsPerImage"] = round(
                    device_augment_ms(photos, s, cfg.batch_size, 5), 4
                )
            result["dataImagesPerSec"] = round(data_only(s, targs, args.steps, warmup), 1)
            compute, compute_cpu = compute_only(s, args.steps, warmup)
            result["computeImagesPerSec"] = round(compute, 1)
            result["computeImagesPerCpuSecond"] = round(compute_cpu, 1)
            cpu0 = time.process_time()
            images, seconds = train_steps(s, targs, warmup=warmup)
            cpu_seconds = time.process_time() - cpu0
        info = s.pipeline
        assert info is not None
    result.update(
        {
            "loopImagesPerSec": round(images / seconds, 1),
            "loopImagesPerCpuSecond": round(images / max(cpu_seconds, 1e-9), 1),
            "loopToCompute": round(images / seconds / compute, 3),
            "workers": info.workers,
            "prefetch": info.prefetch,
            "decode": info.decode,
            "payload": info.payload,
            "loadAverage": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        }
    )
    return result


def report(r: dict[str, Any]) -> str:
    lines = [
        f"preset {r['preset']}: batch {r['batchSize']}, {r['imageSize']} px, {r['steps']} "
        f"steps after {r['warmup']} warm-up, {r['threads']} threads on {r['deviceName']}, "
        f"{r['precision']}, load average {r['loadAverage']}",
        f"data pipeline alone ({r['payload']}, decoding on {r['decode']}, {r['workers']} "
        f"workers): {r['dataImagesPerSec']:.1f} images/s",
        f"compute alone (synthetic batch on the device): {r['computeImagesPerSec']:.1f} "
        f"images/s, {r['computeImagesPerCpuSecond']:.1f} images per CPU-second",
        f"training loop: {r['loopImagesPerSec']:.1f} images/s, "
        f"{r['loopImagesPerCpuSecond']:.1f} images per CPU-second "
        f"({r['loopToCompute']:.2f} of compute alone)",
        f"augmentation, CPU per image (two views, batched): {r['augmentMsPerImage']:.2f} ms; "
        f"PIL pipeline {r['legacyAugmentMsPerImage']:.2f} ms ({r['augmentSpeedup']:.1f}x)",
    ]
    if "augmentDeviceMsPerImage" in r:
        lines.append(f"augmentation on the device: {r['augmentDeviceMsPerImage']:.3f} ms per image")
    return "\n".join(lines)


def parse_bench_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m ietrainer.bench", description=__doc__)
    p.add_argument("--preset", choices=PRESETS, default="cpu-small")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="cpu")
    p.add_argument("--steps", type=int, default=30, help="measured steps of each phase")
    p.add_argument("--warmup", type=int, help="unmeasured steps first (default 2, 5 on cuda)")
    p.add_argument("--images", type=int, default=600, help="photos from the datasets folder")
    p.add_argument("--synthetic", type=int, default=0, help="generate N JPEGs instead")
    p.add_argument("--image-dir", help="or train on the JPEGs of this folder")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--image-size", type=int)
    p.add_argument("--workers", type=int)
    p.add_argument("--decode", choices=("auto", "cpu", "device"))
    p.add_argument("--amp-dtype", choices=("auto", "bfloat16", "float16"))
    p.add_argument("--augment-images", type=int, default=64)
    p.add_argument("--augment-repeats", type=int, default=5)
    p.add_argument("--json", help="also write the figures here as JSON")
    args = p.parse_args(argv)
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_bench_args(argv)
    try:
        result = run(args)
    except UsageError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    print(report(result))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(result, fh, indent=2)
            fh.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
