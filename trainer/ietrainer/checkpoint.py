"""Atomic checkpoint files ``ckpt-{step:06d}.pt`` with retention."""

from __future__ import annotations

import contextlib
import inspect
import os
import random
import re
from typing import Any

import numpy as np
import torch

from .errors import CheckpointUnreadableError, UsageError
from .handover import write_atomic_with

_NAME = re.compile(r"^ckpt-(\d+)\.pt$")


def checkpoint_path(out_dir: str, step: int) -> str:
    return os.path.join(out_dir, f"ckpt-{step:06d}.pt")


def list_checkpoints(out_dir: str) -> list[tuple[int, str]]:
    """(step, path) for every complete checkpoint, oldest first; temp files are ignored."""
    if not os.path.isdir(out_dir):
        return []
    found = []
    for name in os.listdir(out_dir):
        match = _NAME.match(name)
        if match:
            found.append((int(match.group(1)), os.path.join(out_dir, name)))
    return sorted(found)


def latest_checkpoint(out_dir: str) -> str | None:
    found = list_checkpoints(out_dir)
    return found[-1][1] if found else None


def save_atomic(state: dict[str, Any], path: str) -> None:
    """Write to a temp file, fsync, then rename: readers never see a partial checkpoint."""
    write_atomic_with(path, lambda fh: torch.save(state, fh))


def prune(out_dir: str, keep: int) -> list[str]:
    """Delete all but the ``keep`` newest checkpoints; returns the deleted paths."""
    found = list_checkpoints(out_dir)
    doomed = [path for _, path in found[:-keep]] if keep > 0 else [p for _, p in found]
    for path in doomed:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)
    return doomed


def load(path: str) -> dict[str, Any]:
    """Load a checkpoint this trainer wrote (under the run's folder, or ``ie pretrain``'s) on CPU.

    Full unpickling: it holds our own RNG states and config besides tensors. Files made elsewhere
    go through init_weights, which never runs code from the file.
    """
    kwargs: dict[str, Any] = {"map_location": "cpu"}
    # torch >= 2.6 defaults to weights_only=True, which rejects the RNG/config metadata.
    if "weights_only" in inspect.signature(torch.load).parameters:
        kwargs["weights_only"] = False
    try:
        state = torch.load(path, **kwargs)
    except FileNotFoundError:
        raise CheckpointUnreadableError(path, "file not found") from None
    except Exception as exc:  # corrupt or foreign file: say which and what to do
        raise CheckpointUnreadableError(path, f"{type(exc).__name__}: {exc}") from None
    if not isinstance(state, dict) or "model" not in state or "config" not in state:
        raise CheckpointUnreadableError(path, "not a trainer checkpoint (missing model/config)")
    return state


def load_newest(out_dir: str) -> tuple[str | None, dict[str, Any] | None, list[tuple[str, str]]]:
    """The newest checkpoint in ``out_dir`` that loads: (path, state, [(skipped path, why)]).

    A newer one that cannot be loaded (torn by a full disk, corrupted) is skipped for the next
    older; (None, None, []) when there is none at all. UsageError when there are checkpoints but
    none loads: what is left cannot resume, and a fresh start would silently discard them.
    """
    skipped: list[tuple[str, str]] = []
    found = list_checkpoints(out_dir)
    for _, path in reversed(found):
        try:
            return path, load(path), skipped
        except CheckpointUnreadableError as exc:
            skipped.append((path, exc.reason))
    if skipped:
        listed = "; ".join(f"{os.path.basename(p)}: {why}" for p, why in skipped)
        raise UsageError(
            f"none of the {len(skipped)} checkpoints in {out_dir} can be loaded ({listed}). "
            f"Remove them (or the folder {out_dir}) to train this iteration again from its start"
        )
    return None, None, []


def capture_rng(device: torch.device | None = None) -> dict[str, Any]:
    """Random states; CUDA's only for a CUDA run (reading it would create a CUDA context)."""
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": np.random.get_state(),
        "python": random.getstate(),
    }
    if device is not None and device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any], device: torch.device | None = None) -> None:
    if "torch" in state:
        torch.set_rng_state(state["torch"])
    if "numpy" in state:
        np.random.set_state(state["numpy"])
    if "python" in state:
        random.setstate(state["python"])
    if "cuda" in state and device is not None and device.type == "cuda":
        cuda_states = state["cuda"]
        if len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda_states)
