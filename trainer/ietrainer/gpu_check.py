"""The GPU figures of the trainer in one short run (scripts/gpu-check.sh wraps it).

Needs only this repository and an interpreter with torch, torchvision, numpy, Pillow and onnx:
it makes its own photo-like JPEGs. Prints one JSON object on stdout (logs go to stderr):

* env: versions, the GPU, bfloat16 and nvJPEG support, cores, free /dev/shm;
* bench: ietrainer.bench at gpu-r50, 224 px, batch 256 (data alone, compute alone, training loop,
  augmentation cost), with JPEG decoding on the GPU where torchvision can, then on CPU workers;
* onnx: both presets exported with this torch (torch.export-based where it can) and checked
  against PyTorch's output;
* resume: --deterministic training resumed from a checkpoint against an uninterrupted run;
* embed: images/s of ietrainer.embed at the gpu-r50 shape over ~25,000 images (an iteration's
  new images at paper scale), the trainer-side alternative to scoring with ONNX Runtime on CPU.

Every part is timed and guarded: a failure is recorded and the next part runs; parts that would
not finish before --budget seconds are skipped. --device cpu --quick runs every part at toy sizes.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from . import bench
from .checkpoint import save_atomic
from .config import preset
from .decode import DeviceJpegDecoder
from .moco import MoCoV3
from .onnx_eval import run_onnx
from .shm import free_shm_bytes
from .synthetic import write_synthetic_jpegs

TRAINER_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Check:
    def __init__(self, budget: float) -> None:
        self.started = time.time()
        self.budget = budget
        self.result: dict[str, Any] = {}

    def left(self) -> float:
        return self.budget - (time.time() - self.started)

    def part(self, name: str, needs: float, fn: Callable[[], Any]) -> None:
        """Run ``fn`` if about ``needs`` seconds remain; record its result or its failure."""
        if self.left() < needs:
            self.result[name] = {"skipped": f"needs ~{needs:.0f}s, {self.left():.0f}s left"}
            return
        t0 = time.time()
        sys.stderr.write(f"[gpu-check] {name} ({self.left():.0f}s left)\n")
        try:
            with contextlib.redirect_stdout(sys.stderr):
                value = fn()
            self.result[name] = value
        except Exception as exc:
            traceback.print_exc(file=sys.stderr)
            self.result[name] = {"error": f"{type(exc).__name__}: {exc}"}
        seconds = round(time.time() - t0, 1)
        if isinstance(self.result[name], dict):
            self.result[name]["seconds"] = seconds


def _version(module: str) -> str | None:
    try:
        return str(importlib.import_module(module).__version__)
    except Exception:
        return None


def environment(device: torch.device) -> dict[str, Any]:
    cuda = device.type == "cuda"
    free = free_shm_bytes()
    return {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "torchvision": _version("torchvision"),
        "onnx": _version("onnx"),
        "onnxscript": _version("onnxscript"),
        "onnxruntime": _version("onnxruntime"),
        "cuda": torch.version.cuda,
        "gpu": torch.cuda.get_device_name(device) if cuda else None,
        "bf16": bool(cuda and torch.cuda.is_bf16_supported()),
        "nvjpeg": DeviceJpegDecoder.available(device),
        "cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "shmFreeMiB": None if free is None else round(free / 2**20),
    }


def run_bench(device: str, sizes: dict[str, int], decode: str, image_dir: str) -> dict[str, Any]:
    argv = ["--preset", "gpu-r50", "--device", device, "--image-dir", image_dir,
            "--batch-size", str(sizes["batch"]), "--image-size", str(sizes["image"]),
            "--steps", str(sizes["steps"]), "--warmup", str(sizes["warmup"]),
            "--decode", decode, "--augment-images", str(sizes["augment"]),
            "--augment-repeats", "3"]  # fmt: skip
    if sizes.get("workers") is not None:
        argv += ["--workers", str(sizes["workers"])]
    return bench.run(bench.parse_bench_args(argv))


def onnx_check(image_size: int | None) -> dict[str, Any]:
    from .export import export_onnx

    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="ie-onnx-") as tmp:
        for name in ("cpu-small", "gpu-r50"):
            torch.manual_seed(0)
            cfg = preset(name)
            if image_size and name == "gpu-r50":
                cfg.image_size = image_size
            model = MoCoV3(cfg)
            model.backbone.train()
            with torch.no_grad():  # BatchNorm statistics that are not the identity
                model.backbone(torch.randn(4, 3, cfg.image_size, cfg.image_size) * 1.5 + 0.3)
            model.eval()
            path = os.path.join(tmp, f"{name}.onnx")
            t0 = time.time()
            exporter = export_onnx(model.backbone, cfg, model.feature_dim, path)
            export_s = time.time() - t0
            x = torch.randn(2, 3, cfg.image_size, cfg.image_size)
            with torch.no_grad():
                expected = model.backbone(x).numpy()
            got, backend = run_onnx(path, x.numpy())
            with open(f"{path}.json", encoding="utf-8") as fh:
                sidecar = json.load(fh)
            scale = max(1.0, float(np.abs(expected).max()))
            out[name] = {
                "exporter": exporter,
                "opset": sidecar["opset"],
                "exportSeconds": round(export_s, 1),
                "checkedWith": backend,
                "maxAbsDiff": float(np.abs(got - expected).max()),
                "maxAbsOutput": float(np.abs(expected).max()),
                "ok": bool(np.abs(got - expected).max() < 1e-4 * scale),
            }
    return out


def _train(args: list[str]) -> list[dict[str, Any]]:
    env = {**os.environ, "PYTHONPATH": TRAINER_DIR}
    proc = subprocess.run(
        [sys.executable, "-m", "ietrainer.train", *args],
        capture_output=True, text=True, env=env, cwd=TRAINER_DIR, timeout=600,
    )  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"trainer exited {proc.returncode}: {proc.stderr[-2000:]}")
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


def resume_check(device: str, images: list[str], sizes: dict[str, int]) -> dict[str, Any]:
    """Losses after a resume from step 4 against the uninterrupted run, deterministic mode."""
    with tempfile.TemporaryDirectory(prefix="ie-resume-") as tmp:
        manifest = os.path.join(tmp, "manifest.json")
        with open(manifest, "w", encoding="utf-8") as fh:
            json.dump({"target": images[:64], "candidates": images[64:256]}, fh)
        out = os.path.join(tmp, "out")
        base = ["--manifest", manifest, "--out-dir", out, "--preset", "gpu-r50",
                "--image-size", str(sizes["image"]), "--batch-size", str(sizes["batch"]),
                "--steps", "6", "--checkpoint-every", "4", "--device", device,
                "--deterministic", "--workers", "2"]  # fmt: skip
        full = _train(base)
        os.remove(os.path.join(out, "ckpt-000006.pt"))
        again = _train([*base, "--resume", "auto"])

    def losses(events: list[dict[str, Any]]) -> dict[int, float]:
        return {e["step"]: e["loss"] for e in events if e["event"] == "step" and e["step"] > 4}

    a, b = losses(full), losses(again)
    return {"uninterrupted": a, "resumed": b, "exact": bool(a) and a == b}


def embed_check(device: str, images: list[str], count: int, image_size: int) -> dict[str, Any]:
    from .embed import embed, load_backbone

    with tempfile.TemporaryDirectory(prefix="ie-embed-") as tmp:
        cfg = preset("gpu-r50")
        cfg.image_size = image_size
        model = MoCoV3(cfg)
        path = os.path.join(tmp, "ckpt.pt")
        save_atomic({"model": model.state_dict(), "config": cfg.to_dict(), "step": 0}, path)
        backbone, cfg = load_backbone(path)
    paths = (images * (count // len(images) + 1))[:count]
    dev = torch.device(device)
    workers = max(0, (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 2) - 1)
    result: dict[str, Any] = {"images": count, "imageSize": image_size, "workers": workers}
    for name, float32 in (("imagesPerSec", False), ("float32ImagesPerSec", True)):
        embed(paths[: min(512, count)], backbone, cfg, dev, 256, workers, float32)  # warm-up
        t0 = time.time()
        rows = embed(paths, backbone, cfg, dev, 256, workers, float32)
        result[name] = round(count / (time.time() - t0), 1)
        result["dim"] = int(rows.shape[1])
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ietrainer.gpu_check", description=__doc__)
    p.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    p.add_argument("--quick", action="store_true", help="toy sizes (to try the script on CPU)")
    p.add_argument("--budget", type=float, default=480.0, help="seconds for all parts")
    p.add_argument("--out", help="also write the JSON here")
    args = p.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.stderr.write("CUDA is not available; use --device cpu --quick to try the script\n")
        return 2
    quick = args.quick
    sizes = (
        {"image": 64, "batch": 8, "steps": 2, "warmup": 1, "augment": 8, "workers": 2}
        if quick
        else {"image": 224, "batch": 256, "steps": 30, "warmup": 8, "augment": 64}
    )
    check = Check(args.budget)
    device = torch.device(args.device)
    check.part("env", 0, lambda: environment(device))
    with tempfile.TemporaryDirectory(prefix="ie-gpu-check-") as tmp:
        count = 96 if quick else 2048
        t0 = time.time()
        folder = os.path.join(tmp, "images")
        images = write_synthetic_jpegs(folder, count)
        check.result["images"] = {"count": count, "seconds": round(time.time() - t0, 1)}
        check.part("bench", 60, lambda: run_bench(args.device, sizes, "auto", folder))
        if check.result.get("bench", {}).get("decode") == "device":
            fewer = {**sizes, "steps": max(2, sizes["steps"] * 2 // 3)}
            check.part("benchCpuDecode", 60, lambda: run_bench(args.device, fewer, "cpu", folder))
        check.part("onnx", 60, lambda: onnx_check(64 if quick else None))
        small = {"image": 64, "batch": 4 if quick else 32}
        check.part("resume", 60, lambda: resume_check(args.device, images, small))
        n_embed = 64 if quick else 25_000
        check.part(
            "embed", 40, lambda: embed_check(args.device, images, n_embed, 64 if quick else 224)
        )
    check.result["seconds"] = round(time.time() - check.started, 1)
    text = json.dumps(check.result, indent=2)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
