"""Run a service's ASGI app the same way everywhere (`python -m <service>`)."""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import TypeVar

import uvicorn
from fastapi import FastAPI
from starlette.types import ASGIApp

from switchboard_shared.httpserver import guarded_http
from switchboard_shared.logging import configure_logging
from switchboard_shared.settings import ServiceSettings

S = TypeVar("S", bound=ServiceSettings)


# The cyclic garbage collector's first generation runs after this many new container objects
# (default 700). Consumers allocate hundreds of thousands per batch (events, rows, records)
# that plain reference counting frees; collecting every 700 cost them a fifth of their time.
GC_GEN0_THRESHOLD = 10_000


def tune_gc() -> None:
    """Fewer, cheaper collections: the code and app built so far (modules, schemas, routes)
    live as long as the process, so they move out of the collector's way."""
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GC_GEN0_THRESHOLD, gen1, gen2)


def serve(name: str, settings: S, create_app: Callable[[S], FastAPI]) -> None:
    configure_logging(name, settings.common.log_level, settings.common.log_format)
    app = create_app(settings)
    run_app(app, settings.host, settings.port, settings.common.request_head_timeout_s)


def run_app(app: ASGIApp, host: str, port: int, head_timeout_s: float) -> None:
    """Serve `app` as every service is served (the bench's bare baselines too): uvloop's event
    loop and httptools' parser when installed (`uvicorn`'s "auto"), the request head guarded
    (`httpserver.py`), no access log, the collector tuned."""
    tune_gc()
    uvicorn.run(
        app,
        host=host,
        port=port,
        loop="auto",
        http=guarded_http(head_timeout_s),
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=10,
    )
