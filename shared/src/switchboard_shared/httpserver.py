"""The HTTP server's own guard against clients that never finish a request head.

uvicorn (h11) closes an idle keep-alive connection, but a connection that sends its request
head a byte at a time, or nothing at all, is kept for ever: each holds a socket and its buffers,
and a few thousand take a service down. `guarded_h11(head_timeout_s)` is uvicorn's h11 protocol
with one more timer: a request head must be complete within `head_timeout_s` of the connection
opening, or of the first byte of the next request on a kept-alive connection; otherwise the
connection is closed. Slow bodies are the body limit's business (`bodylimit.py`).
"""

from __future__ import annotations

import asyncio
import logging

from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger(__name__)


class GuardedH11Protocol(H11Protocol):
    head_timeout_s = 10.0
    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._waiting_for_head():
            if self._head_timer is None:
                self._arm()
        else:
            self._disarm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _waiting_for_head(self) -> bool:
        return self.cycle is None or self.cycle.response_complete

    def _arm(self) -> None:
        self._disarm()
        self._head_timer = self.loop.call_later(self.head_timeout_s, self._too_slow)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _too_slow(self) -> None:
        self._head_timer = None
        if self._waiting_for_head() and not self.transport.is_closing():
            log.info("request head not complete in time; connection closed")
            self.transport.close()


def guarded_h11(head_timeout_s: float) -> type[GuardedH11Protocol]:
    """The protocol class to give uvicorn (`http=`), with this head timeout."""
    return type("GuardedH11Protocol", (GuardedH11Protocol,), {"head_timeout_s": head_timeout_s})
