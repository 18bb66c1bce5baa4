#!/usr/bin/python3
"""A Python interpreter that records each process's wall and CPU time and peak RSS (bench/scale.ts).

Set IE_PYTHON to this file and IE_BENCH_RSS_LOG to a file: every Python process a stage starts (the
trainer, the GP, the linear probe) runs as before, under IE_BENCH_PYTHON (default /usr/bin/python3),
and one JSON line {"module", "seconds", "cpuSeconds", "peakRssMb", "code"} is appended to the log
when it exits. CPU time and peak RSS are os.wait4's rusage of that child (and of anything it started
and waited for), so they are the process's own figures, not the worker's.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from types import FrameType


def main() -> int:
    python = os.environ.get("IE_BENCH_PYTHON", "/usr/bin/python3")
    args = sys.argv[1:]
    module = args[args.index("-m") + 1] if "-m" in args[:-1] else " ".join(args[:1])
    started = time.monotonic()
    child = subprocess.Popen([python, *args])

    def forward(signum: int, _frame: FrameType | None) -> None:
        child.send_signal(signum)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, forward)
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = code = os.waitstatus_to_exitcode(status)
    log = os.environ.get("IE_BENCH_RSS_LOG")
    if log:
        line = {
            "module": module,
            "seconds": round(time.monotonic() - started, 3),
            "cpuSeconds": round(usage.ru_utime + usage.ru_stime, 3),
            "peakRssMb": round(usage.ru_maxrss / 1024, 1),  # KiB on Linux
            "code": code,
        }
        with open(log, "a", encoding="utf8") as f:
            f.write(json.dumps(line) + "\n")
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main())
