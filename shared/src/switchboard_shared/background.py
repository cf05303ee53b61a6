"""Work that runs beside a service's app for as long as it runs (relays, feeds, gauges)."""

from __future__ import annotations

import asyncio
import contextlib


class Background:
    """`start()` runs `_run()` as a task named `task_name`; `stop()` cancels it and waits."""

    task_name = "background"

    _task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.task_name)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        raise NotImplementedError
