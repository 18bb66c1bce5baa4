from __future__ import annotations

import copy
import json
from pathlib import Path

import onnx
import pytest
import torch
import torchvision
from onnx import numpy_helper
from torch import nn

from conftest import RunTrain, parse_events
from ietrainer import checkpoint as ckpt
from ietrainer.config import TrainConfig, preset
from ietrainer.errors import UsageError
from ietrainer.export import export_onnx
from ietrainer.init_weights import apply_init_state, load_init_checkpoint
from ietrainer.moco import MoCoV3

SMALL = ["--preset", "cpu-small", "--batch-size", "16", "--seed", "7"]


def r18_config() -> TrainConfig:
    """A torchvision ResNet-18 with small heads: the real layouts, at a size tests can afford."""
    return TrainConfig(
        preset="test", arch="resnet18", width=64, blocks=(2, 2, 2, 2),
        proj_hidden=64, proj_dim=32, pred_hidden=64, image_size=32,
    )  # fmt: skip


def official_mlp(layers: int, in_dim: int, hidden: int, out: int, last_bn: bool) -> nn.Sequential:
    """The MoCo v3 paper's heads: Linear (no bias) - BN - ReLU, then Linear (no bias) [+ BN]."""
    mods: list[nn.Module] = []
    for i in range(layers):
        a = in_dim if i == 0 else hidden
        b = out if i == layers - 1 else hidden
        mods.append(nn.Linear(a, b, bias=False))
        if i < layers - 1:
            mods += [nn.BatchNorm1d(b), nn.ReLU()]
        elif last_bn:
            mods.append(nn.BatchNorm1d(b, affine=False))
    return nn.Sequential(*mods)


def randomise(module: nn.Module, seed: int) -> nn.Module:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for t in module.state_dict().values():
            if t.is_floating_point():
                t.copy_(torch.randn(t.shape, generator=gen))
    return module


def official_state(arch: str, feat: int, hidden: int, dim: int) -> dict[str, torch.Tensor]:
    """A checkpoint's state_dict as the official MoCo v3 code (DDP-wrapped) lays it out."""
    base = getattr(torchvision.models, arch)()
    base.fc = official_mlp(2, feat, hidden, dim, last_bn=True)
    randomise(base, 1)
    momentum = randomise(copy.deepcopy(base), 2)
    predictor = randomise(official_mlp(2, dim, hidden, dim, last_bn=False), 3)
    state = {}
    for prefix, module in (
        ("module.base_encoder.", base),
        ("module.momentum_encoder.", momentum),
        ("module.predictor.", predictor),
    ):
        state.update({prefix + k: v for k, v in module.state_dict().items()})
    return state


def test_official_mocov3_layout_loads_every_part(tmp_path: Path) -> None:
    state = official_state("resnet18", 512, 64, 32)
    path = tmp_path / "r-18-300ep.pth.tar"
    torch.save({"epoch": 300, "arch": "resnet18", "state_dict": state, "optimizer": {}}, path)

    model = MoCoV3(r18_config())
    report = load_init_checkpoint(model, str(path), "resnet18")
    assert report.layout == "mocov3"
    assert report.skipped == [] and report.copied == []
    ours = model.state_dict()
    pairs = {
        "backbone.net.conv1.weight": "module.base_encoder.conv1.weight",
        "backbone.net.layer4.1.bn2.running_var": "module.base_encoder.layer4.1.bn2.running_var",
        "projector.0.weight": "module.base_encoder.fc.0.weight",
        "projector.4.running_mean": "module.base_encoder.fc.4.running_mean",
        "momentum_backbone.net.conv1.weight": "module.momentum_encoder.conv1.weight",
        "momentum_projector.3.weight": "module.momentum_encoder.fc.3.weight",
        "predictor.3.weight": "module.predictor.3.weight",
    }
    for key, source in pairs.items():
        assert torch.equal(ours[key], state[source]), key
    assert report.loaded == {
        group: sum(1 for k in ours if k.split(".", 1)[0] == group)
        for group in (
            "backbone",
            "projector",
            "predictor",
            "momentum_backbone",
            "momentum_projector",
        )
    }


def test_official_resnet50_checkpoint_fits_the_gpu_preset_key_for_key() -> None:
    cfg = preset("gpu-r50")
    state = official_state("resnet50", 2048, cfg.proj_hidden, cfg.proj_dim)
    model = MoCoV3(cfg)
    report = apply_init_state(model, {"state_dict": state}, "mocov3.pth.tar", cfg.arch)
    assert report.skipped == []
    assert sum(report.loaded.values()) == len(state) == len(model.state_dict())


