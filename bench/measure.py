"""Runs a command and writes, as JSON to OUT.json, its wall time, the CPU time of it and every
descendant it waited for (user + sys), and the peak of the summed RSS of its process tree (sampled
every 50 ms from /proc, so short-lived children are counted while they live). Linux only; stdlib
only.

    python3 bench/measure.py OUT.json -- CMD ARG...
"""

import json
import os
import resource
import subprocess
import sys
import time


def children_of() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read().decode("latin1")
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        tree.setdefault(ppid, []).append(int(name))
    return tree


def tree_rss_bytes(root: int) -> int:
    tree = children_of()
    total, stack = 0, [root]
    page = os.sysconf("SC_PAGE_SIZE")
    while stack:
        pid = stack.pop()
        try:
            with open(f"/proc/{pid}/statm") as f:
                total += int(f.read().split()[1]) * page
        except OSError:
            pass
        stack.extend(tree.get(pid, []))
    return total


def main() -> None:
    out_path, sep, *cmd = sys.argv[1:]
    assert sep == "--" and cmd, __doc__
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    proc = subprocess.Popen(cmd)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, tree_rss_bytes(proc.pid))
        time.sleep(0.05)
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    with open(out_path, "w") as f:
        peak_mb = peak / 2**20
        json.dump({"rc": proc.returncode, "wall_s": wall, "cpu_s": cpu, "peak_rss_mb": peak_mb}, f)
    sys.exit(proc.returncode)


if __name__ == "__main__":
    main()
