"""Timing and the printed results: percentiles, a latency line, the ratio against a baseline
with its verdict, the order of alternating rounds, and the CPU and memory the processes used
(`Usage`, from /proc)."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import TypeVar

from support.proc import MemoryWatch, tree_cpu_seconds

T = TypeVar("T")


def percentile(values: Sequence[float], p: float) -> float:
    """The value below which a share `p` (0..1) of `values` lies (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def latency_line(seconds: Sequence[float]) -> str:
    """`p50 … ms   p99 … ms   mean … ms` of latencies given in seconds."""
    p50, p99 = percentile(seconds, 0.5) * 1000, percentile(seconds, 0.99) * 1000
    mean = statistics.fmean(seconds) * 1000
    return f"p50 {p50:6.1f} ms   p99 {p99:6.1f} ms   mean {mean:6.1f} ms"


def ratio_line(label: str, ratio: float, target: float, note: str = "") -> str:
    """`  <label>: 0.85  -> meets the 0.8 target<note>` (BELOW when under the target)."""
    verdict = "meets" if ratio >= target else "BELOW"
    return f"  {label}: {ratio:.2f}  -> {verdict} the {target} target{note}"


def alternating(contenders: Sequence[T], round_no: int) -> list[T]:
    """The contenders in their order on even rounds, reversed on odd ones, so that neither
    always runs first on a shared, noisy machine."""
    return list(contenders) if round_no % 2 == 0 else list(reversed(contenders))


class Usage:
    """CPU seconds spent and peak resident memory of process trees (by name) while the block
    runs, read from /proc; `per_event` divides the CPU by the events handled."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.cpu_s: dict[str, float] = {}
        self._memory = MemoryWatch(pids)
        self._start: dict[str, float] = {}

    def __enter__(self) -> Usage:
        self._start = {name: tree_cpu_seconds(pid) for name, pid in self.pids.items()}
        self._memory.__enter__()
        return self

    def __exit__(self, *_: object) -> None:
        self._memory.__exit__()
        self.cpu_s = {
            name: tree_cpu_seconds(pid) - self._start[name] for name, pid in self.pids.items()
        }

    @property
    def peak_rss(self) -> dict[str, int]:
        return dict(self._memory.peak)

    def line(self, events: int | dict[str, int]) -> str:
        """`cpu/event: a 0.41 ms, b 0.20 ms   peak RSS: a 92 MB, b 60 MB`; `events` is the count
        every process handled, or each one's own."""
        count = events if isinstance(events, dict) else dict.fromkeys(self.cpu_s, events)
        cpu = ", ".join(f"{n} {s / max(count[n], 1) * 1000:.2f} ms" for n, s in self.cpu_s.items())
        rss = ", ".join(f"{n} {b / 2**20:.0f} MB" for n, b in self.peak_rss.items())
        return f"cpu/event: {cpu}   peak RSS: {rss}"
