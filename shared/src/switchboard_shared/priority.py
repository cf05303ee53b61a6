"""Live traffic first: the history consumers wait while live work is in hand.

The classifier and crm-store read imported history (`*.history.v1`) in consumers of their own,
beside the live ones, on the same event loop. Before each history message (or batch),
`LiveFirst.turn()` waits until no live message is being handled and none was for `quiet_s`; so
a live message waits at most for the one history message (or batch) already in hand, never for
a backlog of 200,000. A history consumer that has waited `max_wait_s` takes its turn anyway, so
constant live traffic slows history down without starving it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator


class LiveFirst:
    def __init__(self, quiet_s: float = 0.05, max_wait_s: float = 5.0) -> None:
        self.quiet_s = quiet_s
        self.max_wait_s = max_wait_s
        self._busy = 0
        self._last_live = 0.0
        self._idle = asyncio.Event()
        self._idle.set()

    @contextlib.contextmanager
    def live(self) -> Iterator[None]:
        """Around the handling of one live message."""
        self._busy += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._busy -= 1
            self._last_live = time.monotonic()
            if self._busy == 0:
                self._idle.set()

    @property
    def live_busy(self) -> bool:
        return self._busy > 0 or time.monotonic() - self._last_live < self.quiet_s

    async def turn(self) -> None:
        """Wait for a history message's turn."""
        deadline = time.monotonic() + self.max_wait_s
        while time.monotonic() < deadline:
            left = deadline - time.monotonic()
            if self._busy:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._idle.wait(), left)
                continue
            quiet = time.monotonic() - self._last_live
            if quiet >= self.quiet_s:
                return
            await asyncio.sleep(min(self.quiet_s - quiet, left))
