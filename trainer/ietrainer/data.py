"""Manifest parsing, image loading, batch composition and the two-view augmentation."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import torch
from PIL import Image
from torch.utils.data import Dataset
from torchvision import transforms

from .errors import UsageError

SPLITS = ("target", "candidates", "replay")


@dataclass
class Manifest:
    target: list[str]
    candidates: list[str]
    replay: list[str]

    def counts(self) -> dict[str, int]:
        return {s: len(getattr(self, s)) for s in SPLITS}

    @property
    def pool(self) -> list[str]:
        """Non-target images: this iteration's candidates plus the replay buffer."""
        return self.candidates + self.replay


def read_manifest(path: str) -> Manifest:
    """Parse and validate the manifest; relative paths resolve against its directory."""
    try:
        with open(path, encoding="utf-8") as fh:
            raw = json.load(fh)
    except FileNotFoundError:
        raise UsageError(f"manifest not found: {path}") from None
    except (OSError, ValueError) as exc:
        raise UsageError(f"manifest {path} is not readable JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise UsageError(
            f"manifest {path} must be a JSON object with 'target', 'candidates', 'replay'"
        )
    base = os.path.dirname(os.path.abspath(path))
    lists: dict[str, list[str]] = {}
    for split in SPLITS:
        value = raw.get(split, [])
        if value is None:
            value = []
        if not isinstance(value, list) or not all(isinstance(p, str) and p for p in value):
            raise UsageError(f"manifest {path}: '{split}' must be a list of image paths")
        lists[split] = [p if os.path.isabs(p) else os.path.join(base, p) for p in value]
    if not lists["target"]:
        raise UsageError(
            f"manifest {path}: 'target' is empty; training needs at least one target image"
        )
    return Manifest(lists["target"], lists["candidates"], lists["replay"])


def _describe_failure(path: str, split: str, exc: BaseException) -> UsageError:
    return UsageError(
        f"cannot read image {path!r} (listed under '{split}'): {exc}. "
        "Re-run normalisation to produce an RGB JPEG at that path, or remove it from the manifest."
    )


def open_rgb(path: str, min_side: int) -> Image.Image:
    """Decode a JPEG to RGB, letting libjpeg downscale by a power of two when it is much larger."""
    with Image.open(path) as img:
        img.draft("RGB", (min_side, min_side))
        return img.convert("RGB")


def _load_small(path: str, max_short_side: int) -> Image.Image:
    img = open_rgb(path, max_short_side)
    short = min(img.size)
    if short > max_short_side:
        # Keeping ~2x the training size leaves RandomResizedCrop enough pixels while
        # bounding memory for tens of thousands of candidates.
        scale = max_short_side / short
        size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
        img = img.resize(size, Image.BILINEAR)
    return img


def load_images(
    paths: Sequence[str], split: str, max_short_side: int, threads: int
) -> list[Image.Image]:
    """Decode every image into memory; JPEG decoding releases the GIL, so threads help."""

    def load(path: str) -> Image.Image:
        try:
            return _load_small(path, max_short_side)
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            raise _describe_failure(path, split, exc) from None

    if threads <= 1 or len(paths) < 64:
        return [load(p) for p in paths]
    pool = ThreadPoolExecutor(max_workers=threads)
    try:
        return list(pool.map(load, paths))
    finally:
        # Do not wait for queued decodes when an error or cancellation unwinds us.
        pool.shutdown(wait=False, cancel_futures=True)


def check_readable(paths: Sequence[str], split: str) -> None:
    """Cheap header check for lazily loaded datasets, so a bad path fails before training."""
    for path in paths:
        try:
            with Image.open(path) as img:
                img.size  # noqa: B018 - touching size forces header parsing
        except (OSError, ValueError) as exc:
            raise _describe_failure(path, split, exc) from None


