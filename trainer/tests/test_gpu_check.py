from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import TRAINER_DIR, subprocess_env

SCRIPT = TRAINER_DIR.parent / "scripts" / "gpu-check.sh"


def test_gpu_check_script_runs_every_part_at_toy_sizes_on_cpu(tmp_path: Path) -> None:
    """The script a GPU host runs, tried on CPU so that it is known to run there."""
    env = {**subprocess_env(), "IE_PYTHON": sys.executable, "OUT": str(tmp_path)}
    env.pop("OMP_NUM_THREADS", None)
    proc = subprocess.run(
        ["bash", str(SCRIPT), "--device", "cpu", "--quick"],
        capture_output=True, text=True, timeout=300, env=env, cwd=str(TRAINER_DIR.parent),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    assert json.loads((tmp_path / "gpu-check.json").read_text()) == result
    for part in ("env", "bench", "onnx", "resume", "embed"):
        assert "error" not in result[part] and "skipped" not in result[part], (part, result[part])
    assert result["bench"]["loopImagesPerSec"] > 0 and result["bench"]["device"] == "cpu"
    assert all(result["onnx"][p]["ok"] for p in ("cpu-small", "gpu-r50"))
    assert result["resume"]["exact"] is True
    assert result["embed"]["dim"] == 2048 and result["embed"]["imagesPerSec"] > 0
    assert os.access(SCRIPT, os.X_OK)
