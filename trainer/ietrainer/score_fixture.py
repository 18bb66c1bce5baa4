"""An encoder and images at a preset's shape, for scoring benchmarks (bench/score-gpu-shape.ts).

Usage: python -m ietrainer.score_fixture --out DIR [--preset gpu-r50] [--images 256] [--synthetic]

Writes DIR/ckpt.pt (a trainer checkpoint with random weights: speed does not depend on them),
DIR/encoder.onnx with its sidecar, and the images (the ImageNet sample photos stored as the download
stage stores web images, or photo-like synthetic JPEGs); prints {"checkpoint", "onnx", "images",
"exporter", "dim", "imageSize"} as one JSON line.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys

import torch

from .bench import extract_photos
from .checkpoint import save_atomic
from .config import PRESETS, preset
from .errors import UsageError
from .export import export_onnx
from .moco import MoCoV3
from .synthetic import write_synthetic_jpegs


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ietrainer.score_fixture", description=__doc__)
    p.add_argument("--out", required=True)
    p.add_argument("--preset", choices=PRESETS, default="gpu-r50")
    p.add_argument("--images", type=int, default=256)
    p.add_argument("--synthetic", action="store_true", help="synthetic JPEGs, not the photos")
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    torch.manual_seed(0)
    cfg = preset(args.preset)
    model = MoCoV3(cfg).eval()
    checkpoint = os.path.join(args.out, "ckpt.pt")
    save_atomic({"model": model.state_dict(), "config": cfg.to_dict(), "step": 0}, checkpoint)
    onnx_path = os.path.join(args.out, "encoder.onnx")
    folder = os.path.join(args.out, "images")
    with contextlib.redirect_stdout(sys.stderr):
        exporter = export_onnx(model.backbone, cfg, model.feature_dim, onnx_path)
        try:
            images = (
                write_synthetic_jpegs(folder, args.images)
                if args.synthetic
                else extract_photos(folder, args.images)
            )
        except UsageError as exc:
            sys.stderr.write(f"error: {exc}\n")
            return 2
    print(
        json.dumps(
            {
                "checkpoint": checkpoint,
                "onnx": onnx_path,
                "images": images,
                "exporter": exporter,
                "dim": model.feature_dim,
                "imageSize": cfg.image_size,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
