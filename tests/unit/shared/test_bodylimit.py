"""`install_body_limit` on a small FastAPI app, in memory: declared and streamed bodies over the
limit are refused with a 413 problem (also when a body is read in a dependency, behind an
`@app.middleware("http")`), bodies within it pass, and oversized header sets are refused."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, MutableMapping
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI, Request
from pydantic import BaseModel

from switchboard_shared.bodylimit import install_body_limit
from switchboard_shared.budget import ByteBudget
from switchboard_shared.problems import PROBLEM_JSON, install_problem_handlers
from switchboard_shared.settings import CommonSettings

LIMIT = 1000


class Note(BaseModel):
    text: str


async def raw_body(request: Request) -> bytes:
    return b"".join([chunk async for chunk in request.stream()])


def make_app(budget: ByteBudget | None = None, common: CommonSettings | None = None) -> FastAPI:
    app = FastAPI()

    @app.post("/json")
    async def take_json(note: Note) -> dict[str, int]:
        return {"chars": len(note.text)}

    @app.post("/raw")
    async def take_raw(body: Annotated[bytes, Depends(raw_body)]) -> dict[str, int]:
        return {"bytes": len(body)}

    @app.middleware("http")
    async def passthrough(request: Request, call_next):  # type: ignore[no-untyped-def]
        return await call_next(request)

    install_problem_handlers(app)
    install_body_limit(app, LIMIT, budget=budget, common=common)
    return app


def client(app: FastAPI | None = None) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app or make_app())
    return httpx.AsyncClient(transport=transport, base_url="http://t")


async def chunks(total: int, size: int = 100) -> AsyncIterator[bytes]:
    sent = 0
    while sent < total:
        yield b"x" * min(size, total - sent)
        sent += size


async def test_a_body_within_the_limit_passes() -> None:
    async with client() as c:
        assert (await c.post("/json", json={"text": "hello"})).json() == {"chars": 5}
        assert (await c.post("/raw", content=chunks(LIMIT))).json() == {"bytes": LIMIT}


@pytest.mark.parametrize("path", ["/json", "/raw"])
async def test_a_declared_body_over_the_limit_is_a_413_problem(path: str) -> None:
    async with client() as c:
        response = await c.post(path, content=b"x" * (LIMIT + 1))
    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM_JSON
    # a little over the limit: read and dropped first, so the connection can go on
    assert "connection" not in response.headers


async def test_an_absurd_declared_body_is_refused_without_reading_and_the_connection_closed() -> (
    None
):
    sent: list[MutableMapping[str, Any]] = []
    asked = 0

    async def receive() -> dict[str, Any]:
        nonlocal asked
        asked += 1
        await asyncio.Future()  # the body would never be read to its end
        raise AssertionError("unreachable")

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/raw",
        "raw_path": b"/raw",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-length", str(256 * 1024 * 1024).encode())],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    await asyncio.wait_for(make_app()(scope, receive, send), 5)
    assert asked == 0
    assert sent[0]["status"] == 413
    assert (b"connection", b"close") in sent[0]["headers"]


@pytest.mark.parametrize("path", ["/json", "/raw"])
async def test_a_streamed_body_over_the_limit_is_a_413_problem(path: str) -> None:
    async with client() as c:
        response = await c.post(path, content=chunks(LIMIT + 1))
    assert response.status_code == 413, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["title"] == "Content too large"


async def test_too_many_or_too_large_headers_are_refused() -> None:
    async with client() as c:
        many = {f"x-h{n}": "1" for n in range(101)}
        assert (await c.post("/json", json={"text": ""}, headers=many)).status_code == 431
        large = {"x-big": "y" * 40_000}
        assert (await c.post("/json", json={"text": ""}, headers=large)).status_code == 431


@pytest.mark.parametrize("path", ["/json", "/raw"])
async def test_a_declared_body_that_does_not_fit_the_budget_is_busy_at_once(path: str) -> None:
    budget = ByteBudget(LIMIT)
    budget.try_reserve(LIMIT - 10)  # another request holds most of it
    async with client(make_app(budget)) as c:
        response = await c.post(path, content=b"x" * 11)
        assert response.status_code == 503
        assert response.headers["retry-after"] == "5"
        assert response.headers["content-type"] == PROBLEM_JSON
        budget.release(LIMIT - 10)
        assert (await c.post("/raw", content=b"x" * 11)).json() == {"bytes": 11}
    assert budget.in_use == 0  # every request gave back what it held


@pytest.mark.parametrize("path", ["/json", "/raw"])
async def test_a_streamed_body_is_counted_against_the_budget_as_it_arrives(path: str) -> None:
    budget = ByteBudget(LIMIT)
    budget.try_reserve(LIMIT - 150)
    async with client(make_app(budget)) as c:
        response = await c.post(path, content=chunks(300))
    assert response.status_code == 503, response.text
    assert budget.in_use == LIMIT - 150


async def trickle(total: int, every_s: float) -> AsyncIterator[bytes]:
    for _ in range(total):
        await asyncio.sleep(every_s)
        yield b"x"


@pytest.mark.parametrize("path", ["/json", "/raw"])
async def test_a_body_that_stops_coming_is_cut_off_with_a_408(path: str) -> None:
    pace = CommonSettings(request_body_grace_s=0.3, request_body_min_rate=100)
    async with client(make_app(common=pace)) as c:
        started = asyncio.get_running_loop().time()
        response = await c.post(path, content=trickle(200, 0.05))  # 20 bytes a second
        took = asyncio.get_running_loop().time() - started
    assert response.status_code == 408, response.text
    assert response.headers["connection"] == "close"
    assert took < 2.0  # cut at the pace, not after the whole trickle (10 s)


async def test_a_body_at_a_real_pace_passes_the_pace_rule() -> None:
    pace = CommonSettings(request_body_grace_s=0.3, request_body_min_rate=100)
    async with client(make_app(common=pace)) as c:
        response = await c.post("/raw", content=trickle(60, 0.005))  # ~200 bytes a second
    assert response.json() == {"bytes": 60}
