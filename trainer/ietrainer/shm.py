"""Bounding the shared memory that DataLoader workers hand batches over in (/dev/shm).

Every batch a worker has ready waits in shared memory until the training loop takes it: at most
``workers * prefetch`` batches, plus the one in use and one being pinned. Containers often mount a
small /dev/shm (Docker's default is 64 MiB), where an unbounded pipeline dies with a bus error
halfway through an iteration. The plan keeps the worst case within a share of the free space, fewer
batches in flight first, then fewer workers, and says what to change when even one worker's batch
does not fit.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from .errors import UsageError

SHM_PATH = "/dev/shm"
SHARE = 0.5  # of the free space; other processes (and a second trainer) use /dev/shm too
EXTRA_BATCHES = 2  # the batch in use and the one being pinned


@dataclass(frozen=True)
class WorkerPlan:
    workers: int
    prefetch: int
    batch_bytes: int
    free_bytes: int | None

    @property
    def peak_bytes(self) -> int:
        return (self.workers * self.prefetch + EXTRA_BATCHES) * self.batch_bytes


def free_shm_bytes(path: str = SHM_PATH) -> int | None:
    """Free bytes where shared memory lives, or None when there is no such mount (not Linux)."""
    try:
        stat = os.statvfs(path)
    except (OSError, AttributeError):
        return None
    return stat.f_bavail * stat.f_frsize


def _mib(n: float) -> str:
    return f"{n / 2**20:,.0f} MiB"


def plan_workers(
    workers: int, prefetch: int, batch_bytes: int, free_bytes: int | None
) -> WorkerPlan:
    """The most workers (up to ``workers``) and batches in flight that fit in the budget."""
    if workers <= 0 or free_bytes is None:
        return WorkerPlan(workers, prefetch, batch_bytes, free_bytes)
    budget = free_bytes * SHARE
    for n_workers in range(workers, 0, -1):
        for n_prefetch in range(prefetch, 0, -1):
            plan = WorkerPlan(n_workers, n_prefetch, batch_bytes, free_bytes)
            if plan.peak_bytes <= budget:
                return plan
    need = WorkerPlan(1, 1, batch_bytes, free_bytes).peak_bytes
    raise UsageError(
        f"shared memory in {SHM_PATH} is too small for the data loader: {_mib(free_bytes)} free, "
        f"one worker needs {_mib(need)} ({1 + EXTRA_BATCHES} batches of up to "
        f"{_mib(batch_bytes)}). Enlarge {SHM_PATH} (e.g. docker run --shm-size=2g), lower "
        "--batch-size, or pass --workers 0 to load batches in the training process"
    )


def shm_hint(exc: BaseException) -> str | None:
    """A message naming /dev/shm when ``exc`` looks like shared memory running out, else None."""
    text = str(exc)
    signs = ("shared memory", "Bus error", "No space left on device", "shm", "bus error")
    if not any(s in text for s in signs):
        return None
    free = free_shm_bytes()
    free_text = "unknown" if free is None else _mib(free)
    return (
        f"the data loader ran out of shared memory in {SHM_PATH} ({free_text} free now): {text}. "
        f"Enlarge {SHM_PATH} (e.g. docker run --shm-size=2g), or lower --workers or --batch-size"
    )
