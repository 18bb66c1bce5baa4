"""Manifest parsing, readability checks and batch composition."""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import torch
from PIL import Image

from .errors import UsageError

T = TypeVar("T")

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

    def fingerprint(self) -> str:
        """What the manifest trains on, order included: file names per split (the content store
        names files by their hash), so the same data in another folder keeps its fingerprint."""
        digest = hashlib.sha256()
        for split in SPLITS:
            digest.update(f"[{split}]\n".encode())
            for path in getattr(self, split):
                digest.update(os.path.basename(path).encode())
                digest.update(b"\n")
        return digest.hexdigest()


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
    counts = raw.get("counts")
    if counts is not None and counts != {split: len(lists[split]) for split in SPLITS}:
        raise UsageError(
            f"manifest {path} lists {', '.join(f'{len(lists[s])} {s}' for s in SPLITS)}, but its "
            f"writer wrote {counts}: it was changed after it was written"
        )
    if not lists["target"]:
        raise UsageError(
            f"manifest {path}: 'target' is empty; training needs at least one target image"
        )
    return Manifest(lists["target"], lists["candidates"], lists["replay"])


def describe_failure(path: str, split: str, exc: BaseException | str) -> UsageError:
    return UsageError(
        f"cannot read image {path!r} (listed under '{split}'): {exc}. "
        "Re-run normalisation to produce an RGB JPEG at that path, or remove it from the manifest."
    )


def decode_all(
    paths: Sequence[str], split: str, threads: int, decode: Callable[[str], T]
) -> list[T]:
    """Decode every image into memory; JPEG decoding releases the GIL, so threads help.

    A file that cannot be decoded stops the whole load with an error naming it and its split.
    """

    def load(path: str) -> T:
        try:
            return decode(path)
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            raise describe_failure(path, split, exc) from None

    if threads <= 1 or len(paths) < 64:
        return [load(p) for p in paths]
    pool = ThreadPoolExecutor(max_workers=threads)
    try:
        return list(pool.map(load, paths))
    finally:
        # Do not wait for queued decodes when an error or cancellation unwinds us.
        pool.shutdown(wait=False, cancel_futures=True)


def check_readable(paths: Sequence[str], split: str) -> list[int]:
    """Cheap header check for lazily loaded datasets, so a bad path fails before training.

    Returns each file's size in bytes (what a batch of encoded files occupies in transit).
    """
    sizes = []
    for path in paths:
        try:
            with Image.open(path) as img:
                img.size  # noqa: B018 - touching size forces header parsing
            sizes.append(os.path.getsize(path))
        except (OSError, ValueError) as exc:
            raise describe_failure(path, split, exc) from None
    return sizes


class BatchPlan:
    """Deterministic batch composition: batch ``step`` depends only on (seed, step).

    Index space: [0, n_target) are target images, [n_target, n_target + n_pool) the pool.
    Each element also carries a per-sample seed (what the PIL reference pipeline seeds each
    sample's augmentation with; the batched pipeline draws from (seed, step) itself), so a resumed
    run reproduces the exact batches and views of an uninterrupted one, even with workers.
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
