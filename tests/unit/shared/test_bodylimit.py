"""`install_body_limit` on a small FastAPI app, in memory: declared and streamed bodies over the
limit are refused with a 413 problem (also when a body is read in a dependency, behind an
`@app.middleware("http")`), bodies within it pass, and oversized header sets are refused."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import httpx
import pytest
from fastapi import Depends, FastAPI, Request
from pydantic import BaseModel

from switchboard_shared.bodylimit import install_body_limit
from switchboard_shared.problems import PROBLEM_JSON, install_problem_handlers

LIMIT = 1000


class Note(BaseModel):
    text: str


async def raw_body(request: Request) -> bytes:
    return b"".join([chunk async for chunk in request.stream()])


def make_app() -> FastAPI:
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
    install_body_limit(app, LIMIT)
    return app


def client() -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=make_app()), base_url="http://t")


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
    assert response.headers["connection"] == "close"


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
