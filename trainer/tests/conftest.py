from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

TRAINER_DIR = Path(__file__).resolve().parents[1]
if str(TRAINER_DIR) not in sys.path:
    sys.path.insert(0, str(TRAINER_DIR))


def subprocess_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(TRAINER_DIR) + os.pathsep + env.get("PYTHONPATH", "")
    env["OMP_NUM_THREADS"] = "2"
    return env


def make_jpegs(folder: Path, prefix: str, count: int, seed: int) -> list[str]:
    """Small synthetic photos: coloured rectangles on noisy backgrounds."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        pixels = rng.integers(0, 60, size=(40, 48, 3), dtype=np.uint8)
        y, x = rng.integers(0, 20, size=2)
        pixels[y : y + 20, x : x + 24] = rng.integers(80, 255, size=3, dtype=np.uint8)
        path = folder / f"{prefix}-{i:03d}.jpg"
        Image.fromarray(pixels, "RGB").save(path, quality=90)
        paths.append(str(path))
    return paths


@pytest.fixture(scope="session")
def image_set(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    root = tmp_path_factory.mktemp("images")
    return {
        "target": make_jpegs(root, "target", 24, 1),
        "candidates": make_jpegs(root, "cand", 20, 2),
        "replay": make_jpegs(root, "replay", 8, 3),
    }


@pytest.fixture()
def manifest(tmp_path: Path, image_set: dict[str, list[str]]) -> Path:
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(image_set))
    return path


def parse_events(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


RunTrain = Callable[..., "subprocess.CompletedProcess[str]"]


@pytest.fixture()
def run_train() -> RunTrain:
    def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "ietrainer.train", *args]
        return subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, env=subprocess_env()
        )

    return run
