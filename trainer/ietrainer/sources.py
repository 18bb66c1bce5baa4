"""Where a batch's images come from: decoded once into memory, or read from disk per batch.

Index space as in :class:`~ietrainer.data.BatchPlan`: the target images first, then the pool.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from PIL import Image

from .data import decode_all, describe_failure
from .decode import decode_file


def _split_of(index: int, n_target: int) -> str:
    return "target" if index < n_target else "candidates/replay"


def load_tensors(
    paths: Sequence[str], split: str, max_side: int, threads: int
) -> list[torch.Tensor]:
    """Decode every image into memory as uint8 tensors, the longer side at most ``max_side``."""
    return decode_all(paths, split, threads, lambda path: decode_file(path, max_side))


class InMemoryImages:
    """Pre-decoded images by index (small presets): only those the run's batches use."""

    def __init__(self, images: dict[int, torch.Tensor]) -> None:
        self.images = images
        self.max_bytes = max(int(im.numel()) for im in images.values())

    def __call__(self, index: int) -> torch.Tensor:
        return self.images[index]


class LazyImages:
    """Decode from disk on demand (large presets, inside DataLoader workers)."""

    def __init__(self, target: list[str], pool: list[str], max_side: int) -> None:
        self.paths = target + pool
        self.n_target = len(target)
        self.max_side = max_side

    def path(self, index: int) -> str:
        return self.paths[index]

    def __call__(self, index: int) -> torch.Tensor:
        path = self.paths[index]
        try:
            return decode_file(path, self.max_side)
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            raise describe_failure(path, _split_of(index, self.n_target), exc) from None

    def read_bytes(self, index: int) -> bytes:
        path = self.paths[index]
        try:
            with open(path, "rb") as fh:
                return fh.read()
        except OSError as exc:
            raise describe_failure(path, _split_of(index, self.n_target), exc) from None

    def undecodable(self, index: int) -> Exception:
        path = self.paths[index]
        return describe_failure(path, _split_of(index, self.n_target), "not a decodable image")
