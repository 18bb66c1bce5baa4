from __future__ import annotations

import dataclasses
from itertools import islice

import pytest
import torch

from ietrainer.config import preset
from ietrainer.data import BatchPlan, Manifest
from ietrainer.decode import DeviceJpegDecoder, PackedBytes, PackedPixels, decode_file, fitted_size
from ietrainer.errors import UsageError
from ietrainer.loader import TrainingBatches
from ietrainer.shm import EXTRA_BATCHES, plan_workers, shm_hint

CPU = torch.device("cpu")


def batches(image_set: dict, steps: int, **overrides) -> list[tuple[torch.Tensor, torch.Tensor]]:
    options = {"force_payload": overrides.pop("force_payload", None)}
    cfg = dataclasses.replace(
        preset("cpu-small"), image_size=24, batch_size=6, blur=True, **overrides
    )
    manifest = Manifest(image_set["target"], image_set["candidates"], image_set["replay"])
    plan = BatchPlan(len(manifest.target), len(manifest.pool), 6, seed=5, target_fraction=1 / 3)
    made = TrainingBatches(cfg, manifest, plan, 3, CPU, seed=5, **options)
    return list(islice(iter(made), steps))


def assert_same(a: list, b: list) -> None:
    for (a1, a2), (b1, b2) in zip(a, b, strict=True):
        assert a1.equal(b1) and a2.equal(b2)


def test_workers_lazy_loading_and_the_gpu_path_make_the_same_views(image_set: dict) -> None:
    """Batch k's views depend only on (seed, k): with or without workers, decoded up front or per
    batch, augmented where the batch is made (CPU) or after packing and unpacking (GPU path)."""
    serial = batches(image_set, 3, workers=0, in_memory=True)
    assert serial[0][0].shape == (6, 3, 24, 24)
    assert not serial[0][0].equal(serial[0][1]) and not serial[0][0].equal(serial[1][0])
    assert_same(serial, batches(image_set, 3, workers=2, in_memory=False))
    assert_same(serial, batches(image_set, 3, workers=2, in_memory=True, force_payload="pixels"))


def test_packed_batches_round_trip() -> None:
    images = [torch.randint(0, 255, (3, h, w), dtype=torch.uint8) for h, w in ((5, 7), (9, 2))]
    packed = PackedPixels.pack(images)
    assert packed.nbytes == 3 * (35 + 18)
    for a, b in zip(images, packed.unpack(), strict=True):
        assert a.equal(b)
    blobs = PackedBytes.pack([b"abc", b"", b"defg"], [4, 5, 6])
    assert [bytes(t.numpy()) for t in blobs.unpack()] == [b"abc", b"", b"defg"]
    assert blobs.indices == [4, 5, 6]


def test_images_are_bounded_to_twice_the_training_size(image_set: dict) -> None:
    assert fitted_size(300, 200, 100) == (100, 67)
    assert fitted_size(50, 60, 100) == (50, 60)
    img = decode_file(image_set["target"][0], 24)  # a 48 x 40 JPEG
    assert tuple(img.shape) == (3, 20, 24)


def test_no_jpeg_decoding_on_a_cpu_device() -> None:
    assert not DeviceJpegDecoder.available(CPU)


def test_shared_memory_plan_shrinks_then_names_dev_shm() -> None:
    mib = 2**20
    plan = plan_workers(8, 4, 10 * mib, free_bytes=10_000 * mib)
    assert (plan.workers, plan.prefetch) == (8, 4)
    # Half of 200 MiB free holds 10 batches: one in flight per worker, plus the two in use.
    plan = plan_workers(8, 4, 10 * mib, free_bytes=200 * mib)
    assert (plan.workers, plan.prefetch) == (8, 1)
    assert plan.peak_bytes == (8 + EXTRA_BATCHES) * 10 * mib
    plan = plan_workers(8, 4, 10 * mib, free_bytes=100 * mib)
    assert (plan.workers, plan.prefetch) == (3, 1)
    with pytest.raises(UsageError, match=r"/dev/shm.*--shm-size"):
        plan_workers(8, 4, 10 * mib, free_bytes=40 * mib)
    assert plan_workers(0, 4, 10 * mib, free_bytes=1).workers == 0
    assert plan_workers(3, 4, 10 * mib, free_bytes=None).workers == 3
    hint = shm_hint(RuntimeError("DataLoader worker (pid 7) is killed by signal: Bus error."))
    assert hint is not None and "/dev/shm" in hint
    assert shm_hint(RuntimeError("CUDA out of memory")) is None
