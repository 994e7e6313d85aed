"""How many torch threads a CPU training should start with: the CPUs it may use that other
processes leave free.

torch starts one thread per CPU. Beside another job that keeps one of the cores busy,
those threads meet at every parallel operator and wait for the one that shares its core,
and a training runs several times slower than with one thread fewer (BENCHMARKS.md,
"Torch threads"). So training on the CPU samples, once at its start, how busy each CPU of
the process's affinity set is, and takes one thread per CPU that is mostly idle (at least
one). OMP_NUM_THREADS, when set, is the user's choice and is kept.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

BUSY_SHARE = 0.5  # a CPU busy more than half of the sample is taken by another process
PROC_STAT = Path("/proc/stat")


def cpu_times(stat_text: str) -> dict[int, tuple[int, int]]:
    """{cpu: (busy, total)} jiffies from the per-CPU lines of /proc/stat's text (idle and
    iowait count as not busy)."""
    out: dict[int, tuple[int, int]] = {}
    for line in stat_text.splitlines():
        name, *fields = line.split()
        if not name.startswith("cpu") or name == "cpu" or not name[3:].isdigit():
            continue
        ticks = [int(f) for f in fields[:8]]
        idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)
        out[int(name[3:])] = (sum(ticks) - idle, sum(ticks))
    return out


def free_cpus(before: str, after: str, cpus: set[int]) -> int:
    """How many of `cpus` were busy at most BUSY_SHARE of the time between two /proc/stat
    texts (a CPU with no ticks between them counts as free)."""
    t0, t1 = cpu_times(before), cpu_times(after)
    free = 0
    for cpu in cpus:
        if cpu not in t0 or cpu not in t1:
            free += 1
            continue
        busy, total = (t1[cpu][0] - t0[cpu][0]), (t1[cpu][1] - t0[cpu][1])
        free += total <= 0 or busy / total <= BUSY_SHARE
    return free


def training_threads(sample_s: float = 0.3) -> int | None:
    """Torch threads for a CPU training: one per usable CPU left mostly idle by other
    processes over `sample_s` seconds (at least 1); None when OMP_NUM_THREADS is set, in a
    distributed run, or when the CPUs cannot be read (torch's own choice stands)."""
    if os.environ.get("OMP_NUM_THREADS") or os.environ.get("WORLD_SIZE", "1") != "1":
        return None  # the user's choice, or one of several training processes
    try:
        cpus = set(os.sched_getaffinity(0))
        before = PROC_STAT.read_text()
        time.sleep(sample_s)
        after = PROC_STAT.read_text()
        return max(1, free_cpus(before, after, cpus))
    except (OSError, AttributeError, ValueError, IndexError):
        return None  # no /proc (not Linux), or a /proc/stat of another shape
