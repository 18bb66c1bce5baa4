"""An image encoder of a trainer preset's architecture, exported to ONNX as training exports it.

Run from the repository root: /usr/bin/python3 bench/export_encoder.py --out DIR/encoder.onnx
    [--preset gpu-r50] [--image-size 64]

Random weights (scoring speed does not depend on them). --image-size overrides the preset's input
side, so the gpu-r50 shape (ResNet-50, 2048-d output) can score tens of thousands of images on a
CPU in minutes rather than hours; the sidecar records the size, and the score stage resizes to it.
Prints {"onnx", "dim", "imageSize", "exporter"} as one JSON line.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "trainer"))

import torch  # noqa: E402

from ietrainer.config import PRESETS, preset  # noqa: E402
from ietrainer.export import export_onnx  # noqa: E402
from ietrainer.moco import MoCoV3  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench/export_encoder.py", description=__doc__)
    p.add_argument("--out", required=True)
    p.add_argument("--preset", choices=PRESETS, default="gpu-r50")
    p.add_argument("--image-size", type=int, default=None)
    args = p.parse_args(argv)
    torch.manual_seed(0)
    cfg = preset(args.preset)
    if args.image_size:
        cfg = dataclasses.replace(cfg, image_size=args.image_size)
    model = MoCoV3(cfg).eval()
    with contextlib.redirect_stdout(sys.stderr):
        exporter = export_onnx(model.backbone, cfg, model.feature_dim, args.out)
    print(
        json.dumps(
            {
                "onnx": args.out,
                "dim": model.feature_dim,
                "imageSize": cfg.image_size,
                "exporter": exporter,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
