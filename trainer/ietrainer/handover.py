"""Files handed between stages: written whole (temp file, then rename) and checked when read.

Float32 arrays carry a header, the same one lib/files.ts reads and writes: the magic
``IEF32v1\\n``, a little-endian uint32 header length, a JSON header ``{"format", "rows", "dim",
"bytes", "sha256"}`` padded with spaces so that the data starts at a multiple of 16, then rows x dim
little-endian float32. A reader refuses a file whose length or checksum does not match its header,
naming the file.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import struct
from collections.abc import Callable
from typing import Any, BinaryIO

import numpy as np

from .errors import UsageError

MAGIC = b"IEF32v1\n"
_ALIGN = 16


def write_atomic_with(path: str, write: Callable[[BinaryIO], object]) -> None:
    """Write ``path`` whole or not at all with ``write`` (given the open file); concurrent writers
    each rename a complete, fsynced file of their own (temp names ``<path>.<pid>.<hex>.tmp``, which
    the train stage's sweep knows), and a failed write leaves no temp file."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    try:
        with open(tmp, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_atomic(path: str, data: bytes) -> None:
    """``data`` to ``path``, whole or not at all (:func:`write_atomic_with`)."""
    write_atomic_with(path, lambda fh: fh.write(data))


def write_json_atomic(path: str, data: dict[str, Any]) -> None:
    write_atomic(path, (json.dumps(data, indent=2) + "\n").encode())


def file_checksum(path: str) -> tuple[int, str]:
    """(size in bytes, sha256 hex) of a file, read in chunks."""
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def encode_f32(values: np.ndarray) -> bytes:
    """A 1-d array is rows x 1, a 2-d one rows x dim."""
    array = np.ascontiguousarray(values, dtype="<f4")
    if array.ndim == 1:
        array = array.reshape(-1, 1)
    if array.ndim != 2:
        raise ValueError(f"a handed-over array is 1-d or 2-d, not {array.ndim}-d")
    data = array.tobytes()
    header = {
        "format": "float32-le",
        "rows": int(array.shape[0]),
        "dim": int(array.shape[1]),
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-(len(MAGIC) + 4 + len(text)) % _ALIGN)
    return MAGIC + struct.pack("<I", len(text)) + text + data


def write_f32(path: str, values: np.ndarray) -> None:
    write_atomic(path, encode_f32(values))


def read_f32(path: str, rows: int | None = None, dim: int | None = None) -> np.ndarray:
    """The rows x dim float32 array in ``path``; UsageError naming the file when it is missing,
    torn, fails its checksum, or has another shape than the caller expects."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except FileNotFoundError:
        raise UsageError(f"{path} is missing") from None
    if raw[: len(MAGIC)] != MAGIC or len(raw) < len(MAGIC) + 4:
        raise UsageError(
            f"{path} is not a checked float32 file (no header): written by an older version or "
            "by something else; the stage that writes it must run again"
        )
    (length,) = struct.unpack_from("<I", raw, len(MAGIC))
    start = len(MAGIC) + 4 + length
    try:
        header = json.loads(raw[len(MAGIC) + 4 : start])
        got_rows, got_dim, size = int(header["rows"]), int(header["dim"]), int(header["bytes"])
        digest = str(header["sha256"])
    except (ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"{path} has a torn or unreadable header ({exc})") from None
    data = raw[start:]
    if len(data) != size or size != got_rows * got_dim * 4:
        raise UsageError(
            f"{path} is torn: its header announces {got_rows} x {got_dim} floats ({size} bytes), "
            f"the file holds {len(data)} bytes after it"
        )
    if hashlib.sha256(data).hexdigest() != digest:
        raise UsageError(f"{path} does not match its checksum: it was changed after it was written")
    if (rows is not None and got_rows != rows) or (dim is not None and got_dim != dim):
        raise UsageError(
            f"{path} holds {got_rows} x {got_dim} floats, expected "
            f"{rows if rows is not None else 'any'} x {dim if dim is not None else 'any'}"
        )
    return np.frombuffer(data, dtype="<f4").reshape(got_rows, got_dim)
