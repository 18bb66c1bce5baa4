from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import subprocess_env

KEYS = {"device", "preset", "imageSize", "batchSize", "dataImagesPerSec", "computeImagesPerSec",
        "loopImagesPerSec", "augmentMsPerImage", "legacyAugmentMsPerImage"}  # fmt: skip


@pytest.mark.parametrize(
    ("preset", "extra"),
    [("cpu-small", []), ("gpu-r50", ["--image-size", "64", "--batch-size", "4", "--workers", "1"])],
)
def test_bench_reports_data_compute_and_loop_as_json(
    tmp_path: Path, preset: str, extra: list[str]
) -> None:
    out = tmp_path / "bench.json"
    cmd = [sys.executable, "-m", "ietrainer.bench", "--preset", preset, "--synthetic", "24",
           "--steps", "2", "--warmup", "1", "--augment-images", "4", "--augment-repeats", "1",
           "--json", str(out), *extra]  # fmt: skip
    if preset == "cpu-small":
        cmd += ["--batch-size", "8"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=subprocess_env())
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    assert set(result) >= KEYS
    assert result["device"] == "cpu" and result["preset"] == preset
    assert result["imagesFrom"] == "synthetic"
    for key in ("dataImagesPerSec", "computeImagesPerSec", "loopImagesPerSec"):
        assert result[key] > 0
    assert result["augmentMsPerImage"] > 0 and result["legacyAugmentMsPerImage"] > 0
    assert "training loop" in proc.stdout and "images/s" in proc.stdout
