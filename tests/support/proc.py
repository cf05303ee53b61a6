"""A process tree's memory and CPU time, read from /proc (Linux): what a service and its
children hold and have spent.

`tree_rss(pid)` sums the resident set of the process and every descendant (ingest-mail parses
in worker processes forked from a forkserver, grand-children of the service). `MemoryWatch`
samples that sum in a thread while something runs and reports the peak growth over the
baseline; it also resets and reads the main process's own high-water mark (`VmHWM`), so a spike
shorter than the sampling interval is not missed.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from pathlib import Path

PROC = Path("/proc")


def _status(pid: int) -> dict[str, str]:
    try:
        text = (PROC / str(pid) / "status").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return {}
    fields = {}
    for line in text.splitlines():
        name, _, value = line.partition(":")
        fields[name] = value.strip()
    return fields


def _kib(value: str | None) -> int:
    """`12345 kB` → bytes; 0 when absent (a zombie has no VmRSS)."""
    if not value:
        return 0
    return int(value.split()[0]) * 1024


def rss_bytes(pid: int) -> int:
    return _kib(_status(pid).get("VmRSS"))


def peak_rss_bytes(pid: int) -> int:
    """The process's resident high-water mark (since it started or since `reset_peak`)."""
    return _kib(_status(pid).get("VmHWM"))


def reset_peak(pid: int) -> bool:
    """Reset `VmHWM` to the current resident size (Linux ≥ 4.0, our own processes)."""
    try:
        (PROC / str(pid) / "clear_refs").write_text("5")
    except OSError:
        return False
    return True


def children(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(FileNotFoundError, ProcessLookupError):
        for task in (PROC / str(pid) / "task").iterdir():
            with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                found += [int(p) for p in (task / "children").read_text().split()]
    return found


def descendants(pid: int) -> list[int]:
    """The process and everything it started, transitively."""
    seen = [pid]
    index = 0
    while index < len(seen):
        seen += [c for c in children(seen[index]) if c not in seen]
        index += 1
    return seen


def tree_rss(pid: int) -> int:
    return sum(rss_bytes(p) for p in descendants(pid))


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time the process has used so far (0 when it is gone)."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return 0.0
    # The command name is in parentheses and may hold spaces: the fields follow its last ")".
    fields = stat[stat.rindex(")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
    return (utime + stime) / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid: int) -> float:
    """CPU time of the process and of its living descendants."""
    return sum(cpu_seconds(p) for p in descendants(pid))


class MemoryWatch:
    """Peak resident growth of process trees while the watch runs (a sampling thread)."""

    def __init__(self, pids: dict[str, int], interval_s: float = 0.05) -> None:
        self.pids = pids
        self.interval_s = interval_s
        self.baseline = {name: tree_rss(pid) for name, pid in pids.items()}
        self.peak = dict(self.baseline)
        self._own_baseline = {name: rss_bytes(pid) for name, pid in pids.items()}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="memory-watch", daemon=True)

    def __enter__(self) -> MemoryWatch:
        for pid in self.pids.values():
            reset_peak(pid)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()
        for name, pid in self.pids.items():
            # The main process's own peak, however short, on top of its children's baseline.
            own_peak = peak_rss_bytes(pid) - self._own_baseline[name]
            self.peak[name] = max(self.peak[name], self.baseline[name] + own_peak)

    def _sample(self) -> None:
        for name, pid in self.pids.items():
            self.peak[name] = max(self.peak[name], tree_rss(pid))

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._sample()

    def growth(self) -> dict[str, int]:
        """Bytes the peak reached over the baseline, per tree."""
        return {name: self.peak[name] - self.baseline[name] for name in self.pids}


def wait_idle(pid: int, timeout: float = 5.0) -> None:
    """Give a process tree a moment to settle (its resident size stops moving) before a
    baseline is taken; returns at the timeout whatever it does."""
    deadline = time.monotonic() + timeout
    last = tree_rss(pid)
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now = tree_rss(pid)
        if abs(now - last) < 1024 * 1024:
            return
        last = now
