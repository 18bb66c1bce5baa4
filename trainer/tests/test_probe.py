from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import subprocess_env
from ietrainer import handover
from ietrainer.errors import UsageError
from ietrainer.probe import C_GRID, probe


def clusters(n_per: int, dim: int, spread: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(3, dim)) * 3
    labels = np.repeat(np.arange(3), n_per)
    return centres[labels] + rng.normal(scale=spread, size=(len(labels), dim)), labels


def every_third(n: int) -> np.ndarray:
    return np.arange(n) % 3 == 0


def test_separable_classes_are_probed_right() -> None:
    features, labels = clusters(40, 16, 0.5, 1)
    out = probe(features, labels, every_third(len(labels)))
    assert out["accuracy"] == 1.0
    assert out["C"] in C_GRID and out["validationAccuracy"] == 1.0
    assert (out["train"], out["test"], out["dim"]) == (80, 40, 16)


def test_random_labels_give_chance_and_noise_is_handled() -> None:
    rng = np.random.default_rng(2)
    features = rng.normal(size=(600, 8))
    labels = rng.integers(0, 3, size=600)
    out = probe(features, labels, every_third(600))
    assert abs(out["accuracy"] - 1 / 3) < 0.1


def test_tiny_classes_fall_back_to_default_c_and_bad_input_is_named() -> None:
    features, labels = clusters(2, 4, 0.1, 4)  # 1 training row in two classes: none to hold out
    out = probe(features, labels, every_third(len(labels)))
    assert out["validationAccuracy"] is None and out["C"] == 1.0 and out["accuracy"] == 1.0
    with pytest.raises(UsageError, match="two classes"):
        probe(features[:3], np.zeros(3, dtype=int), np.array([True, False, False]))
    with pytest.raises(UsageError, match="test split is empty"):
        probe(features, labels, np.zeros(len(labels), dtype=bool))


def run_cli(spec: dict, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    return subprocess.run(
        [sys.executable, "-m", "ietrainer.probe", "--input", str(path)],
        capture_output=True, text=True, timeout=120, env=subprocess_env(),
    )  # fmt: skip


def test_cli_reads_float32_files(tmp_path: Path) -> None:
    features, labels = clusters(20, 8, 0.5, 5)
    good, noise = tmp_path / "good.f32", tmp_path / "noise.f32"
    handover.write_f32(str(good), features)
    handover.write_f32(str(noise), np.random.default_rng(6).normal(size=features.shape))
    spec = {
        "labels": labels.tolist(),
        "test": every_third(len(labels)).tolist(),
        "features": [{"name": "good", "path": str(good)}, {"name": "noise", "path": str(noise)}],
    }
    proc = run_cli(spec, tmp_path)
    assert proc.returncode == 0, proc.stderr
    results = json.loads(proc.stdout)["results"]
    assert results["good"]["accuracy"] == 1.0 and results["good"]["dim"] == 8
    assert results["noise"]["accuracy"] < 0.8

    spec["labels"] = spec["labels"][:-1]
    spec["test"] = spec["test"][:-1]
    proc = run_cli(spec, tmp_path)
    assert proc.returncode == 2 and str(good) in proc.stderr and "expected 59 x any" in proc.stderr
