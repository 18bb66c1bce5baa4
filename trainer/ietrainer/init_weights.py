"""Start a model from a checkpoint file made elsewhere.

Three layouts are recognised:

* the official MoCo v3 code's ``{"state_dict": {"module.base_encoder.…", "module.predictor.…",
  "module.momentum_encoder.…"}}`` (the projector lives in ``base_encoder.fc``);
* a plain torchvision ResNet state dict (``conv1.weight``, ``layer1.0.…``, ``fc.…``), possibly
  wrapped in ``{"state_dict": …}`` and/or prefixed ``module.`` by DistributedDataParallel;
* this trainer's own checkpoints (``{"model": …, "config": …}``).

Such a file may come from anywhere, so it is unpickled without running code: only tensors and plain
values load (see ``_read``); a file naming anything else is refused. The trainer's checkpoints of a
run (``--resume``, ``--init``: files it wrote itself under the run's folder) are loaded in full by
checkpoint.load, as they carry RNG states besides the weights.

The backbone must load completely; heads load where their shapes match. A momentum branch the file
lacks starts as a copy of the online one, as MoCo itself initialises it.
"""

from __future__ import annotations

import _compat_pickle
import argparse
import codecs
import collections
import functools
import pickle
from dataclasses import dataclass, field
from typing import Any

import torch

from .errors import UsageError
from .moco import MoCoV3

# Counters that BatchNorm keeps; their absence changes nothing about the weights.
_OPTIONAL = "num_batches_tracked"
_GROUPS = ("backbone", "projector", "predictor", "momentum_backbone", "momentum_projector")


@dataclass
class InitReport:
    layout: str
    loaded: dict[str, int] = field(default_factory=dict)
    # (key in the file, why it was not used)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    copied: list[str] = field(default_factory=list)

    def to_event(self, limit: int = 50) -> dict[str, Any]:
        return {
            "layout": self.layout,
            "loaded": self.loaded,
            "copiedFromOnline": self.copied,
            "skippedCount": len(self.skipped),
            "skipped": [{"key": k, "reason": r} for k, r in self.skipped[:limit]],
        }


class _Refused(pickle.UnpicklingError):
    """The file names a global outside the allowlist: loading it would run that code."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def _numpy_globals() -> dict[str, Any]:
    """NumPy arrays, dtypes and scalars (RNG states and metadata saved beside weights)."""
    try:
        import numpy as np
    except ImportError:
        return {}
    multiarray = getattr(getattr(np, "_core", None), "multiarray", None) or np.core.multiarray
    found: dict[str, Any] = {"numpy.ndarray": np.ndarray, "numpy.dtype": np.dtype}
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        found[f"{module}._reconstruct"] = multiarray._reconstruct
        found[f"{module}.scalar"] = multiarray.scalar
    # dtype classes as NumPy >= 1.25 pickles them (numpy.dtypes.Float64DType, ...)
    for name in dir(getattr(np, "dtypes", None) or object()):
        if name.endswith("DType"):
            found[f"numpy.dtypes.{name}"] = getattr(np.dtypes, name)
    return found


@functools.lru_cache(maxsize=1)
def _allowed_globals() -> dict[str, Any]:
    """What a plain state dict may name: torch's own weights-only allowlist (tensors, storages,
    dtypes, OrderedDict), plus what training scripts save beside the weights: an argparse
    namespace of their flags, NumPy values, sets. None of these runs code when unpickled."""
    try:
        from torch import _weights_only_unpickler

        allowed: dict[str, Any] = dict(_weights_only_unpickler._get_allowed_globals())
    except (ImportError, AttributeError, TypeError):  # a torch whose private API moved
        allowed = {
            "collections.OrderedDict": collections.OrderedDict,
            "torch._utils._rebuild_tensor_v2": torch._utils._rebuild_tensor_v2,
            "torch._utils._rebuild_parameter": torch._utils._rebuild_parameter,
            "torch.nn.parameter.Parameter": torch.nn.Parameter,
            "torch.Size": torch.Size,
        }
    allowed.update(_numpy_globals())
    allowed.update(
        {
            "argparse.Namespace": argparse.Namespace,
            "builtins.set": set,
            "builtins.frozenset": frozenset,
            "_codecs.encode": codecs.encode,  # how protocol 2 pickles bytes
        }
    )
    return allowed


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        # Protocol 2 names Python 2 modules (__builtin__.set); pickle maps them the same way.
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        allowed = _allowed_globals().get(f"{module}.{name}")
        if allowed is None:
            raise _Refused(f"{module}.{name}")
        return allowed


class _RestrictedPickle:
    """A pickle module for torch's loaders that unpickles only the allowlisted globals."""

    Unpickler = _RestrictedUnpickler

    @staticmethod
    def load(file: Any, **kwargs: Any) -> Any:
        return _RestrictedUnpickler(file, **kwargs).load()


