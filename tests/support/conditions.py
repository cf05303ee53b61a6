"""Waiting on a condition, never on time: a generous deadline that a passing test never uses."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any


async def eventually(
    check: Callable[[], Awaitable[Any]],
    timeout: float = 60.0,
    interval: float = 0.1,
    what: str = "condition",
) -> Any:
    """The first truthy result of `check`; fails after `timeout` seconds with the last one."""
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout}s (last: {result!r})")
        await asyncio.sleep(interval)
