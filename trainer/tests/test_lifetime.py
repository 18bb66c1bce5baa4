"""The trainer must exit when the worker that started it is killed (no orphaned training)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

CHILD = (
    "import sys, time; sys.path.insert(0, {root!r}); "
    "from ietrainer.lifetime import die_with_parent; die_with_parent(); "
    "open({ready!r}, 'w').close(); time.sleep(60)"
)
PARENT = (
    "import subprocess, sys, time; "
    "p = subprocess.Popen([sys.executable, '-c', {child!r}]); "
    "print(p.pid, flush=True); time.sleep(60)"
)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie has exited; it only waits to be reaped by init.
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "State:\tZ" not in status.read_text()


def test_child_dies_when_parent_is_killed(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    root = str(Path(__file__).resolve().parents[1])
    child = CHILD.format(root=root, ready=str(ready))
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT.format(child=child)], stdout=subprocess.PIPE, text=True
    )
    assert parent.stdout is not None
    child_pid = int(parent.stdout.readline())
    deadline = time.time() + 20
    while not ready.exists() and time.time() < deadline:
        time.sleep(0.05)
    assert ready.exists(), "child never called die_with_parent"
    assert _alive(child_pid)

    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.time() + 10
    while _alive(child_pid) and time.time() < deadline:
        time.sleep(0.05)
    assert not _alive(child_pid)
