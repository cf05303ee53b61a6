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
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.middleware.body_limit import RequestBodyLimitMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from switchboard_shared.metrics import ServiceMetrics
from switchboard_shared.problems import PROBLEM_JSON

# Told of every refusal: the request's scope and the reason (`body_too_large`,
# `headers_too_large`), e.g. to count it where the service counts its other refusals.
OnRefused = Callable[[Scope, str], None]

DEFAULT_MAX_HEADERS = 100
DEFAULT_MAX_HEADER_BYTES = 32 * 1024


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isascii() and text.isdigit() else None
    return None


def _problem(status: int, title: str, detail: str) -> tuple[dict[str, Any], bytes]:
    document = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    body = json.dumps(document).encode()
    start = {
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", PROBLEM_JSON.encode()),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ],
    }
    return start, body


def _too_large(exc: BaseException) -> bool:
    """The body limit's 413, alone or wrapped by task groups (as `BaseHTTPMiddleware` does)."""
    if isinstance(exc, BaseExceptionGroup):
        return all(_too_large(e) for e in exc.exceptions)
    return isinstance(exc, HTTPException) and exc.status_code == 413


async def _answer(send: Send, status: int, title: str, detail: str) -> None:
    start, body = _problem(status, title, detail)
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
    ) -> None:
        if max_bytes < 0:
            raise ValueError("max_bytes must not be negative")
        self.app = RequestBodyLimitMiddleware(app, max_body_size=max_bytes)
        self.max_bytes = max_bytes
        self.max_headers = max_headers
        self.max_header_bytes = max_header_bytes
        self.on_refused = on_refused

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
            await _answer(send, 413, "Content too large", detail)
            return

        started = False

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watched_send)
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
) -> None:
    """Refuse request bodies over `max_bytes` before they are read, declared or streamed (call
    once, before the first request). Each refusal is counted in `<prefix>_rejected_total`
    (reason `body_too_large` or `headers_too_large`) when `metrics` is given, and `on_refused`
    hears of it too."""

    def refused(scope: Scope, reason: str) -> None:
        if metrics is not None:
            metrics.rejected.labels(reason).inc()
        if on_refused is not None:
            on_refused(scope, reason)

    app.add_middleware(RequestLimits, max_bytes=max_bytes, on_refused=refused)