def test_torchvision_layout_loads_backbone_and_seeds_momentum(tmp_path: Path) -> None:
    source = randomise(torchvision.models.resnet18(), 4)
    path = tmp_path / "resnet18.pth"
    torch.save(source.state_dict(), path)
    model = MoCoV3(r18_config())
    head_before = model.projector[0].weight.clone()
    report = load_init_checkpoint(model, str(path), "resnet18")

    assert report.layout == "torchvision"
    assert sorted(k for k, _ in report.skipped) == ["fc.bias", "fc.weight"]
    assert all("classifier" in reason for _, reason in report.skipped)
    assert report.copied == ["momentum_backbone"]
    assert report.loaded["projector"] == 0 and report.loaded["momentum_backbone"] > 0
    assert torch.equal(model.backbone.net.layer2[0].conv1.weight, source.layer2[0].conv1.weight)
    assert torch.equal(model.momentum_backbone.net.conv1.weight, source.conv1.weight)
    assert torch.equal(model.projector[0].weight, head_before)

    # The same weights saved by DistributedDataParallel inside {"state_dict": ...}
    wrapped = {"state_dict": {f"module.{k}": v for k, v in source.state_dict().items()}}
    again = MoCoV3(r18_config())
    assert apply_init_state(again, wrapped, "ddp.pth", "resnet18").layout == "torchvision"
    assert torch.equal(again.backbone.net.conv1.weight, source.conv1.weight)


def test_own_checkpoint_loads_whole_model(tmp_path: Path) -> None:
    cfg = preset("cpu-small")
    torch.manual_seed(1)
    source = MoCoV3(cfg)
    path = tmp_path / "ckpt-000010.pt"
    ckpt.save_atomic({"model": source.state_dict(), "config": cfg.to_dict(), "step": 10}, str(path))
    torch.manual_seed(2)
    model = MoCoV3(cfg)
    report = load_init_checkpoint(model, str(path), cfg.arch)
    assert report.layout == "ietrainer" and report.skipped == []
    for key, value in source.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key


def test_heads_that_do_not_fit_are_skipped_with_their_shapes() -> None:
    state = official_state("resnet18", 512, 64, 16)  # 16-d output; the model wants 32
    model = MoCoV3(r18_config())
    report = apply_init_state(model, {"state_dict": state}, "x.pth", "resnet18")
    reasons = dict(report.skipped)
    assert "[16, 64] in the file, [32, 64] here" in reasons["module.base_encoder.fc.3.weight"]
    assert report.loaded["backbone"] > 0 and report.loaded["momentum_backbone"] > 0
    # The projector's first layer and the predictor's BN would fit, but heads load whole or not.
    assert "projector does not fit as a whole" in reasons["module.base_encoder.fc.0.weight"]
    assert "predictor does not fit as a whole" in reasons["module.predictor.1.weight"]
    assert report.loaded["projector"] == report.loaded["predictor"] == 0
    assert report.loaded["momentum_projector"] == 0


def test_wrong_architecture_names_file_and_mismatch(tmp_path: Path) -> None:
    path = tmp_path / "resnet18.pth"
    torch.save(torchvision.models.resnet18().state_dict(), path)
    model = MoCoV3(preset("cpu-small"))
    with pytest.raises(UsageError) as err:
        load_init_checkpoint(model, str(path), "small_resnet")
    message = str(err.value)
    assert str(path) in message and "small_resnet" in message and "torchvision layout" in message
    assert "stem.0.weight [16, 3, 3, 3]" in message and "[64, 3, 7, 7]" in message

    (tmp_path / "notes.txt").write_text("not a checkpoint")
    with pytest.raises(UsageError, match="could not be read"):
        load_init_checkpoint(model, str(tmp_path / "notes.txt"), "small_resnet")
    with pytest.raises(UsageError, match="not found"):
        load_init_checkpoint(model, str(tmp_path / "missing.pt"), "small_resnet")


def onnx_weights(path: Path) -> list:
    return [numpy_helper.to_array(t) for t in onnx.load(str(path)).graph.initializer]


def same_weights(a: list, b: list) -> bool:
    return len(a) == len(b) and all(
        x.shape == y.shape and (x == y).all() for x, y in zip(a, b, strict=True)
    )


