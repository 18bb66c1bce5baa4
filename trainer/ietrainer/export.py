"""ONNX export of the representation encoder plus the preprocessing sidecar."""

from __future__ import annotations

import copy
import inspect
import os
import warnings
from typing import Any

import onnx
import torch
from torch import nn

from .config import TrainConfig
from .events import log
from .handover import file_checksum, write_json_atomic

OPSET = 13


def sidecar(cfg: TrainConfig, dim: int) -> dict[str, Any]:
    """What the scorer needs to preprocess exactly like training (resize, /255, normalise)."""
    return {
        "imageSize": cfg.image_size,
        "mean": list(cfg.mean),
        "std": list(cfg.std),
        "dim": dim,
        "preset": cfg.preset,
        "input": "input",
        "output": "embedding",
        "layout": "NCHW",
    }


def _exporter_params() -> set[str]:
    return set(inspect.signature(torch.onnx.export).parameters)


def dynamo_exporter_available() -> bool:
    """torch >= 2.5 exports through torch.export (the recommended exporter from 2.9, where the
    TorchScript one is deprecated); it needs the onnxscript package."""
    if "dynamo" not in _exporter_params():
        return False
    try:
        import onnxscript  # noqa: F401
    except ImportError:
        return False
    return True


def _export_dynamo(model: nn.Module, dummy: torch.Tensor, path: str) -> None:
    from torch.export import Dim

    kwargs: dict[str, Any] = {
        "input_names": ["input"],
        "output_names": ["embedding"],
        "dynamic_shapes": ({0: Dim("batch", min=1, max=65536)},),
        "dynamo": True,
    }
    params = _exporter_params()
    if "external_data" in params:
        kwargs["external_data"] = False  # one self-contained file (the weights are < 2 GB)
    torch.onnx.export(model, (dummy,), path, **kwargs)


def _export_torchscript(model: nn.Module, dummy: torch.Tensor, path: str) -> None:
    kwargs: dict[str, Any] = {
        "input_names": ["input"],
        "output_names": ["embedding"],
        "dynamic_axes": {"input": {0: "batch"}, "embedding": {0: "batch"}},
        "opset_version": OPSET,
        "do_constant_folding": True,
    }
    # torch 2.x may default to the dynamo exporter; this is the fallback: ask for the classic one.
    if "dynamo" in _exporter_params():
        kwargs["dynamo"] = False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(model, (dummy,), path, **kwargs)


def export_onnx(backbone: nn.Module, cfg: TrainConfig, dim: int, path: str) -> str:
    """Export pooled backbone features (before the projector) with a dynamic batch axis.

    Uses the exporter current torch recommends (torch.export-based) where it is installed and
    falls back to the TorchScript exporter; returns which one wrote the file.
    """
    model = copy.deepcopy(backbone).to("cpu", torch.float32).eval()  # type: ignore[call-overload]
    model = model.to(memory_format=torch.contiguous_format)
    dummy = torch.zeros(2, 3, cfg.image_size, cfg.image_size)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp.{os.getpid()}"
    exporter = "torchscript"
    try:
        with torch.no_grad():
            if dynamo_exporter_available():
                try:
                    _export_dynamo(model, dummy, tmp)
                    exporter = "dynamo"
                except Exception as exc:  # a graph torch.export cannot take: use the old exporter
                    log(f"torch.export-based ONNX export failed ({exc}); using TorchScript")
            if exporter == "torchscript":
                _export_torchscript(model, dummy, tmp)
        exported = onnx.load(tmp)
        onnx.checker.check_model(exported)
        opset = max(o.version for o in exported.opset_import if o.domain in ("", "ai.onnx"))
        size, digest = file_checksum(tmp)
        checked = {"bytes": size, "sha256": digest}
        os.replace(tmp, path)
    finally:
        for leftover in (tmp, f"{tmp}.data"):
            if os.path.exists(leftover):
                os.remove(leftover)
    # The scorer checks the model against the size and checksum its sidecar gives, so a model and a
    # sidecar of two different exports (two trainers at once) are refused rather than mixed.
    info = {**sidecar(cfg, dim), "exporter": exporter, "opset": opset, "onnx": checked}
    write_json_atomic(f"{path}.json", info)
    return exporter
