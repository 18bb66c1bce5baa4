"""The PIL pipeline the trainer used before its augmentations became batched tensor operations.

It stays as the reference: the tests compare the statistics of its views with those of
:mod:`augment` on fixed seeds, and the benchmark measures its CPU cost per image against the
batched pipeline's. Each sample is augmented on its own, seeded by the per-sample seed of
:class:`~ietrainer.data.BatchPlan`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from PIL import Image
from torch.utils.data import Dataset
from torchvision import transforms

from .data import decode_all, describe_failure


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
    """Decode every image into memory, the shorter side at most ``max_short_side``."""
    return decode_all(paths, split, threads, lambda path: _load_small(path, max_short_side))


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
            raise describe_failure(path, split, exc) from None
