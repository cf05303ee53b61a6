"""The services' HTTP server (uvicorn with `guarded_http`) on a real socket, with httptools'
parser (what the services run) and with h11's: a request head that never completes, or grows
past the bound, is cut off, on a new connection and on a kept-alive one; complete requests are
served as before."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator

import pytest
import uvicorn
from fastapi import FastAPI

from support.conditions import eventually
from support.ports import free_port
from switchboard_shared.httpserver import (
    MAX_HEAD_BYTES,
    GuardedHttpToolsProtocol,
    guarded_h11,
    guarded_http,
)

pytestmark = [pytest.mark.integration, pytest.mark.parametrize("parser", ["httptools", "h11"])]

HEAD_TIMEOUT_S = 0.5


def make_app() -> FastAPI:
    app = FastAPI()

    @app.get("/hello")
    async def hello() -> dict[str, str]:
        return {"hello": "world"}

    @app.get("/slow")
    async def slow() -> dict[str, bool]:
        await asyncio.sleep(3 * HEAD_TIMEOUT_S)  # the head arrived; the answer takes a while
        return {"done": True}

    return app


@contextlib.asynccontextmanager
async def server(parser: str) -> AsyncIterator[int]:
    app = make_app()
    port = free_port()
    if parser == "httptools":
        assert GuardedHttpToolsProtocol is not None, "httptools is a dependency of the services"
        protocol = guarded_http(HEAD_TIMEOUT_S)
    else:
        protocol = guarded_h11(HEAD_TIMEOUT_S)
    config = uvicorn.Config(app, port=port, http=protocol, log_config=None, lifespan="off")
    instance = uvicorn.Server(config)
    serving = asyncio.create_task(instance.serve())

    async def started() -> bool:
        return bool(instance.started)

    await eventually(started, timeout=30, interval=0.01, what="uvicorn to start")
    try:
        yield port
    finally:
        instance.should_exit = True
        await serving


def closed_within(sock: socket.socket, seconds: float) -> float | None:
    """Seconds until the server closed the connection (reading what it sent), or None."""
    started = time.monotonic()
    sock.settimeout(seconds)
    try:
        while sock.recv(4096):
            pass
    except TimeoutError:
        return None
    except ConnectionResetError:  # closed with bytes of ours unread
        pass
    return time.monotonic() - started


REQUEST = b"GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"


def a_slow_head(port: int) -> float | None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"GET /hello HTTP/1.1\r\nHost: t\r\n")  # and never the blank line
        return closed_within(sock, 10 * HEAD_TIMEOUT_S)


def silence(port: int) -> float | None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        return closed_within(sock, 10 * HEAD_TIMEOUT_S)


def an_endless_head(port: int) -> float | None:
    """A head that keeps coming, fast, and never ends: closed once it passes the bound."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"GET /hello HTTP/1.1\r\nHost: t\r\n")
        started = time.monotonic()
        try:
            for i in range(2 * MAX_HEAD_BYTES // 1000):
                sock.sendall(b"X-Filler-%d: %s\r\n" % (i, b"a" * 1000))
        except OSError:  # reset by the server: it closed with our bytes unread
            return time.monotonic() - started
        return closed_within(sock, 10 * HEAD_TIMEOUT_S)


def answered_then_junk(port: int) -> tuple[bytes, float | None]:
    """A request followed at once by bytes that are no request: the answer, then the close."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(REQUEST + b"\x00 not http \x00\r\n\r\n")
        sock.settimeout(5)
        answer = b""
        while b'"world"}' not in answer:
            answer += sock.recv(4096)
        return answer, closed_within(sock, 10 * HEAD_TIMEOUT_S)


def served_then_a_slow_second_head(port: int) -> tuple[bytes, float | None]:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(REQUEST)
        sock.settimeout(5)
        answer = b""
        while b'"world"}' not in answer:
            answer += sock.recv(4096)
        sock.sendall(b"GET /hello HTTP/1.1\r\n")  # the next request starts, then stalls
        return answer, closed_within(sock, 10 * HEAD_TIMEOUT_S)


async def test_a_head_that_never_completes_is_cut_off(parser: str) -> None:
    async with server(parser) as port:
        took = await asyncio.to_thread(a_slow_head, port)
        assert took is not None, "the connection was kept open"
        assert took < 5 * HEAD_TIMEOUT_S


async def test_a_head_past_the_bound_is_cut_off_before_the_timeout(parser: str) -> None:
    async with server(parser) as port:
        took = await asyncio.to_thread(an_endless_head, port)
        assert took is not None, "the connection was kept open"
        assert took < HEAD_TIMEOUT_S


async def test_junk_behind_a_request_is_answered_after_it_then_the_connection_closed(
    parser: str,
) -> None:
    async with server(parser) as port:
        answer, took = await asyncio.to_thread(answered_then_junk, port)
        assert answer.startswith(b"HTTP/1.1 200 OK"), answer[:200]
        assert took is not None, "the connection was kept open"


async def test_a_connection_that_sends_nothing_is_closed(parser: str) -> None:
    async with server(parser) as port:
        assert await asyncio.to_thread(silence, port) is not None


async def test_a_kept_alive_connection_is_served_and_its_next_slow_head_cut_off(
    parser: str,
) -> None:
    async with server(parser) as port:
        answer, took = await asyncio.to_thread(served_then_a_slow_second_head, port)
        assert answer.startswith(b"HTTP/1.1 200 OK")
        assert took is not None, "the second, slow head kept the connection"


def fetch_slow(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET /slow HTTP/1.1\r\nHost: t\r\n\r\n")
        answer = b""
        while b"}" not in answer:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
        return answer


async def test_a_request_that_takes_longer_than_the_head_timeout_is_not_cut(parser: str) -> None:
    async with server(parser) as port:
        assert b'{"done":true}' in await asyncio.to_thread(fetch_slow, port)
