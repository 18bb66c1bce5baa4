from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from conftest import RunTrain, parse_events, subprocess_env
from ietrainer.embed import eval_transform
from ietrainer.onnx_eval import run_onnx


def run_embed(*args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "ietrainer.embed", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=subprocess_env())


def test_embeddings_match_the_onnx_export_on_the_scorers_preprocessing(
    tmp_path: Path, manifest: Path, image_set: dict, run_train: RunTrain
) -> None:
    onnx_path = tmp_path / "encoder.onnx"
    proc = run_train("--manifest", str(manifest), "--out-dir", str(tmp_path / "out"),
                     "--batch-size", "8", "--steps", "2", "--onnx", str(onnx_path))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    paths = image_set["target"][:5] + image_set["candidates"][:4]
    listing = tmp_path / "images.txt"
    listing.write_text("\n".join(paths) + "\n")
    out = tmp_path / "emb.f32"
    proc = run_embed("--checkpoint", str(tmp_path / "out" / "ckpt-000002.pt"),
                     "--images", str(listing), "--out", str(out), "--batch-size", "4",
                     "--workers", "2")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    (done,) = parse_events(proc.stdout)
    assert done["event"] == "done" and done["count"] == 9 and done["dim"] == 128
    rows = np.fromfile(out, dtype="<f4").reshape(9, 128)
    np.testing.assert_allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-5)

    sidecar = json.loads(Path(f"{onnx_path}.json").read_text())
    size, mean, std = sidecar["imageSize"], np.array(sidecar["mean"]), np.array(sidecar["std"])
    batch = []
    for p in paths:
        pixels = np.asarray(eval_transform(Image.open(p).convert("RGB"), size), dtype=np.float32)
        batch.append(((pixels / 255 - mean) / std).transpose(2, 0, 1))
    expected, _ = run_onnx(str(onnx_path), np.stack(batch).astype(np.float32))
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    np.testing.assert_allclose(rows, expected, atol=1e-4)


def test_eval_transform_is_resize_then_centre_crop() -> None:
    img = Image.new("RGB", (100, 50))
    img.paste((255, 0, 0), (0, 0, 50, 50))
    out = eval_transform(img, 20)
    assert out.size == (20, 20)
    assert out.getpixel((0, 10))[0] > 200 and out.getpixel((19, 10))[0] < 50
    assert eval_transform(Image.new("RGB", (20, 20)), 20).size == (20, 20)


def test_unreadable_image_is_named(tmp_path: Path, manifest: Path, run_train: RunTrain) -> None:
    proc = run_train("--manifest", str(manifest), "--out-dir", str(tmp_path / "out"),
                     "--batch-size", "8", "--steps", "1")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    listing = tmp_path / "list.json"
    listing.write_text(json.dumps([str(bad)]))
    checkpoint = str(tmp_path / "out" / "ckpt-000001.pt")
    out = str(tmp_path / "e.f32")
    proc = run_embed("--checkpoint", checkpoint, "--images", str(listing), "--out", out)
    assert proc.returncode == 2
    assert str(bad) in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "e.f32").exists()
