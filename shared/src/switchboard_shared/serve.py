"""Run a service's ASGI app the same way everywhere (`python -m <service>`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import uvicorn
from fastapi import FastAPI

from switchboard_shared.logging import configure_logging
from switchboard_shared.settings import ServiceSettings

S = TypeVar("S", bound=ServiceSettings)


def serve(name: str, settings: S, create_app: Callable[[S], FastAPI]) -> None:
    configure_logging(name, settings.common.log_level, settings.common.log_format)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=10,
    )
