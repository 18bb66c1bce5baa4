from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch

from conftest import parse_events
from ietrainer import checkpoint as ckpt
from ietrainer.config import preset
from ietrainer.moco import MoCoV3
from ietrainer.precision import MeanPool, choose, make_deterministic

CPU = torch.device("cpu")


def test_cpu_runs_stay_in_float32_and_nchw() -> None:
    p = choose(CPU, amp=True)
    assert p.dtype is None and not p.channels_last and not p.needs_scaler
    assert p.name == "float32"


def test_cpu_checkpoints_never_read_cuda_state(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reading CUDA's random state creates a CUDA context: a CPU run must not, even on a GPU
    host."""

    def forbidden(*_: object) -> None:
        raise AssertionError("CUDA touched by a CPU run")

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_rng_state_all", forbidden)
    monkeypatch.setattr(torch.cuda, "set_rng_state_all", forbidden)
    state = ckpt.capture_rng(CPU)
    assert "cuda" not in state
    ckpt.restore_rng({**state, "cuda": [torch.zeros(1)]}, CPU)


def test_momentum_update_is_the_ema_of_the_online_weights() -> None:
    torch.manual_seed(0)
    model = MoCoV3(preset("cpu-small"))
    with torch.no_grad():
        for p in model.online_parameters():
            p.add_(torch.randn_like(p))
    expected = [
        0.99 * m + 0.01 * o
        for m, o in zip(model.momentum_parameters(), model.online_parameters(), strict=True)
    ]
    model.update_momentum(0.99)
    for got, want in zip(model.momentum_parameters(), expected, strict=True):
        torch.testing.assert_close(got, want, atol=1e-6, rtol=0)


def test_deterministic_mode_pools_with_a_mean_and_keeps_the_outputs() -> None:
    torch.manual_seed(0)
    model = MoCoV3(preset("cpu-small")).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        before = model.backbone(x)
    swapped = copy.deepcopy(model)
    try:
        make_deterministic(swapped, CPU)
        assert any(isinstance(m, MeanPool) for m in swapped.modules())
        with torch.no_grad():
            torch.testing.assert_close(swapped.backbone(x), before)
        assert swapped.state_dict().keys() == model.state_dict().keys()
    finally:
        torch.use_deterministic_algorithms(False)


def test_training_on_cpu_creates_no_cuda_context(tmp_path: Path, manifest: Path) -> None:
    from ietrainer.train import parse_args, train

    out = tmp_path / "out"
    argv = ["--manifest", str(manifest), "--out-dir", str(out), "--preset", "cpu-small",
            "--batch-size", "8", "--steps", "2", "--device", "cpu", "--deterministic"]  # fmt: skip
    try:
        assert train(parse_args(argv)) == 0
    finally:
        torch.use_deterministic_algorithms(False)
    assert not torch.cuda.is_initialized()
    state = ckpt.load(str(out / "ckpt-000002.pt"))
    assert "cuda" not in state["rng"] and state["scaler"] is None
    assert state["config"]["deterministic"] is True


def test_events_of_a_deterministic_run_reproduce(tmp_path: Path, manifest: Path, run_train) -> None:
    base = ["--manifest", str(manifest), "--preset", "cpu-small", "--batch-size", "8",
            "--steps", "5", "--deterministic"]  # fmt: skip
    losses = []
    for name in ("a", "b"):
        proc = run_train(*base, "--out-dir", str(tmp_path / name))
        assert proc.returncode == 0, proc.stderr
        losses.append([e["loss"] for e in parse_events(proc.stdout) if e["event"] == "step"])
    assert losses[0] == losses[1] and len(losses[0]) == 1