class BatchPlan:
    """Deterministic batch composition: batch ``step`` depends only on (seed, step).

    Index space: [0, n_target) are target images, [n_target, n_target + n_pool) the pool.
    Each element also carries a per-sample seed for its augmentations, so a resumed run
    reproduces the exact batches and views of an uninterrupted one, even with workers.
    """

    def __init__(
        self, n_target: int, n_pool: int, batch_size: int, seed: int, target_fraction: float
    ) -> None:
        if n_target <= 0:
            raise ValueError("BatchPlan needs at least one target image")
        if batch_size < 2:
            raise ValueError("batch size must be at least 2 for a contrastive loss")
        self.n_target = n_target
        self.n_pool = n_pool
        self.batch_size = batch_size
        self.seed = seed
        self.n_from_target = (
            batch_size if n_pool == 0 else min(batch_size, math.ceil(batch_size * target_fraction))
        )

    def _generator(self, step: int) -> torch.Generator:
        gen = torch.Generator()
        # Large odd multiplier keeps (seed, step) pairs from colliding for realistic ranges.
        gen.manual_seed((self.seed * 1_000_003 + step) % (2**63 - 1))
        return gen

    @staticmethod
    def _draw(n: int, k: int, gen: torch.Generator) -> torch.Tensor:
        # Without replacement when possible: duplicates in a batch are trivial positives' twins.
        if k <= n:
            return torch.randperm(n, generator=gen)[:k]
        return torch.randint(0, n, (k,), generator=gen)

    def batch(self, step: int) -> list[tuple[int, int]]:
        gen = self._generator(step)
        idx = self._draw(self.n_target, self.n_from_target, gen)
        n_rest = self.batch_size - self.n_from_target
        if n_rest > 0:
            idx = torch.cat([idx, self._draw(self.n_pool, n_rest, gen) + self.n_target])
        seeds = torch.randint(0, 2**31 - 1, (self.batch_size,), generator=gen)
        return list(zip(idx.tolist(), seeds.tolist(), strict=True))

    def iterate(self, start_step: int) -> Iterator[list[tuple[int, int]]]:
        """Batches for steps start_step, start_step + 1, ... (endless)."""
        step = start_step
        while True:
            yield self.batch(step)
            step += 1


def build_augmentation(
    size: int,
    mean: Sequence[float],
    std: Sequence[float],
    blur_p: float,
    solarize_p: float,
) -> Callable[[Image.Image], torch.Tensor]:
    ops: list[Callable] = [
        transforms.RandomResizedCrop(size, scale=(0.2, 1.0)),
        transforms.RandomApply([transforms.ColorJitter(0.4, 0.4, 0.2, 0.1)], p=0.8),
        transforms.RandomGrayscale(p=0.2),
    ]
    if blur_p > 0:
        kernel = max(3, (size // 10) | 1)  # ~10% of the image, odd, as in SimCLR/MoCo
        ops.append(transforms.RandomApply([transforms.GaussianBlur(kernel, (0.1, 2.0))], p=blur_p))
    if solarize_p > 0:
        ops.append(transforms.RandomSolarize(128, p=solarize_p))
    ops += [
        transforms.RandomHorizontalFlip(),
        transforms.ToTensor(),
        transforms.Normalize(list(mean), list(std)),
    ]
    return transforms.Compose(ops)


class TwoViewDataset(Dataset):
    """Returns two augmented views of an image, seeded per sample for reproducibility.

    Items are ``(index, seed)`` pairs produced by :class:`BatchPlan`.
    """

    def __init__(
        self,
        get_image: Callable[[int], Image.Image],
        view1: Callable[[Image.Image], torch.Tensor],
        view2: Callable[[Image.Image], torch.Tensor],
    ) -> None:
        self.get_image = get_image
        self.view1 = view1
        self.view2 = view2

    def __getitem__(self, item: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        index, seed = item
        img = self.get_image(index)
        # Fork so that seeding here never disturbs the caller's global RNG stream.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return self.view1(img), self.view2(img)


class InMemoryImages:
    """Pre-decoded target + pool images (small presets)."""

    def __init__(self, target: list[Image.Image], pool: list[Image.Image]) -> None:
        self.images = target + pool

    def __call__(self, index: int) -> Image.Image:
        return self.images[index]


class LazyImages:
    """Decode from disk on demand (large presets, inside DataLoader workers)."""

    def __init__(self, target: list[str], pool: list[str], min_side: int) -> None:
        self.paths = target + pool
        self.n_target = len(target)
        self.min_side = min_side

    def __call__(self, index: int) -> Image.Image:
        path = self.paths[index]
        try:
            return open_rgb(path, self.min_side)
        except (OSError, ValueError) as exc:
            split = "target" if index < self.n_target else "candidates/replay"
            raise _describe_failure(path, split, exc) from None
