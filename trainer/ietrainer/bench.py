"""Training throughput of a preset on this machine, in images/s.

Usage: python -m ietrainer.bench [--preset cpu-small] [--steps 30] [--images 600]

Trains on real photos (the first --images of Tiny ImageNet's validation split in the shared datasets
folder, or $IE_DATASETS_DIR) through the trainer's own loop: decoding excluded, augmentation,
forward/backward of both branches, optimiser and momentum update included. Then, as the baseline in
the same run, the same number of steps of compute alone on a fixed batch (no data pipeline). Prints
both figures and their ratio; writes nothing outside a temporary folder.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tarfile
import tempfile
import time

import torch

from .config import PRESETS
from .errors import UsageError
from .moco import MoCoV3, momentum_at
from .train import parse_args, prepare, train_steps

DEFAULT_DATASETS = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "datasets")


def extract_photos(folder: str, count: int) -> list[str]:
    """Write the first ``count`` Tiny ImageNet validation JPEGs into ``folder``."""
    root = os.environ.get("IE_DATASETS_DIR", DEFAULT_DATASETS)
    archive = os.path.join(root, "tiny-imagenet-200-32px", "val.tar.gz")
    if not os.path.exists(archive):
        raise UsageError(f"{archive} not found; set IE_DATASETS_DIR to the shared datasets folder")
    paths = []
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


def compute_only(model: MoCoV3, optimizer: torch.optim.Optimizer, batch: int, size: int,
                 steps: int) -> tuple[float, float]:  # fmt: skip
    """(images/s, images per CPU-second) of forward + backward + step + momentum update on one
    fixed random batch."""
    x1, x2 = torch.randn(batch, 3, size, size), torch.randn(batch, 3, size, size)
    model.train()
    started, cpu0 = time.perf_counter(), time.process_time()
    for step in range(steps):
        loss = model(x1, x2)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        model.update_momentum(momentum_at(step, steps, 0.99))
    images = batch * steps
    return images / (time.perf_counter() - started), images / (time.process_time() - cpu0)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ietrainer.bench", description=__doc__)
    p.add_argument("--preset", choices=PRESETS, default="cpu-small")
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--images", type=int, default=600)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="cpu")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="ie-bench-") as tmp:
        photos = extract_photos(tmp, args.images)
        half = len(photos) // 3
        manifest = os.path.join(tmp, "manifest.json")
        with open(manifest, "w", encoding="utf-8") as fh:
            json.dump({"target": photos[:half], "candidates": photos[half:]}, fh)
        out = os.path.join(tmp, "out")
        train_argv = ["--manifest", manifest, "--out-dir", out, "--preset", args.preset,
                      "--steps", str(args.steps), "--checkpoint-every", str(args.steps + 1),
                      "--device", args.device]  # fmt: skip
        if args.batch_size:
            train_argv += ["--batch-size", str(args.batch_size)]
        targs = parse_args(train_argv)
        # The loop's progress events would mix with the figures: send them to stderr.
        with contextlib.redirect_stdout(sys.stderr):
            session = prepare(targs)
            cpu0 = time.process_time()
            images, seconds = train_steps(session, targs)
            cpu_seconds = time.process_time() - cpu0
        cfg = session.cfg
        base: tuple[float, float] | None = None
        if session.device.type != "cpu":
            sys.stdout.write("compute-only baseline runs on CPU only; skipped\n")
        else:
            base = compute_only(session.model, session.optimizer, cfg.batch_size, cfg.image_size,
                                args.steps)  # fmt: skip
    full, full_cpu = images / seconds, images / cpu_seconds
    threads = torch.get_num_threads()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"preset {cfg.preset}: batch {cfg.batch_size}, {cfg.image_size} px, {args.steps} steps, "
          f"{threads} threads on {session.device.type}, load average {load:.1f}")  # fmt: skip
    # Images per CPU-second hold up better than images/s when other work shares the cores.
    print(f"training loop (augmentation + both branches + update): {full:.1f} images/s, "
          f"{full_cpu:.1f} images per CPU-second")  # fmt: skip
    if base is not None:
        print(f"compute only (fixed batch, no data pipeline):          {base[0]:.1f} images/s, "
              f"{base[1]:.1f} images per CPU-second")  # fmt: skip
        print(f"ratio training loop / compute only (images/s):         {full / base[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
