"""Running a bench area: `async def bench(bootstrap, workdir)` in `scripts/bench_<area>.py`,
on a broker of its own with every Switchboard topic created."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

from harness import BENCH_DIR
from harness.kafka import broker_with_topics

Bench = Callable[[str, Path], Awaitable[None]]


async def run_area(area: str, bench: Bench, workdir: Path = BENCH_DIR) -> None:
    """A fresh broker per area: one area's records (e.g. the classifier's output on
    interactions.classified.v1) must not become the next one's input."""
    await asyncio.to_thread(workdir.mkdir, parents=True, exist_ok=True)
    async with broker_with_topics(workdir / f"broker-{area}.log") as bootstrap:
        await bench(bootstrap, workdir)
