"""Timing and the printed results: percentiles, a latency line, the ratio against a baseline
with its verdict, and the order of alternating rounds."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import TypeVar

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
