"""ONNX export of the representation encoder plus the preprocessing sidecar."""

from __future__ import annotations

import copy
import inspect
import json
import os
from typing import Any

import onnx
import torch
from torch import nn

from .config import TrainConfig

OPSET = 13


def _write_json_atomic(data: dict[str, Any], path: str) -> None:
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2)
        fh.write("\n")
    os.replace(tmp, path)


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


def export_onnx(backbone: nn.Module, cfg: TrainConfig, dim: int, path: str) -> None:
    """Export pooled backbone features (before the projector) with a dynamic batch axis."""
    model = copy.deepcopy(backbone).to("cpu", torch.float32).eval()
    model = model.to(memory_format=torch.contiguous_format)
    dummy = torch.zeros(2, 3, cfg.image_size, cfg.image_size)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp.{os.getpid()}"
    kwargs: dict[str, Any] = {
        "input_names": ["input"],
        "output_names": ["embedding"],
        "dynamic_axes": {"input": {0: "batch"}, "embedding": {0: "batch"}},
        "opset_version": OPSET,
        "do_constant_folding": True,
    }
    # torch 2.x may default to the dynamo exporter (needs onnxscript); keep the classic one.
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        kwargs["dynamo"] = False
    try:
        with torch.no_grad():
            torch.onnx.export(model, (dummy,), tmp, **kwargs)
        onnx.checker.check_model(onnx.load(tmp))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    _write_json_atomic(sidecar(cfg, dim), f"{path}.json")
