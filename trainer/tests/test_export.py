from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from ietrainer import export
from ietrainer.config import preset
from ietrainer.moco import MoCoV3
from ietrainer.onnx_eval import run_onnx


def trained_like(name: str) -> MoCoV3:
    """A model whose BatchNorm statistics are not the identity (as after training)."""
    torch.manual_seed(0)
    cfg = preset(name)
    model = MoCoV3(cfg)
    model.backbone.train()
    with torch.no_grad():
        model.backbone(torch.randn(6, 3, cfg.image_size, cfg.image_size) * 1.5 + 0.3)
    return model.eval()


@pytest.mark.parametrize("name", ["cpu-small", "gpu-r50"])
def test_onnx_output_matches_pytorch(tmp_path: Path, name: str) -> None:
    cfg = preset(name)
    model = trained_like(name)
    path = str(tmp_path / "encoder.onnx")
    used = export.export_onnx(model.backbone, cfg, model.feature_dim, path)
    x = torch.randn(3, 3, cfg.image_size, cfg.image_size)
    with torch.no_grad():
        expected = model.backbone(x).numpy()
    got, backend = run_onnx(path, x.numpy())
    assert got.shape == (3, model.feature_dim)
    scale = float(np.abs(expected).max())
    assert float(np.abs(got - expected).max()) < 1e-4 * max(1.0, scale), backend
    sidecar = json.loads(Path(f"{path}.json").read_text())
    assert sidecar["exporter"] == used and sidecar["opset"] >= 13
    assert sidecar["output"] == "embedding" and sidecar["dim"] == model.feature_dim
    assert sidecar["imageSize"] == cfg.image_size
    # What the scorer checks the model against (activities/score/embedder.ts).
    data = Path(path).read_bytes()
    assert sidecar["onnx"] == {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    graph = onnx.load(path).graph
    assert [i.name for i in graph.input] == ["input"]
    assert [o.name for o in graph.output] == ["embedding"]


def test_falls_back_to_torchscript_when_the_new_exporter_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: object) -> None:
        raise RuntimeError("unsupported graph")

    monkeypatch.setattr(export, "dynamo_exporter_available", lambda: True)
    monkeypatch.setattr(export, "_export_dynamo", broken)
    model = trained_like("cpu-small")
    path = str(tmp_path / "e.onnx")
    assert export.export_onnx(model.backbone, preset("cpu-small"), 128, path) == "torchscript"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e.onnx", "e.onnx.json"]
