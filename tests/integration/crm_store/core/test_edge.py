"""crm-store's edge as an outsider meets it, served by uvicorn on a real socket (SQLite and
PostgreSQL): bodies over the limit are refused before they are read, strangers are refused
before their bodies are read, every answer carries security headers, and /docs loads nothing
from elsewhere.

A refusal "before reading" is proven by answering while the client has sent only a sliver of
the body it announced (or streams one that never ends): a server that read first would wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
import pytest_asyncio
import uvicorn
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_store.app import create_app
from crm_store.config import Settings
from switchboard_shared.httpserver import guarded_http

pytestmark = pytest.mark.integration

Sessions = async_sessionmaker[AsyncSession]
LIMIT = 256 * 1024
ANSWER_WITHIN_S = 10.0
SLIVER = b"{" + b" " * 4096


@dataclass(frozen=True)
class Served:
    host: str
    port: int
    app: FastAPI

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


def edge_app(sessions: Sessions, settings: Settings, **changes: object) -> FastAPI:
    app = create_app(settings.model_copy(update={"max_body_bytes": LIMIT, **changes}))
    app.state.sessionmaker = sessions
    return app


@pytest_asyncio.fixture(loop_scope="session")
async def served(sessions: Sessions, settings: Settings) -> AsyncIterator[Served]:
    app = edge_app(sessions, settings)
    # The HTTP protocol the services run (`serve.run_app`): httptools with the head guard.
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        http=guarded_http(10.0),
        lifespan="off",
        log_config=None,
        access_log=False,
    )
    server = uvicorn.Server(config)
    # A socket listening before the server starts: connections queue until it accepts them.
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    task = asyncio.create_task(server.serve(sockets=[listener]))
    try:
        yield Served("127.0.0.1", port, app)
    finally:
        server.should_exit = True
        await task
        listener.close()


def head(method: str, path: str, *headers: str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *headers, "", ""]
    return "\r\n".join(lines).encode()


async def answer_while_sending(
    served: Served, request_head: bytes, body: AsyncIterator[bytes]
) -> tuple[int, dict[str, str], bytes, int]:
    """Send the head, then stream `body` while waiting for the answer; returns the status, the
    headers, the body of the answer and how many body bytes had been sent when it came."""
    reader, writer = await asyncio.open_connection(served.host, served.port)
    sent = 0

    async def send() -> None:
        nonlocal sent
        writer.write(request_head)
        async for chunk in body:
            writer.write(chunk)
            await writer.drain()
            sent += len(chunk)

    sender = asyncio.create_task(send())
    try:
        async with asyncio.timeout(ANSWER_WITHIN_S):
            status_line = await reader.readline()
            sent_at_answer = sent
            headers: dict[str, str] = {}
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                headers[name.strip().lower()] = value.strip()
            content = await reader.readexactly(int(headers.get("content-length", "0")))
    finally:
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionError):
            await sender
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    status = int(status_line.split()[1])
    return status, headers, content, sent_at_answer


async def sliver() -> AsyncIterator[bytes]:
    """A little of the body, then nothing more (the connection stays open)."""
    yield SLIVER
    await asyncio.Event().wait()


async def endless_chunks(size: int = 16 * 1024) -> AsyncIterator[bytes]:
    """A chunked body that never ends."""
    chunk = f"{size:x}\r\n".encode() + b" " * size + b"\r\n"
    while True:
        yield chunk


def bearer(token: str) -> str:
    return f"Authorization: Bearer {token}"


async def test_a_body_declared_over_the_limit_is_refused_before_it_is_read(
    served: Served, admin: dict[str, str]
) -> None:
    request = head(
        "POST",
        "/api/v1/contacts",
        f"Authorization: {admin['Authorization']}",
        "Content-Type: application/json",
        f"Content-Length: {256 * 1024 * 1024}",
    )
    status, headers, content, sent = await answer_while_sending(served, request, sliver())
    assert status == 413
    assert headers["content-type"] == "application/problem+json"
    assert headers["connection"] == "close"
    assert b"limit" in content
    assert sent <= len(SLIVER)


async def test_a_streamed_body_over_the_limit_is_cut_at_the_limit(
    served: Served, admin: dict[str, str]
) -> None:
    request = head(
        "POST",
        "/api/v1/contacts",
        f"Authorization: {admin['Authorization']}",
        "Content-Type: application/json",
        "Transfer-Encoding: chunked",
    )
    status, headers, content, sent = await answer_while_sending(served, request, endless_chunks())
    assert status == 413, content
    assert headers["content-type"] == "application/problem+json"
    assert sent < 64 * LIMIT  # answered while the body was still coming


@pytest.mark.parametrize("transfer", ["content-length", "chunked"])
async def test_a_stranger_is_refused_before_the_body_is_read(served: Served, transfer: str) -> None:
    framing = (
        f"Content-Length: {LIMIT - 1}"
        if transfer == "content-length"
        else "Transfer-Encoding: chunked"
    )
    for credentials in ((), (bearer("sbt_not-a-token"),)):
        request = head(
            "POST", "/api/v1/contacts", *credentials, "Content-Type: application/json", framing
        )
        body = sliver() if transfer == "content-length" else endless_chunks()
        status, headers, content, _ = await answer_while_sending(served, request, body)
        assert status == 401, content
        assert headers["www-authenticate"] == "Bearer"


async def test_a_role_that_may_not_post_is_refused_before_the_body_is_read(
    served: Served, admin: dict[str, str]
) -> None:
    async with httpx.AsyncClient(base_url=served.url, headers=admin) as api:
        viewer = await api.post("/api/v1/tokens", json={"role": "viewer"})
    request = head(
        "POST",
        "/api/v1/contacts",
        bearer(viewer.json()["token"]),
        "Content-Type: application/json",
        f"Content-Length: {LIMIT - 1}",
    )
    status, _, _, _ = await answer_while_sending(served, request, sliver())
    assert status == 403


async def test_a_page_post_without_a_session_is_not_read(served: Served) -> None:
    for path in ("/contacts/search", "/logout", "/activities/x/status"):
        request = head(
            "POST",
            path,
            "Content-Type: application/x-www-form-urlencoded",
            f"Content-Length: {16 * 1024}",
        )
        status, headers, _, _ = await answer_while_sending(served, request, sliver())
        assert status == 303, path
        assert headers["location"] == "/login"


async def test_too_many_headers_are_refused(served: Served) -> None:
    request = head("GET", "/healthz", *(f"X-Filler-{n}: {n}" for n in range(150)))
    status, _, _, _ = await answer_while_sending(served, request, sliver())
    assert status == 431


async def test_a_body_within_the_limit_still_works(served: Served, admin: dict[str, str]) -> None:
    async with httpx.AsyncClient(base_url=served.url, headers=admin) as api:
        body = {"first_name": "Ann", "notes": "x" * 5000}
        created = await api.post("/api/v1/contacts", json=body)
        assert created.status_code == 201, created.text
    transport = httpx.ASGITransport(app=served.app)  # no socket to reset while still sending
    async with httpx.AsyncClient(transport=transport, base_url=served.url, headers=admin) as api:
        too_long = await api.post(
            "/api/v1/contacts", content=b'{"first_name": "' + b"a" * LIMIT + b'"}'
        )
        assert too_long.status_code == 413
        assert too_long.json()["title"] == "Content too large"


# -- headers and docs ------------------------------------------------------------------------


async def test_every_answer_carries_a_strict_policy(served: Served, admin: dict[str, str]) -> None:
    async with httpx.AsyncClient(base_url=served.url) as client:
        for response in (
            await client.get("/healthz"),
            await client.get("/openapi.json"),
            await client.get("/api/v1/presets"),
            await client.get("/api/v1/presets", headers=admin),
            await client.get("/no-such-page"),
        ):
            csp = response.headers["content-security-policy"]
            assert "default-src 'none'" in csp, response.url
            assert "frame-ancestors 'none'" in csp
            assert response.headers["x-content-type-options"] == "nosniff"
            assert response.headers["x-frame-options"] == "DENY"
        login = await client.get("/login")
        # The page keeps its own policy, which admits its own scripts and styles only.
        assert "script-src 'self'" in login.headers["content-security-policy"]
        assert "unsafe-inline" not in login.headers["content-security-policy"]


async def test_docs_load_swagger_ui_from_the_service_itself(served: Served) -> None:
    async with httpx.AsyncClient(base_url=served.url) as client:
        docs = await client.get("/docs")
        assert docs.status_code == 200
        assert "script-src 'self'" in docs.headers["content-security-policy"]
        assert "unsafe" not in docs.headers["content-security-policy"]
        assert "https://" not in docs.text
        assert "<script>" not in docs.text  # no inline script: the policy forbids it
        assets = re.findall(r'(?:src|href)="(/[^"]+)"', docs.text)
        assert len(assets) == 4
        for asset in assets:
            response = await client.get(asset)
            assert response.status_code == 200, asset
            assert len(response.content) > 0
        script = await client.get("/docs/assets/swagger-ui-bundle.js")
        assert script.headers["content-type"].startswith("text/javascript")
        assert b"SwaggerUIBundle" in script.content
        assert (await client.get("/docs/assets/other.js")).status_code == 404
        assert (await client.get("/redoc")).status_code == 404
        assert (await client.get("/openapi.json")).status_code == 200


async def test_docs_can_be_turned_off(sessions: Sessions, settings: Settings) -> None:
    app = edge_app(sessions, settings, docs_enabled=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://crm-store") as client:
        assert (await client.get("/docs")).status_code == 404
        assert (await client.get("/docs/assets/swagger-ui.css")).status_code == 404
        assert (await client.get("/openapi.json")).status_code == 200
