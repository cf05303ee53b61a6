"""Operational endpoints every service serves: /healthz, /readyz, /metrics."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.responses import Response

from switchboard_shared.metrics import HttpMetrics, ServiceMetrics, metrics_response

log = logging.getLogger(__name__)

ReadyCheck = Callable[[], Awaitable[bool]]


async def _run_check(check: ReadyCheck, timeout: float) -> bool:
    try:
        return await asyncio.wait_for(check(), timeout)
    except Exception as exc:  # a failing check means "not ready", never a 500
        log.warning("readiness check failed", extra={"error": repr(exc)})
        return False


def install_ops_routes(
    app: FastAPI,
    metrics: ServiceMetrics,
    checks: Mapping[str, ReadyCheck],
    *,
    check_timeout_s: float = 3.0,
) -> None:
    app.add_middleware(HttpMetrics, metrics=metrics)

    @app.get("/healthz", tags=["ops"], summary="The process is up")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"], summary="Dependencies (broker, database) are reachable")
    async def readyz() -> JSONResponse:
        names = list(checks)
        results = await asyncio.gather(*(_run_check(checks[n], check_timeout_s) for n in names))
        status = dict(zip(names, ("ok" if r else "unavailable" for r in results), strict=True))
        ready = all(results)
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "checks": status},
            status_code=200 if ready else 503,
        )

    @app.get("/metrics", tags=["ops"], summary="Prometheus metrics", include_in_schema=False)
    async def prometheus_metrics() -> Response:
        return metrics_response()