def test_cli_init_checkpoint_and_base_export(
    tmp_path: Path, manifest: Path, run_train: RunTrain
) -> None:
    cfg = preset("cpu-small")
    torch.manual_seed(5)
    source = MoCoV3(cfg)
    init = tmp_path / "start.pt"
    ckpt.save_atomic({"model": source.state_dict(), "config": cfg.to_dict()}, str(init))
    out, base = tmp_path / "out", tmp_path / "encoder-base.onnx"
    args = ["--manifest", str(manifest), "--out-dir", str(out), *SMALL, "--checkpoint-every", "2",
            "--init-checkpoint", str(init), "--base-onnx", str(base)]  # fmt: skip

    first = run_train(*args, "--steps", "2")
    assert first.returncode == 0, first.stderr
    events = parse_events(first.stdout)
    (initialised,) = [e for e in events if e["event"] == "initialised"]
    assert initialised["layout"] == "ietrainer" and initialised["skippedCount"] == 0
    assert initialised["loaded"]["backbone"] > 0 and initialised["path"] == str(init)
    assert [e for e in events if e["event"] == "base"] == [{"event": "base", "onnx": str(base)}]
    # The base export is the starting encoder: the init checkpoint's backbone, before any step.
    expected = tmp_path / "expected.onnx"
    export_onnx(source.backbone, cfg, source.feature_dim, str(expected))
    first_weights = onnx_weights(base)
    assert same_weights(first_weights, onnx_weights(expected))
    assert json.loads(Path(f"{base}.json").read_text())["dim"] == source.feature_dim

    # A retry finds the export in place and leaves it alone.
    stamp = base.stat().st_mtime_ns
    again = run_train(*args, "--steps", "4", "--resume", "auto")
    assert again.returncode == 0, again.stderr
    kinds = [e["event"] for e in parse_events(again.stdout)]
    assert "base" not in kinds and "initialised" not in kinds and "resumed" in kinds
    assert base.stat().st_mtime_ns == stamp

    # Lost after a checkpoint was written: rebuilt identical from the seed and init checkpoint.
    base.unlink()
    rebuilt = run_train(*args, "--steps", "4", "--resume", "auto")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "base" in [e["event"] for e in parse_events(rebuilt.stdout)]
    assert same_weights(onnx_weights(base), first_weights)


def test_cli_wrong_architecture_is_a_usage_error(
    tmp_path: Path, manifest: Path, run_train: RunTrain
) -> None:
    path = tmp_path / "resnet50.pth"
    torch.save(torchvision.models.resnet18().state_dict(), path)
    proc = run_train(
        "--manifest", str(manifest), "--out-dir", str(tmp_path / "o"), *SMALL, "--steps", "2",
        "--init-checkpoint", str(path),
    )  # fmt: skip
    assert proc.returncode == 2
    assert str(path) in proc.stderr and "does not fit" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_stored_config_without_head_fields_keeps_its_head_shapes() -> None:
    stored = preset("cpu-small").to_dict()
    del stored["proj_layers"], stored["pred_bias"]
    cfg = TrainConfig.from_dict(stored)
    assert (cfg.proj_layers, cfg.pred_bias) == (3, True)
    model = MoCoV3(cfg)
    assert len([m for m in model.projector if isinstance(m, nn.Linear)]) == 3
    assert model.predictor[-1].bias is not None
    # The presets themselves follow MoCo v3's ResNet heads.
    fresh = MoCoV3(preset("cpu-small"))
    assert len([m for m in fresh.projector if isinstance(m, nn.Linear)]) == 2
    assert fresh.predictor[-1].bias is None


class _Payload:
    """What a malicious checkpoint carries: unpickling it would run a shell command."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        import os

        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("zipped", [True, False], ids=["zip", "legacy"])
def test_a_pickle_payload_is_refused_without_running_it(tmp_path: Path, zipped: bool) -> None:
    marker = tmp_path / "ran"
    path = tmp_path / "evil.pth"
    state = torchvision.models.resnet18().state_dict()
    payload = {"state_dict": state, "extra": _Payload(marker)}
    torch.save(payload, path, _use_new_zipfile_serialization=zipped)
    with pytest.raises(UsageError) as caught:
        load_init_checkpoint(MoCoV3(r18_config()), str(path), "resnet18")
    message = str(caught.value)
    assert "not a plain state dict" in message and str(path) in message
    assert "system" in message and "torch.save(" in message  # what it names and how to convert
    assert not marker.exists()


def test_own_checkpoints_with_rng_state_and_flags_load_without_full_unpickling(
    tmp_path: Path,
) -> None:
    import argparse

    cfg = preset("cpu-small")
    source = MoCoV3(cfg)
    path = tmp_path / "base.pt"
    # What `ie pretrain` writes (RNG states hold NumPy arrays) and an official script's flags.
    state = {
        "model": source.state_dict(), "config": cfg.to_dict(), "rng": ckpt.capture_rng(),
        "args": argparse.Namespace(arch="small", lr=0.1), "seen": {1, 2},
    }  # fmt: skip
    ckpt.save_atomic(state, str(path))
    report = load_init_checkpoint(MoCoV3(cfg), str(path), cfg.arch)
    assert report.layout == "ietrainer" and report.skipped == []
