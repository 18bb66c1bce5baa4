from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import onnx
import torch

from conftest import RunTrain, parse_events, subprocess_env
from ietrainer import checkpoint as ckpt
from ietrainer.config import TrainConfig
from ietrainer.moco import MoCoV3

SMALL = ["--preset", "cpu-small", "--batch-size", "16", "--seed", "7"]


def steps_of(events: list[dict]) -> list[int]:
    return [e["step"] for e in events if e["event"] == "step"]


def test_short_run_emits_events_and_exports(
    tmp_path: Path, manifest: Path, run_train: RunTrain
) -> None:
    out = tmp_path / "out"
    onnx_path = tmp_path / "model" / "encoder.onnx"
    proc = run_train(
        "--manifest", str(manifest), "--out-dir", str(out), *SMALL,
        "--steps", "6", "--checkpoint-every", "1", "--onnx", str(onnx_path),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    events = parse_events(proc.stdout)
    kinds = [e["event"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "done"
    start = events[0]
    assert start["step"] == 0 and start["steps"] == 6 and start["device"] == "cpu"
    assert start["images"] == {"target": 24, "candidates": 20, "replay": 8}
    assert steps_of(events) == [5, 6]
    assert all(e["loss"] > 0 and e["imagesPerSec"] > 0 for e in events if e["event"] == "step")
    done = events[-1]
    assert done["step"] == 6 and done["onnx"] == str(onnx_path)
    assert done["checkpoint"] == str(out / "ckpt-000006.pt")

    # Two newest periodic checkpoints plus the final one survive; no temp files remain.
    assert sorted(p.name for p in out.iterdir()) == [
        "ckpt-000004.pt",
        "ckpt-000005.pt",
        "ckpt-000006.pt",
    ]
    state = ckpt.load(done["checkpoint"])
    assert state["step"] == 6
    assert {"model", "optimizer", "rng", "config"} <= set(state)

    sidecar = json.loads(Path(f"{onnx_path}.json").read_text())
    assert sidecar["imageSize"] == 32 and len(sidecar["mean"]) == 3 and len(sidecar["std"]) == 3
    dim = sidecar["dim"]

    model = onnx.load(str(onnx_path))
    onnx.checker.check_model(model)
    (inp,) = model.graph.input
    (outp,) = model.graph.output
    assert inp.name == "input" and outp.name == "embedding"
    in_dims = [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim]
    out_dims = [d.dim_param or d.dim_value for d in outp.type.tensor_type.shape.dim]
    assert isinstance(in_dims[0], str) and in_dims[1:] == [3, 32, 32]
    assert isinstance(out_dims[0], str) and out_dims[1] == dim

    # The exported representation is the pooled backbone output, before the projector.
    net = MoCoV3(TrainConfig.from_dict(state["config"]))
    net.load_state_dict(state["model"])
    with torch.no_grad():
        feats = net.backbone.eval()(torch.zeros(3, 3, 32, 32))
    assert tuple(feats.shape) == (3, dim)


def test_resume_continues_step_counter(tmp_path: Path, manifest: Path, run_train: RunTrain) -> None:
    out = tmp_path / "out"
    base = ["--manifest", str(manifest), "--out-dir", str(out), *SMALL, "--checkpoint-every", "2"]
    first = run_train(*base, "--steps", "4")
    assert first.returncode == 0, first.stderr
    assert (out / "ckpt-000004.pt").exists()

    second = run_train(*base, "--steps", "6", "--resume", "auto")
    assert second.returncode == 0, second.stderr
    events = parse_events(second.stdout)
    assert events[0]["event"] == "start" and events[0]["step"] == 4
    resumed = [e for e in events if e["event"] == "resumed"]
    assert resumed == [{"event": "resumed", "step": 4, "checkpoint": str(out / "ckpt-000004.pt")}]
    steps = steps_of(events)
    assert steps and steps[0] == 5 and min(steps) > 4 and steps[-1] == 6
    assert events[-1]["event"] == "done" and events[-1]["step"] == 6


def test_resumed_run_matches_uninterrupted(
    tmp_path: Path, manifest: Path, run_train: RunTrain
) -> None:
    out = tmp_path / "out"
    base = ["--manifest", str(manifest), "--out-dir", str(out), *SMALL, "--checkpoint-every", "4"]
    full = run_train(*base, "--steps", "6")
    assert full.returncode == 0, full.stderr
    (out / "ckpt-000006.pt").unlink()  # as if the process died after step 4's checkpoint
    again = run_train(*base, "--steps", "6", "--resume", "auto")
    assert again.returncode == 0, again.stderr

    def losses(stdout: str) -> dict[int, float]:
        return {e["step"]: e["loss"] for e in parse_events(stdout) if e["event"] == "step"}

    # Batches and augmentations depend only on (seed, step), so the losses reproduce.
    assert losses(again.stdout) == {s: v for s, v in losses(full.stdout).items() if s > 4}


def test_init_starts_fresh_from_previous_weights(
    tmp_path: Path, manifest: Path, run_train: RunTrain
) -> None:
    prev = tmp_path / "iter0"
    first = run_train("--manifest", str(manifest), "--out-dir", str(prev), *SMALL, "--steps", "2")
    assert first.returncode == 0, first.stderr
    nxt = tmp_path / "iter1"
    second = run_train(
        "--manifest", str(manifest), "--out-dir", str(nxt), *SMALL, "--steps", "2",
        "--init", str(prev / "ckpt-000002.pt"),
    )  # fmt: skip
    assert second.returncode == 0, second.stderr
    events = parse_events(second.stdout)
    assert events[0]["step"] == 0 and not [e for e in events if e["event"] == "resumed"]
    assert (nxt / "ckpt-000002.pt").exists()


def test_sigterm_stops_promptly(tmp_path: Path, manifest: Path) -> None:
    cmd = [
        sys.executable, "-m", "ietrainer.train", "--manifest", str(manifest),
        "--out-dir", str(tmp_path / "out"), *SMALL, "--steps", "100000",
    ]  # fmt: skip
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=subprocess_env()
    )
    try:
        assert proc.stdout is not None
        while True:  # wait until training is underway
            line = proc.stdout.readline()
            assert line, proc.stderr.read() if proc.stderr else "no output"
            if json.loads(line)["event"] == "step":
                break
        sent = time.time()
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=20)
        assert rc == 143
        assert time.time() - sent < 10
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_unreadable_image_is_named(tmp_path: Path, image_set: dict, run_train: RunTrain) -> None:
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not a jpeg")
    manifest = tmp_path / "m.json"
    manifest.write_text(json.dumps({"target": image_set["target"], "candidates": [str(bad)]}))
    proc = run_train("--manifest", str(manifest), "--out-dir", str(tmp_path / "o"), "--steps", "2")
    assert proc.returncode == 2
    assert str(bad) in proc.stderr and "candidates" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_empty_target_and_missing_manifest(tmp_path: Path, run_train: RunTrain) -> None:
    manifest = tmp_path / "m.json"
    manifest.write_text(json.dumps({"target": [], "candidates": []}))
    proc = run_train("--manifest", str(manifest), "--out-dir", str(tmp_path / "o"))
    assert proc.returncode == 2 and "'target' is empty" in proc.stderr

    proc = run_train("--manifest", str(tmp_path / "nope.json"), "--out-dir", str(tmp_path / "o"))
    assert proc.returncode == 2 and "manifest not found" in proc.stderr


def test_resume_on_other_data_is_refused(
    tmp_path: Path, image_set: dict, manifest: Path, run_train: RunTrain
) -> None:
    out = tmp_path / "out"
    base = ["--out-dir", str(out), *SMALL, "--checkpoint-every", "2"]
    first = run_train("--manifest", str(manifest), *base, "--steps", "2")
    assert first.returncode == 0, first.stderr

    changed = tmp_path / "changed.json"
    listed = json.loads(manifest.read_text())
    changed.write_text(json.dumps({**listed, "candidates": list(reversed(listed["candidates"]))}))
    proc = run_train("--manifest", str(changed), *base, "--steps", "4", "--resume", "auto")
    assert proc.returncode == 2
    assert "was trained on other data" in proc.stderr and str(out) in proc.stderr
    assert "Traceback" not in proc.stderr

    # The same data resumes.
    again = run_train("--manifest", str(manifest), *base, "--steps", "4", "--resume", "auto")
    assert again.returncode == 0, again.stderr


def test_only_the_images_the_batches_draw_are_decoded(
    tmp_path: Path, image_set: dict, run_train: RunTrain
) -> None:
    big = tmp_path / "big.json"
    pool = image_set["candidates"] * 200  # a replay buffer far larger than a few steps can use
    big.write_text(json.dumps({"target": image_set["target"], "candidates": pool}))
    proc = run_train(
        "--manifest", str(big), "--out-dir", str(tmp_path / "o"), *SMALL, "--steps", "2"
    )
    assert proc.returncode == 0, proc.stderr
    decoded = [line for line in proc.stderr.splitlines() if "images into memory" in line]
    assert decoded, proc.stderr
    used, listed = (int(n) for n in re.findall(r"decoding (\d+) of (\d+)", decoded[0])[0])
    assert listed == len(image_set["target"]) + len(pool)
    assert used <= 2 * int(SMALL[SMALL.index("--batch-size") + 1])


def corrupt(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "truncated":  # as a full disk leaves a file
        path.write_bytes(data[: len(data) // 2])
    else:
        path.write_bytes(b"\x00" * len(data))


def test_corrupt_newest_checkpoint_resumes_from_the_previous(
    tmp_path: Path, manifest: Path, run_train: RunTrain
) -> None:
    out = tmp_path / "out"
    base = ["--manifest", str(manifest), "--out-dir", str(out), *SMALL, "--checkpoint-every", "2"]
    first = run_train(*base, "--steps", "4")
    assert first.returncode == 0, first.stderr
    assert sorted(p.name for p in out.iterdir()) == ["ckpt-000002.pt", "ckpt-000004.pt"]
    corrupt(out / "ckpt-000004.pt", "truncated")

    again = run_train(*base, "--steps", "6", "--resume", "auto")
    assert again.returncode == 0, again.stderr
    events = parse_events(again.stdout)
    (skipped,) = [e for e in events if e["event"] == "checkpointSkipped"]
    assert skipped["path"] == str(out / "ckpt-000004.pt") and skipped["reason"]
    resumed = [e for e in events if e["event"] == "resumed"]
    assert resumed == [{"event": "resumed", "step": 2, "checkpoint": str(out / "ckpt-000002.pt")}]
    assert "ckpt-000004.pt cannot be loaded" in again.stderr
    assert events[-1]["event"] == "done" and events[-1]["step"] == 6
    assert ckpt.load(str(out / "ckpt-000004.pt"))["step"] == 4  # written again, whole


def test_no_loadable_checkpoint_is_an_error_that_says_what_to_do(
    tmp_path: Path, manifest: Path, run_train: RunTrain
) -> None:
    out = tmp_path / "out"
    base = ["--manifest", str(manifest), "--out-dir", str(out), *SMALL, "--checkpoint-every", "2"]
    assert run_train(*base, "--steps", "4").returncode == 0
    corrupt(out / "ckpt-000004.pt", "truncated")
    corrupt(out / "ckpt-000002.pt", "zeroed")
    proc = run_train(*base, "--steps", "6", "--resume", "auto")
    assert proc.returncode == 2
    assert "none of the 2 checkpoints" in proc.stderr and "ckpt-000002.pt" in proc.stderr
    assert f"Remove them (or the folder {out})" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_diverging_loss_stops_at_once_with_what_to_change(
    tmp_path: Path, manifest: Path, run_train: RunTrain
) -> None:
    out = tmp_path / "out"
    proc = run_train(
        "--manifest", str(manifest), "--out-dir", str(out), *SMALL,
        "--steps", "40", "--checkpoint-every", "1", "--lr", "1e30",
    )  # fmt: skip
    assert proc.returncode == 3, proc.stderr
    (error,) = [e for e in parse_events(proc.stdout) if e["event"] == "error"]
    assert error["kind"] == "diverged" and error["loss"] in ("nan", "inf", "-inf")
    assert error["step"] >= 1 and error["baseLr"] == 1e30 and error["batchSize"] == 16
    assert "training diverged" in error["message"] and "lower the learning rate" in error["message"]
    assert "Traceback" not in proc.stderr
    # Every checkpoint left predates the divergence and is offered to resume from.
    saved = ckpt.list_checkpoints(str(out))
    assert all(step < error["step"] for step, _ in saved)
    assert error["checkpoint"] == (saved[-1][1] if saved else None)
