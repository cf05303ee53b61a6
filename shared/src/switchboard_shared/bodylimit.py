"""Request limits checked before a body is read: `install_body_limit(app, max_bytes)`.

- A declared `Content-Length` over the limit is answered 413 at once by a pure ASGI middleware
  (`RequestLimits`, outermost of ours): the app is not called, the body is never read and the
  connection is closed, so the client stops sending.
- A streamed (chunked) body is counted as the app reads it (Starlette's
  `RequestBodyLimitMiddleware`, which FastAPI's body reading understands): the chunk that
  crosses the limit is never handed over, and the answer is a 413 problem.
- More than `max_headers` headers, or more than `max_header_bytes` of them, is answered 431 (the
  HTTP server caps a request head too: uvicorn's h11 at 16 KiB; this keeps a bound whichever
  server runs us).
- With a `ByteBudget`, the bytes of every body in flight count against one process-wide bound:
  a declared body is reserved whole before it is read, a streamed one as it arrives; one that
  does not fit is answered 503 "busy" with Retry-After (reason `busy`), so three hundred bodies
  held one byte short of complete cannot take the process's memory.
- A body must keep coming: after `grace_s`, at `min_rate` bytes a second on average (a
  connection that trickles a byte a second holds its buffers and a connection for ever). One
  that falls behind is answered 408 and the connection closed (reason `too_slow`). The request
  head has its own timer in the server (`httpserver.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.middleware.body_limit import RequestBodyLimitMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from switchboard_shared.budget import ByteBudget, Reservation
from switchboard_shared.metrics import ServiceMetrics
from switchboard_shared.problems import PROBLEM_JSON
from switchboard_shared.settings import CommonSettings

# Told of every refusal: the request's scope and the reason (`body_too_large`,
# `headers_too_large`), e.g. to count it where the service counts its other refusals.
OnRefused = Callable[[Scope, str], None]

DEFAULT_MAX_HEADERS = 100
DEFAULT_MAX_HEADER_BYTES = 32 * 1024
DEFAULT_GRACE_S = 10.0
DEFAULT_MIN_RATE = 16 * 1024  # bytes a second: far below any real client, far above a trickle
BUSY_RETRY_AFTER_S = 5
# A refused body up to this size (4 times the limit, within these bounds) is read and dropped
# before the 413, so that the client sees the answer rather than a reset connection.
DRAIN_MIN_BYTES = 4 * 1024 * 1024
DRAIN_MAX_BYTES = 32 * 1024 * 1024


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isascii() and text.isdigit() else None
    return None


def _streamed(scope: Scope) -> bool:
    """A body without a declared length follows (HTTP/1.1: chunked)."""
    return any(name == b"transfer-encoding" for name, _ in scope.get("headers", ()))


def _problem(
    status: int, title: str, detail: str, close: bool = True
) -> tuple[dict[str, Any], bytes]:
    document = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    body = json.dumps(document).encode()
    headers = [
        (b"content-type", PROBLEM_JSON.encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    if close:
        headers.append((b"connection", b"close"))
    start = {"type": "http.response.start", "status": status, "headers": headers}
    return start, body


def _too_large(exc: BaseException) -> bool:
    """The body limit's 413, alone or wrapped by task groups (as `BaseHTTPMiddleware` does)."""
    if isinstance(exc, BaseExceptionGroup):
        return all(_too_large(e) for e in exc.exceptions)
    return isinstance(exc, HTTPException) and exc.status_code == 413


async def _answer(
    send: Send,
    status: int,
    title: str,
    detail: str,
    headers: dict[str, str] | None = None,
    close: bool = True,
) -> None:
    start, body = _problem(status, title, detail, close)
    start["headers"] += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send(start)
    await send({"type": "http.response.body", "body": body})


