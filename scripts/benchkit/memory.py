"""Memory and machine facts from ``/proc``: peak resident sets (VmHWM) of the driver, the JVM
and the Python workers, reset before each fit where the kernel allows it."""

from __future__ import annotations

import contextlib
import os
import platform
import resource
from typing import Any

import numpy as np


def _status_kb(pid: int, key: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _descendants(root: int) -> list[int]:
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                parents[int(entry)] = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    found: list[int] = []
    frontier = [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent]
        found.extend(children)
        frontier.extend(children)
    return found


class MemoryProbe:
    """Peak resident sets (VmHWM) of the driver, the JVM and the Python workers."""

    def __init__(self, jvm: int | None) -> None:
        self.jvm = jvm
        self.resettable = False

    def _groups(self) -> dict[str, list[int]]:
        groups = {"driver_py": [os.getpid()]}
        if self.jvm is not None:
            groups["jvm"] = [self.jvm]
            groups["workers_py"] = _descendants(self.jvm)
        return groups

    def reset(self) -> None:
        """Reset every peak to the current RSS (Linux ``clear_refs`` 5), where allowed."""
        ok = True
        for pids in self._groups().values():
            for pid in pids:
                try:
                    with open(f"/proc/{pid}/clear_refs", "w") as fh:
                        fh.write("5")
                except OSError:
                    ok = False
        self.resettable = ok

    def peak_mb(self) -> dict[str, float]:
        groups = self._groups()
        out = {
            name: sum(_status_kb(pid, "VmHWM") for pid in pids) / 1024.0
            for name, pids in groups.items()
        }
        out["workers_n"] = float(len(groups.get("workers_py", [])))
        return out


def merge_peaks(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
    return {key: max(a.get(key, 0.0), b.get(key, 0.0)) for key in {*a, *b}}


def memory_record(
    peaks: dict[str, dict[str, float]],
    probe: MemoryProbe,
    x: np.ndarray,
    spark_storage: list[dict[str, Any]],
) -> dict[str, Any]:
    """The JSON's ``memory``: peaks per variant, the raw array against ours' resident blocks
    (rows x d x itemsize, computed), the driver's ru_maxrss, Spark's storage."""
    n, d = x.shape
    return {
        "peaks_mb": peaks,
        "peaks_reset": probe.resettable,
        "raw_numpy_bytes": int(x.nbytes),
        "blocks_f64_bytes": n * d * 8,
        "blocks_f32_bytes": n * d * 4,
        "driver_ru_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "spark_storage": spark_storage,
    }


def machine() -> dict[str, Any]:
    """CPUs, platform, memory and load at the start, for the JSON."""
    return {
        "nproc": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "platform": platform.platform(),
        "mem_total_kb": _meminfo_total_kb(),
        "loadavg_start": list(os.getloadavg()),
    }


def _meminfo_total_kb() -> int:
    with contextlib.suppress(OSError, ValueError), open("/proc/meminfo") as fh:
        return int(fh.readline().split()[1])
    return 0
