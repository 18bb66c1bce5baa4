"""Synthetic photo-like JPEGs, for benchmarks and checks on machines without the datasets folder.

Sizes and encoding follow what the download stage stores (longer side 256 px by default, JPEG
quality 90, the usual aspect ratios); the content (smooth gradients, overlapping shapes, sensor-like
noise) gives the decoder and the augmentations realistic work, not flat colour.
"""

from __future__ import annotations

import os

import numpy as np
from PIL import Image, ImageDraw

ASPECTS = (1.0, 4 / 3, 3 / 4, 3 / 2, 2 / 3, 16 / 9)


def synthetic_image(rng: np.random.Generator, max_side: int) -> Image.Image:
    aspect = ASPECTS[int(rng.integers(len(ASPECTS)))]
    width = max_side if aspect >= 1 else round(max_side * aspect)
    height = round(max_side / aspect) if aspect >= 1 else max_side
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = rng.uniform(0, 255, size=(2, 3)).astype(np.float32)
    t = (xx / width * rng.uniform(0.2, 1.0) + yy / height * rng.uniform(0.2, 1.0)) / 2
    pixels = base[0] + (base[1] - base[0]) * t[..., None]
    img = Image.fromarray(pixels.clip(0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(3, 9))):
        x0, x1 = sorted(rng.integers(0, width, size=2).tolist())
        y0, y1 = sorted(rng.integers(0, height, size=2).tolist())
        fill = tuple(int(c) for c in rng.integers(0, 256, size=3))
        shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
        shape((x0, y0, x1 + 4, y1 + 4), fill=fill)
    noisy = np.asarray(img, dtype=np.int16) + rng.normal(0, 6, size=(height, width, 3))
    return Image.fromarray(noisy.clip(0, 255).astype(np.uint8), "RGB")


def write_synthetic_jpegs(
    folder: str, count: int, seed: int = 0, max_side: int = 256, prefix: str = "synthetic"
) -> list[str]:
    """Write ``count`` JPEGs into ``folder``; returns their paths."""
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(count):
        path = os.path.join(folder, f"{prefix}-{i:05d}.jpg")
        synthetic_image(rng, max_side).save(path, format="JPEG", quality=90)
        paths.append(path)
    return paths