class RequestLimits:
    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        *,
        max_headers: int = DEFAULT_MAX_HEADERS,
        max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES,
        on_refused: OnRefused | None = None,
        budget: ByteBudget | None = None,
        grace_s: float = DEFAULT_GRACE_S,
        min_rate: float = DEFAULT_MIN_RATE,
    ) -> None:
        if max_bytes < 0:
            raise ValueError("max_bytes must not be negative")
        self.app = RequestBodyLimitMiddleware(app, max_body_size=max_bytes)
        self.max_bytes = max_bytes
        self.max_headers = max_headers
        self.max_header_bytes = max_header_bytes
        self.on_refused = on_refused
        self.budget = budget
        self.grace_s = grace_s
        self.min_rate = min_rate

    def _refused(self, scope: Scope, reason: str) -> None:
        if self.on_refused is not None:
            self.on_refused(scope, reason)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = scope.get("headers", ())
        if len(headers) > self.max_headers or (
            sum(len(n) + len(v) for n, v in headers) > self.max_header_bytes
        ):
            detail = f"at most {self.max_headers} headers, {self.max_header_bytes} bytes in all"
            self._refused(scope, "headers_too_large")
            await _answer(send, 431, "Request header fields too large", detail)
            return
        declared = _declared_length(scope)
        if declared is not None and declared > self.max_bytes:
            detail = f"the limit is {self.max_bytes} bytes"
            self._refused(scope, "body_too_large")
            # A client that sends its whole body before reading the answer (most do) would see
            # the connection reset, not the 413, if it were closed with the body unread: a
            # body a little over the limit is read and dropped first (never kept, at the
            # pace), an absurd one is answered at once and the connection closed.
            drained = declared <= self._drain_bytes and await self._drain(receive, declared)
            await _answer(send, 413, "Content too large", detail, close=not drained)
            return

        if declared == 0 or (declared is None and not _streamed(scope)):
            await self.app(scope, receive, send)  # no body: nothing to bound or pace
            return
        reservation = Reservation(self.budget)
        if declared is not None and not reservation.add(declared):
            self._refused(scope, "busy")
            await self._busy(send)
            return
        try:
            await self._serve(scope, receive, send, reservation, declared)
        finally:
            reservation.close()

    @property
    def _drain_bytes(self) -> int:
        return min(max(4 * self.max_bytes, DRAIN_MIN_BYTES), DRAIN_MAX_BYTES)

    async def _drain(self, receive: Receive, declared: int) -> bool:
        """Read and drop a refused body; True once all of it came, at the pace."""
        try:
            async with asyncio.timeout(self.grace_s + declared / self.min_rate):
                while True:
                    message = await receive()
                    if message["type"] != "http.request":
                        return False
                    if not message.get("more_body", False):
                        return True
        except TimeoutError:
            return False

    async def _busy(self, send: Send) -> None:
        detail = "too many requests are being received at once; retry shortly"
        headers = {"Retry-After": str(BUSY_RETRY_AFTER_S)}
        await _answer(send, 503, "Busy", detail, headers)

    async def _serve(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        reservation: Reservation,
        declared: int | None,
    ) -> None:
        started = False
        begun = time.monotonic()
        received = 0
        done = False
        cut: asyncio.Future[str] = asyncio.get_running_loop().create_future()

        async def paced_receive() -> Message:
            """The next body message, if it comes at the pace (reserved, if it was not declared).

            A body that falls behind or does not fit is cut here: the app's read waits for ever
            and the request is answered from outside the app (frameworks turn an exception
            raised while they read a body into answers of their own)."""
            nonlocal received, done
            if done:
                return await receive()
            allowed = begun + self.grace_s + received / self.min_rate - time.monotonic()
            try:
                async with asyncio.timeout(max(allowed, 0.001)):
                    message = await receive()
            except TimeoutError:
                return await stop("too_slow")
            if message["type"] == "http.request":
                chunk = len(message.get("body", b""))
                received += chunk
                if declared is None and not reservation.add(chunk):
                    return await stop("busy")
                done = not message.get("more_body", False)
            return message

        async def stop(reason: str) -> Message:
            if not cut.done():
                cut.set_result(reason)
            await asyncio.Future()  # cancelled with the app
            raise AssertionError("unreachable")

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        serving: asyncio.Future[None] = asyncio.ensure_future(
            self.app(scope, paced_receive, watched_send)
        )
        either: set[asyncio.Future[Any]] = {serving, cut}
        try:
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        except BaseException:
            serving.cancel()
            raise
        if cut.done() and not serving.done():
            serving.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await serving
            reason = cut.result()
            self._refused(scope, reason)
            if started:
                return  # the answer had begun: the connection ends with it
            if reason == "busy":
                await self._busy(send)
            else:
                detail = f"the body must arrive at {self.min_rate:.0f} bytes a second or faster"
                await _answer(send, 408, "Request timeout", detail)
            return
        cut.cancel()
        try:
            serving.result()
        except Exception as exc:
            if started or not _too_large(exc):
                raise
            self._refused(scope, "body_too_large")
            await _answer(send, 413, "Content too large", f"the limit is {self.max_bytes} bytes")


def install_body_limit(
    app: FastAPI,
    max_bytes: int,
    *,
    metrics: ServiceMetrics | None = None,
    on_refused: OnRefused | None = None,
    budget: ByteBudget | None = None,
    common: CommonSettings | None = None,
) -> None:
    """Refuse request bodies over `max_bytes` before they are read, declared or streamed, bodies
    that do not fit in `budget`, and bodies that stop coming (call once, before the first
    request). Each refusal is counted in `<prefix>_rejected_total` (reason `body_too_large`,
    `headers_too_large`, `busy` or `too_slow`) when `metrics` is given, and `on_refused` hears
    of it too. The pace comes from `common` (`SWITCHBOARD_REQUEST_BODY_GRACE_S`,
    `SWITCHBOARD_REQUEST_BODY_MIN_RATE`)."""

    def refused(scope: Scope, reason: str) -> None:
        if metrics is not None:
            metrics.rejected.labels(reason).inc()
        if on_refused is not None:
            on_refused(scope, reason)

    app.add_middleware(
        RequestLimits,
        max_bytes=max_bytes,
        on_refused=refused,
        budget=budget,
        grace_s=common.request_body_grace_s if common else DEFAULT_GRACE_S,
        min_rate=common.request_body_min_rate if common else DEFAULT_MIN_RATE,
    )
