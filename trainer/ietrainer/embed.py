"""Embed images with a trained encoder on the training device (a GPU where there is one).

The scorer's preprocessing (activities/score/preprocess.ts: shorter side resized to imageSize,
centre crop, (x/255 - mean) / std), the pooled backbone features the ONNX export outputs,
L2-normalised rows, written as float32 row-major [n, dim] (the layout of the scorer's
embeddings). Decoding runs in DataLoader workers; the encoder in bfloat16 with channels_last
where the GPU supports it (--float32: as ONNX Runtime computes, to mix with its embeddings).

Usage: python -m ietrainer.embed --checkpoint CKPT --images LIST --out FILE.f32
                                 [--device auto] [--batch-size 256] [--workers N] [--float32]
LIST: a text file with one image path per line, or a JSON list of paths, or a manifest (its target,
candidates and replay in that order). Prints one JSON line: {"event": "done", "count", "dim",
"imagesPerSec", "out", "device"}; exit 2 names an unreadable image.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

import torch
import torch.nn.functional as nnf
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from . import checkpoint as ckpt
from .config import TrainConfig
from .decode import pil_to_tensor
from .errors import EXIT_USAGE, UsageError
from .events import emit, log
from .handover import write_atomic
from .model import build_backbone
from .precision import choose
from .shm import free_shm_bytes, plan_workers
from .train import cpu_threads, resolve_device


def eval_transform(img: Image.Image, size: int) -> Image.Image:
    """torchvision's Resize(size) + CenterCrop(size) on an RGB image, as the scorer does."""
    width, height = img.size
    if width <= height:
        new_w, new_h = size, int(size * height / width)
    else:
        new_w, new_h = int(size * width / height), size
    if (new_w, new_h) != (width, height):
        img = img.resize((new_w, new_h), Image.BILINEAR)
    left, top = round((new_w - size) / 2), round((new_h - size) / 2)
    if (new_w, new_h) != (size, size):
        img = img.crop((left, top, left + size, top + size))
    return img


class EvalImages(Dataset):
    def __init__(self, paths: list[str], size: int) -> None:
        self.paths = paths
        self.size = size

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, str]:
        """(pixels, "") or (zeros, what went wrong): the training process names the file (an
        exception raised in a worker would reach it wrapped in the worker's traceback)."""
        path = self.paths[index]
        try:
            with Image.open(path) as img:
                rgb = img.convert("RGB")
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            blank = torch.zeros(3, self.size, self.size, dtype=torch.uint8)
            return blank, f"cannot read image {path!r}: {exc}"
        return pil_to_tensor(eval_transform(rgb, self.size)), ""


def read_image_list(path: str) -> list[str]:
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise UsageError(f"image list {path} is not readable: {exc}") from None
    base = os.path.dirname(os.path.abspath(path))
    try:
        raw: Any = json.loads(text)
    except ValueError:
        raw = [line.strip() for line in text.splitlines() if line.strip()]
    if isinstance(raw, dict):
        raw = [p for split in ("target", "candidates", "replay") for p in raw.get(split) or []]
    if not isinstance(raw, list) or not all(isinstance(p, str) and p for p in raw):
        raise UsageError(f"{path}: expected image paths (lines, a JSON list or a manifest)")
    return [p if os.path.isabs(p) else os.path.join(base, p) for p in raw]


def load_backbone(path: str) -> tuple[torch.nn.Module, TrainConfig]:
    state = ckpt.load(path)
    cfg = TrainConfig.from_dict(state["config"])
    backbone = build_backbone(cfg.arch, cfg.width, cfg.blocks)
    prefix = "backbone."
    weights = {k[len(prefix) :]: v for k, v in state["model"].items() if k.startswith(prefix)}
    backbone.load_state_dict(weights)
    return backbone.eval(), cfg


def embed(
    paths: list[str],
    backbone: torch.nn.Module,
    cfg: TrainConfig,
    device: torch.device,
    batch_size: int,
    workers: int,
    float32: bool = False,
) -> torch.Tensor:
    """[len(paths), dim] float32 on CPU, rows L2-normalised; bfloat16 autocast on a GPU unless
    ``float32`` (what ONNX Runtime computes, for embeddings compared with its own)."""
    precision = choose(device, amp=device.type == "cuda" and not float32)
    backbone = backbone.to(device)
    if precision.channels_last:
        backbone = backbone.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    plan = plan_workers(workers, 2, batch_size * 3 * cfg.image_size**2, free_shm_bytes())
    kwargs: dict[str, Any] = {}
    if plan.workers > 0:
        kwargs = {"num_workers": plan.workers, "prefetch_factor": plan.prefetch}
    loader = DataLoader(
        EvalImages(paths, cfg.image_size),
        batch_size=batch_size,
        pin_memory=device.type == "cuda",
        **kwargs,
    )
    mean = torch.tensor(cfg.mean, device=device).view(1, 3, 1, 1) * 255
    std = torch.tensor(cfg.std, device=device).view(1, 3, 1, 1) * 255
    out = []
    with torch.no_grad():
        for batch, errors in loader:
            failed = [e for e in errors if e]
            if failed:
                raise UsageError(failed[0])
            x = (batch.to(device, non_blocking=True).float() - mean) / std
            if precision.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with precision.autocast(device):
                feats = backbone(x)
            out.append(nnf.normalize(feats.float(), dim=1))  # stays on the device: no sync
    dim = int(backbone.dim)  # type: ignore[arg-type]
    return torch.cat(out).cpu() if out else torch.empty(0, dim)


def write_f32(rows: torch.Tensor, path: str) -> None:
    write_atomic(path, rows.contiguous().numpy().astype("<f4").tobytes())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ietrainer.embed", description=__doc__)
    p.add_argument("--checkpoint", required=True, help="a trainer checkpoint (ckpt-*.pt)")
    p.add_argument("--images", required=True, help="image list or manifest")
    p.add_argument("--out", required=True, help="float32 output, [n, dim] row-major")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--workers", type=int, help="decoding processes (default: cores - 1)")
    p.add_argument(
        "--float32",
        action="store_true",
        help="no bfloat16 autocast on a GPU: numbers as ONNX Runtime's, to mix with its embeddings",
    )
    args = p.parse_args(argv)
    try:
        device = resolve_device(args.device)
        if device.type == "cpu" and "OMP_NUM_THREADS" not in os.environ:
            torch.set_num_threads(cpu_threads())
        paths = read_image_list(args.images)
        backbone, cfg = load_backbone(args.checkpoint)
        workers = args.workers if args.workers is not None else max(0, cpu_threads() - 1)
        started = time.time()
        rows = embed(paths, backbone, cfg, device, args.batch_size, workers, args.float32)
        seconds = time.time() - started
        write_f32(rows, args.out)
    except UsageError as exc:
        log(f"error: {exc}")
        emit("error", message=str(exc))
        return EXIT_USAGE
    rate = round(len(paths) / seconds, 2) if seconds > 0 and paths else None
    emit(
        "done", count=len(paths), dim=int(rows.shape[1]), imagesPerSec=rate, out=args.out,
        device=device.type,
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
