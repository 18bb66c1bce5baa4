"""From a manifest to training batches on the device.

What a DataLoader worker hands over for a step (``payload``):

* ``views``: both augmented views, made on CPU (CPU training: the workers, or the training process
  itself with ``--workers 0``, run the batched augmentation);
* ``pixels``: the batch's decoded uint8 images, packed; the GPU augments them;
* ``bytes``: the batch's JPEG files, packed; the GPU decodes (nvJPEG) and augments them.

On a GPU the next batch is decoded and augmented on a side stream while the current one trains.
Batches and views depend only on (seed, step), whichever path makes them.
"""

from __future__ import annotations

import itertools
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, get_worker_info

from .augment import TwoViewAugment
from .augment_params import moco_recipes
from .config import TrainConfig
from .data import BatchPlan, Manifest, check_readable
from .decode import DeviceJpegDecoder, PackedBytes, PackedPixels
from .errors import UsageError
from .events import log
from .shm import WorkerPlan, free_shm_bytes, plan_workers, shm_hint
from .sources import InMemoryImages, LazyImages, load_tensors

PREFETCH = 4
DECODE_CHOICES = ("auto", "cpu", "device")

Views = tuple[torch.Tensor, torch.Tensor]


class BatchStage(Dataset):
    """Item ``step``: (step, payload) for batch ``step`` of the plan (runs in the workers)."""

    def __init__(
        self,
        plan: BatchPlan,
        source: Any,
        payload: str,
        augment: TwoViewAugment,
        reuse_buffers: bool = False,
    ) -> None:
        self.plan = plan
        self.source = source
        self.payload = payload
        self.augment = augment
        self.reuse_buffers = reuse_buffers
        self._buffers: list[tuple[torch.Tensor, torch.Tensor]] = []

    def _views_out(self, n: int) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Two alternating pairs of view buffers, in the training process only: batch k is
        trained on before batch k + 2 overwrites it. A worker's batch goes to shared memory, so
        workers (and callers that keep batches) get fresh tensors."""
        if not self.reuse_buffers or get_worker_info() is not None:
            return None
        size = self.augment.size
        if len(self._buffers) < 2 or self._buffers[0][0].shape[0] != n:
            self._buffers = [
                (torch.empty(n, 3, size, size), torch.empty(n, 3, size, size)) for _ in range(2)
            ]
        self._buffers.reverse()
        return self._buffers[0]

    def __getitem__(self, step: int) -> tuple[int, Any]:
        indices = [index for index, _ in self.plan.batch(step)]
        if self.payload == "bytes":
            return step, PackedBytes.pack([self.source.read_bytes(i) for i in indices], indices)
        images = [self.source(i) for i in indices]
        if self.payload == "views":
            return step, self.augment(images, step, self._views_out(len(images)))
        return step, PackedPixels.pack(images)


def _worker_init(_: int) -> None:
    # Workers must not raise CancelledError; the parent shuts them down.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    torch.set_num_threads(1)


@dataclass
class PipelineInfo:
    """How batches are made, for logs and the benchmark."""

    payload: str
    decode: str
    workers: int
    prefetch: int
    batch_mib: float
    shm_free_mib: float | None

    def describe(self) -> str:
        shm = "" if self.shm_free_mib is None else f" of {self.shm_free_mib:,.0f} MiB free"
        where = {"views": "CPU", "pixels": "device", "bytes": "device"}[self.payload]
        return (
            f"data: {self.workers} workers x {self.prefetch} batches in flight, decoding on "
            f"{self.decode}, augmenting on {where}; up to {self.batch_mib:,.1f} MiB a batch in "
            f"shared memory{shm}"
        )


class TrainingBatches:
    """Endless iterator of (view1, view2) on ``device`` for steps ``start_step``, ... ."""

    def __init__(
        self,
        cfg: TrainConfig,
        manifest: Manifest,
        plan: BatchPlan,
        start_step: int,
        device: torch.device,
        seed: int,
        decode: str = "auto",
        threads: int = 1,
        force_payload: str | None = None,
        reuse_buffers: bool = False,
    ) -> None:
        """``force_payload`` ("views" or "pixels") overrides what workers hand over: tests run
        the GPU's path on CPU with it. ``reuse_buffers``: CPU views made in this process are
        written into two alternating buffers (for a consumer done with batch k before it asks
        for batch k + 2, as the training loop is)."""
        if decode not in DECODE_CHOICES:
            raise UsageError(f"--decode must be one of {', '.join(DECODE_CHOICES)}")
        self.cfg = cfg
        self.device = device
        self.start_step = start_step
        self.augment = TwoViewAugment(
            cfg.image_size, cfg.mean, cfg.std, moco_recipes(cfg.blur), seed
        )
        max_side = 2 * cfg.image_size
        on_gpu = device.type == "cuda"
        self.decoder: DeviceJpegDecoder | None = None
        if cfg.in_memory:
            # Only what the remaining steps' batches draw: memory and time bounded by steps x batch,
            # whatever the size of the replay buffer.
            used = sorted({i for step in range(start_step, max(cfg.steps, start_step + 1))
                           for i, _ in plan.batch(step)})  # fmt: skip
            n_target = len(manifest.target)
            from_target = [i for i in used if i < n_target]
            from_pool = [i for i in used if i >= n_target]
            log(f"decoding {len(used)} of {n_target + len(manifest.pool)} images into memory")
            t0 = time.time()
            decoded = load_tensors(
                [manifest.target[i] for i in from_target], "target", max_side, threads
            )
            decoded += load_tensors(
                [manifest.pool[i - n_target] for i in from_pool],
                "candidates/replay",
                max_side,
                threads,
            )
            log(f"decoded in {time.time() - t0:.1f}s")
            source: Any = InMemoryImages(dict(zip(from_target + from_pool, decoded, strict=True)))
            payload, decoded_on = ("pixels" if on_gpu else "views"), "cpu"
            largest = [source.max_bytes]
        else:
            sizes = check_readable(manifest.target, "target")
            sizes += check_readable(manifest.candidates, "candidates")
            sizes += check_readable(manifest.replay, "replay")
            source = LazyImages(manifest.target, manifest.pool, max_side)
            largest = sorted(sizes, reverse=True)[: cfg.batch_size]
            use_device = on_gpu and decode != "cpu" and DeviceJpegDecoder.available(device)
            if decode == "device" and not use_device:
                raise UsageError(f"--decode device: torchvision cannot decode JPEG on {device}")
            if use_device:
                self.decoder = DeviceJpegDecoder(device, max_side)
                payload, decoded_on = "bytes", "device"
            else:
                payload, decoded_on = ("pixels" if on_gpu else "views"), "cpu"
        if force_payload in ("views", "pixels"):
            payload = force_payload
        self.source = source
        self.payload = payload
        batch_bytes = self._batch_bytes(payload, largest)
        workers = plan_workers(cfg.workers, PREFETCH, batch_bytes, free_shm_bytes())
        if cfg.workers > 0 and workers.workers < cfg.workers:
            log(f"shared memory fits {workers.workers} of {cfg.workers} workers")
        self.info = _info(payload, decoded_on, workers)
        log(self.info.describe())
        self.loader = DataLoader(
            BatchStage(plan, source, payload, self.augment, reuse_buffers),
            batch_size=None,
            sampler=itertools.count(start_step),  # type: ignore[arg-type]
            pin_memory=on_gpu,
            **_worker_kwargs(workers),
        )

    def _batch_bytes(self, payload: str, largest: list[int]) -> int:
        n, size = self.cfg.batch_size, self.cfg.image_size
        if payload == "views":
            return 2 * n * 3 * size * size * 4
        if payload == "bytes":
            return sum(largest) + (n - len(largest)) * (largest[0] if largest else 0)
        return n * min(3 * (2 * size) ** 2, largest[0] if largest else 3 * (2 * size) ** 2)

    def __iter__(self) -> Iterator[Views]:
        raw = iter(self.loader)
        try:
            if self.device.type == "cuda":
                yield from self._overlapped(raw)
            else:
                for step, payload in raw:
                    yield self._finish(step, payload)
        except RuntimeError as exc:
            hint = shm_hint(exc) if self.info.workers > 0 else None
            if hint is None:
                raise
            raise UsageError(hint) from exc

    def _finish(self, step: int, payload: Any) -> Views:
        """Payload to views on the device, ready for the model."""
        if self.payload == "views":
            x1, x2 = payload
            x1 = x1.to(self.device, non_blocking=True)
            x2 = x2.to(self.device, non_blocking=True)
        else:
            if self.payload == "bytes":
                assert self.decoder is not None
                decoded = self.decoder(payload)
                for k, img in enumerate(decoded):
                    if img is None:
                        raise self.source.undecodable(payload.indices[k])
                images: list[torch.Tensor] = decoded  # type: ignore[assignment]
            else:
                images = payload.to(self.device).unpack()
            x1, x2 = self.augment(images, step)
        if self.device.type == "cuda":
            x1 = x1.contiguous(memory_format=torch.channels_last)
            x2 = x2.contiguous(memory_format=torch.channels_last)
        return x1, x2

    def _overlapped(self, raw: Iterator[tuple[int, Any]]) -> Iterator[Views]:
        """Make batch k + 1 on a side stream while the caller trains on batch k."""
        side = torch.cuda.Stream(device=self.device)
        main = torch.cuda.current_stream(self.device)

        def stage(item: tuple[int, Any]) -> Views:
            with torch.cuda.stream(side):
                return self._finish(*item)

        pending: Views | None = stage(next(raw))
        while pending is not None:
            item = next(raw, None)
            current = pending
            main.wait_stream(side)
            for tensor in current:
                tensor.record_stream(main)  # type: ignore[arg-type]
            pending = stage(item) if item is not None else None
            yield current


def _worker_kwargs(plan: WorkerPlan) -> dict[str, Any]:
    if plan.workers <= 0:
        return {}
    return {
        "num_workers": plan.workers,
        "worker_init_fn": _worker_init,
        "prefetch_factor": plan.prefetch,
    }


def _info(payload: str, decode: str, plan: WorkerPlan) -> PipelineInfo:
    free = None if plan.free_bytes is None else plan.free_bytes / 2**20
    return PipelineInfo(
        payload, decode, plan.workers, plan.prefetch if plan.workers else 0,
        plan.batch_bytes / 2**20, free,
    )  # fmt: skip