def _restricted_load(path: str) -> Any:
    """torch.load through _RestrictedPickle. Not torch.load(pickle_module=...): some 1.13 builds
    ignore that argument and unpickle with the full pickle module, so torch's own zip (and legacy)
    readers are called with it, as torch's weights-only loader calls them with its unpickler."""
    ser: Any = torch.serialization
    kwargs = {"encoding": "utf-8"}
    with open(path, "rb") as fh:
        if ser._is_zipfile(fh):
            with ser._open_zipfile_reader(fh) as archive:
                return ser._load(archive, "cpu", _RestrictedPickle, **kwargs)
        return ser._legacy_load(fh, "cpu", _RestrictedPickle, **kwargs)


def _not_plain(path: str, name: str) -> UsageError:
    return UsageError(
        f"init checkpoint {path} is not a plain state dict: it names {name}, code that loading "
        "it would run, so it is refused. If you trust where it came from, convert it once where "
        "running its code is safe: python3 -c \"import torch; c = torch.load('IN', "
        "map_location='cpu', weights_only=False); torch.save(c.get('state_dict', c) if "
        "isinstance(c, dict) else c.state_dict(), 'OUT')\", then give OUT"
    )


def _read(path: str) -> Any:
    """Load a checkpoint made elsewhere without running code from it: torch's weights-only
    loader first, then a restricted unpickler that also allows the flags and NumPy values that
    training scripts save beside their weights. Anything else a file names is refused."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise UsageError(f"init checkpoint not found: {path}") from None
    except pickle.UnpicklingError:
        pass  # something besides tensors (or unreadable): try the wider allowlist
    except Exception as exc:
        raise UsageError(
            f"init checkpoint {path} could not be read by torch.load ({exc})"
        ) from None
    try:
        return _restricted_load(path)
    except _Refused as refused:
        raise _not_plain(path, refused.name) from None
    except Exception as exc:
        raise UsageError(
            f"init checkpoint {path} could not be read by torch.load ({exc})"
        ) from None


def _backbone_prefix(model: MoCoV3) -> str:
    # TorchvisionResNet keeps the torchvision module as `.net`; SmallResNet has no wrapper.
    return "backbone.net." if hasattr(model.backbone, "net") else "backbone."


def _map_keys(raw: Any, model: MoCoV3) -> tuple[str, dict[str, tuple[str | None, Any]]]:
    """Return (layout, {key in file: (key in our model or None with the reason, tensor)})."""
    if not isinstance(raw, dict):
        raise UsageError(f"init checkpoint holds a {type(raw).__name__}, not a state dict")
    if "model" in raw and "config" in raw and isinstance(raw["model"], dict):
        return "ietrainer", {k: (k, v) for k, v in raw["model"].items()}
    state = raw.get("state_dict", raw)
    if not isinstance(state, dict):
        raise UsageError("init checkpoint's 'state_dict' is not a dict of tensors")
    state = {k: v for k, v in state.items() if torch.is_tensor(v)}
    # DistributedDataParallel prefixes every key with `module.`; messages keep the file's keys.
    wrapped = "module." if state and all(k.startswith("module.") for k in state) else ""
    plain = {k[len(wrapped) :]: k for k in state}
    backbone = _backbone_prefix(model)
    mapped: dict[str, tuple[str | None, Any]] = {}
    if any(k.startswith("base_encoder.") for k in plain):
        for key, original in plain.items():
            target: str | None = None
            for src, online, head in (
                ("base_encoder.", backbone, "projector."),
                ("momentum_encoder.", "momentum_" + backbone, "momentum_projector."),
            ):
                if key.startswith(src):
                    rest = key[len(src) :]
                    target = head + rest[3:] if rest.startswith("fc.") else online + rest
            if key.startswith("predictor."):
                target = key
            mapped[original] = (target, state[original])
        return "mocov3", mapped
    for key, original in plain.items():
        # A torchvision classifier (`fc`) has nothing to do with self-supervised heads.
        target = None if key.startswith("fc.") else backbone + key
        mapped[original] = (target, state[original])
    return "torchvision", mapped


def _describe(tensors: dict[str, Any], n: int = 3) -> str:
    return ", ".join(f"{k} {list(v.shape)}" for k, v in list(tensors.items())[:n])


def load_init_checkpoint(model: MoCoV3, path: str, arch: str) -> InitReport:
    """Copy what fits from the file at ``path`` into ``model`` (see apply_init_state)."""
    return apply_init_state(model, _read(path), path, arch)


def apply_init_state(model: MoCoV3, raw: Any, path: str, arch: str) -> InitReport:
    """Copy what fits from a loaded checkpoint into ``model``; UsageError if the backbone does not.

    ``path`` and ``arch`` only name the file and the model in messages.
    """
    layout, mapped = _map_keys(raw, model)
    ours = model.state_dict()
    report = InitReport(layout)
    update: dict[str, torch.Tensor] = {}
    for key, (target, value) in mapped.items():
        if target is None:
            report.skipped.append((key, "classifier head, not part of the encoder"))
        elif target not in ours:
            report.skipped.append((key, f"no {target} in the {arch} model"))
        elif tuple(ours[target].shape) != tuple(value.shape):
            report.skipped.append(
                (key, f"shape {list(value.shape)} in the file, {list(ours[target].shape)} here")
            )
        else:
            update[target] = value.to(ours[target].dtype)

    def group_keys(group: str) -> list[str]:
        return [k for k in ours if k.split(".", 1)[0] == group and not k.endswith(_OPTIONAL)]

    # Heads and the momentum branch load whole or not at all: half of an MLP from elsewhere is
    # worse than a fresh one.
    source_of = {t: k for k, (t, _) in mapped.items() if t is not None}
    for head in _GROUPS[1:]:
        keys = group_keys(head)
        if all(k in update for k in keys):
            continue
        for k in [k for k in update if k.split(".", 1)[0] == head]:
            del update[k]
            report.skipped.append((source_of[k], f"{head} does not fit as a whole"))

    missing = [k for k in group_keys("backbone") if k not in update]
    if missing:
        found = {k: v for k, (t, v) in mapped.items() if t is not None}
        hint = (
            f"the file has e.g. {_describe(found or {k: v for k, (_, v) in mapped.items()})}"
            if mapped
            else "the file holds no tensors"
        )
        example = {k: ours[k] for k in missing[:3]}
        total = len(group_keys("backbone"))
        raise UsageError(
            f"init checkpoint {path} ({layout} layout) does not fit the {arch} backbone of this "
            f"preset: {len(missing)} of {total} backbone tensors have no match "
            f"(e.g. {_describe(example)}); {hint}. Use a checkpoint of the same architecture "
            "or the preset that matches it"
        )
    for online, momentum in (
        ("backbone", "momentum_backbone"),
        ("projector", "momentum_projector"),
    ):
        online_keys = group_keys(online)
        if all(k in update for k in online_keys) and not any(
            k in update for k in group_keys(momentum)
        ):
            for k in online_keys:
                update[f"momentum_{k}"] = update[k].clone()
            report.copied.append(momentum)
    for group in _GROUPS:
        report.loaded[group] = sum(1 for k in update if k.split(".", 1)[0] == group)
    merged = {**ours, **update}
    model.load_state_dict(merged)
    return report
