"""The HTTP server's own guard against clients that never finish a request head.

uvicorn closes an idle keep-alive connection, but a connection that sends its request head a
byte at a time, or nothing at all, is kept for ever: each holds a socket and its buffers, and a
few thousand take a service down. `guarded_http(head_timeout_s)` is uvicorn's HTTP protocol with
one more timer: a request head must be complete within `head_timeout_s` of the connection
opening, or of the first byte of the next request on a kept-alive connection; otherwise the
connection is closed. A head must also fit in `MAX_HEAD_BYTES`: h11 enforces its own 16 KiB,
httptools has no bound of its own, so the guard counts the bytes that arrive while a head is
incomplete and closes the connection past the bound.

The protocol is httptools' (a C parser, several times cheaper per request) when httptools is
installed, else h11's; `guarded_h11` names the h11 one. Slow bodies are the body limit's
business (`bodylimit.py`).
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger(__name__)

MAX_HEAD_BYTES = 64 * 1024


class HeadGuard:
    """The timer and the size bound, mixed into a uvicorn protocol class (before it)."""

    head_timeout_s = 10.0
    max_head_bytes = MAX_HEAD_BYTES
    _head_timer: asyncio.TimerHandle | None = None
    _head_bytes = 0
    # Provided by the uvicorn protocol this is mixed into.
    cycle: Any
    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)  # type: ignore[misc]
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)  # type: ignore[misc]
        if not self._waiting_for_head():
            self._disarm()
            return
        self._head_bytes += len(data)
        if self._head_bytes > self.max_head_bytes:
            self._close("request head too large")
        elif self._head_timer is None:
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)  # type: ignore[misc]

    def _waiting_for_head(self) -> bool:
        return self.cycle is None or bool(self.cycle.response_complete)

    def _arm(self) -> None:
        self._disarm()
        self._head_timer = self.loop.call_later(self.head_timeout_s, self._too_slow)

    def _disarm(self) -> None:
        self._head_bytes = 0
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _too_slow(self) -> None:
        self._head_timer = None
        if self._waiting_for_head():
            self._close("request head not complete in time")

    def _close(self, why: str) -> None:
        if not self.transport.is_closing():
            log.info("%s; connection closed", why)
            self.transport.close()


class GuardedH11Protocol(HeadGuard, H11Protocol):  # type: ignore[misc]
    pass


def _httptools_protocol() -> type[Any] | None:
    if importlib.util.find_spec("httptools") is None:
        return None
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class GuardedHttpTools(HeadGuard, HttpToolsProtocol):  # type: ignore[misc]
        def send_400_response(self, msg: str) -> None:
            """Bytes that do not parse, behind a request still being answered (a GET with a
            body, a client that pipelines junk): that request is answered first, then the
            connection closes, as with h11; uvicorn's httptools protocol would write its 400
            at once, ahead of the answer the client is waiting for."""
            if self.cycle is not None and not self.cycle.response_complete:
                self.cycle.keep_alive = False
                return
            super().send_400_response(msg)

    return GuardedHttpTools


GuardedHttpToolsProtocol = _httptools_protocol()


def guarded_h11(head_timeout_s: float) -> type[GuardedH11Protocol]:
    """The h11 protocol class to give uvicorn (`http=`), with this head timeout."""
    return type("GuardedH11Protocol", (GuardedH11Protocol,), {"head_timeout_s": head_timeout_s})


def guarded_http(head_timeout_s: float) -> type[Any]:
    """The protocol class the services give uvicorn (`http=`): httptools' when installed,
    else h11's, with this head timeout."""
    base: type[Any] = GuardedHttpToolsProtocol or GuardedH11Protocol
    return type(base.__name__, (base,), {"head_timeout_s": head_timeout_s})
