"""Machine-readable progress on stdout (one JSON object per line) and human logs on stderr."""

from __future__ import annotations

import json
import math
import sys
from typing import Any


def _clean(value: Any) -> Any:
    # JSON has no NaN/Infinity; the TypeScript side parses with JSON.parse.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def emit(event: str, **fields: Any) -> None:
    """Write one event line to stdout and flush so the driver sees it immediately."""
    record = {"event": event, **fields}
    sys.stdout.write(json.dumps(_clean(record), separators=(",", ":")) + "\n")
    sys.stdout.flush()


def log(message: str) -> None:
    """Human-readable diagnostics; stderr keeps stdout parseable."""
    sys.stderr.write(message + "\n")
    sys.stderr.flush()
