"""A request-body limit checked before the body is read: `install_body_limit(app, max_bytes)`.

A pure ASGI middleware, outermost, so nothing in the app can buffer past the limit:

- a declared `Content-Length` over the limit is answered 413 at once; the app is not called and
  the body is never read (the connection is closed, so the client stops sending);
- a streamed (chunked) body is counted as the app reads it; the chunk that crosses the limit is
  not handed over, the read raises `BodyTooLarge` (an HTTP 413 exception, which problem handlers
  render) and, if nothing has been answered yet, the middleware answers 413 itself;
- more than `max_headers` headers, or more than `max_header_bytes` of them, is answered 431
  (the HTTP server caps a request head too; this keeps the bound whichever server runs us).
"""

from __future__ import annotations

import json
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from switchboard_shared.problems import PROBLEM_JSON

DEFAULT_MAX_HEADERS = 100
DEFAULT_MAX_HEADER_BYTES = 32 * 1024


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the body is larger than the limit of {limit} bytes")


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


async def _answer(send: Send, status: int, title: str, detail: str) -> None:
    start, body = _problem(status, title, detail)
    await send(start)
    await send({"type": "http.response.body", "body": body})


class BodyLimit:
    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        *,
        max_headers: int = DEFAULT_MAX_HEADERS,
        max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES,
    ) -> None:
        if max_bytes < 0:
            raise ValueError("max_bytes must not be negative")
        self.app = app
        self.max_bytes = max_bytes
        self.max_headers = max_headers
        self.max_header_bytes = max_header_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = scope.get("headers", ())
        if len(headers) > self.max_headers or (
            sum(len(n) + len(v) for n, v in headers) > self.max_header_bytes
        ):
            detail = f"at most {self.max_headers} headers, {self.max_header_bytes} bytes in all"
            await _answer(send, 431, "Request header fields too large", detail)
            return
        declared = _declared_length(scope)
        if declared is not None and declared > self.max_bytes:
            detail = f"the limit is {self.max_bytes} bytes"
            await _answer(send, 413, "Content too large", detail)
            return

        limit = self.max_bytes
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, watched_send)
        except BodyTooLarge:
            if started:
                raise
            await _answer(send, 413, "Content too large", f"the limit is {limit} bytes")


def install_body_limit(app: Any, max_bytes: int) -> None:
    """Refuse bodies over `max_bytes` before they are read (call once, after other middleware,
    so it runs first)."""
    app.add_middleware(BodyLimit, max_bytes=max_bytes)
