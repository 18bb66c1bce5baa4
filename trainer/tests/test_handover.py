from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

import numpy as np
import pytest

from ietrainer import handover
from ietrainer.errors import UsageError


def test_round_trip_keeps_shape_and_values(tmp_path: Path) -> None:
    path = str(tmp_path / "x.f32")
    values = np.arange(12, dtype=np.float32).reshape(4, 3) / 7
    handover.write_f32(path, values)
    assert np.array_equal(handover.read_f32(path, rows=4, dim=3), values)
    handover.write_f32(path, np.arange(5, dtype=np.float64))
    assert handover.read_f32(path).shape == (5, 1)
    # The data starts at a multiple of 16 bytes (aligned views in NumPy and JavaScript).
    raw = Path(path).read_bytes()
    assert (len(raw) - 5 * 4) % 16 == 0
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_torn_foreign_and_misshapen_files_are_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "target-embeddings.f32"
    handover.write_f32(str(path), np.ones((10, 8), dtype=np.float32))
    whole = path.read_bytes()

    path.write_bytes(whole[:-20])  # torn: a crash or a full disk mid-write
    with pytest.raises(UsageError, match=rf"{path} is torn: its header announces 10 x 8"):
        handover.read_f32(str(path))
    path.write_bytes(whole[:-4] + b"\x00\x00\x80\x7f")  # same length, other bytes
    with pytest.raises(UsageError, match="does not match its checksum"):
        handover.read_f32(str(path))
    path.write_bytes(np.ones(80, dtype="<f4").tobytes())  # raw floats, no header
    with pytest.raises(UsageError, match="not a checked float32 file"):
        handover.read_f32(str(path))
    path.write_bytes(whole[:10])
    with pytest.raises(UsageError, match=str(path)):
        handover.read_f32(str(path))
    path.write_bytes(whole)
    with pytest.raises(UsageError, match="holds 10 x 8 floats, expected 12 x any"):
        handover.read_f32(str(path), rows=12)
    with pytest.raises(UsageError, match="is missing"):
        handover.read_f32(str(tmp_path / "nope.f32"))


def _write_many(path: str, value: float, count: int) -> None:
    values = np.full((64, 256), value, dtype=np.float32)
    for _ in range(count):
        handover.write_f32(path, values)


def test_concurrent_writers_never_leave_a_mixed_file(tmp_path: Path) -> None:
    path = str(tmp_path / "predicted.f32")
    handover.write_f32(path, np.full((64, 256), 1.0, dtype=np.float32))
    ctx = multiprocessing.get_context("spawn")
    writers = [ctx.Process(target=_write_many, args=(path, v, 150)) for v in (1.0, 2.0)]
    for w in writers:
        w.start()
    seen = set()
    deadline = time.monotonic() + 60
    while any(w.is_alive() for w in writers) and time.monotonic() < deadline:
        values = handover.read_f32(path, rows=64, dim=256)  # never torn, never mixed
        seen.update(np.unique(values).tolist())
        assert len(np.unique(values)) == 1
    for w in writers:
        w.join()
        assert w.exitcode == 0
    assert seen <= {1.0, 2.0}
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
