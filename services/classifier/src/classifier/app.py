"""Wiring: settings → Kafka bus → consumers, plus the ops endpoints."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

from fastapi import FastAPI

from classifier import __version__
from classifier.config import Settings
from classifier.handlers import build_router
from classifier.metrics import METRICS
from classifier.publisher import VerdictPublisher
from switchboard_shared.kafka import Bus
from switchboard_shared.ops import install_ops_routes
from switchboard_shared.problems import install_problem_handlers


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    bus = Bus(
        settings.common,
        client_id="classifier",
        metrics=METRICS,
        publish_timeout_s=settings.common.publish_timeout_s,
    )
    bus.include_router(
        build_router(
            bus,
            VerdictPublisher(bus),
            group_id=settings.consumer_group,
            max_attempts=settings.max_attempts,
        )
    )

    def lifespan(_: FastAPI) -> AbstractAsyncContextManager[None]:
        return bus.running()

    app = FastAPI(title="Switchboard classifier", version=__version__, lifespan=lifespan)
    app.state.settings = settings
    app.state.bus = bus
    install_problem_handlers(app)
    install_ops_routes(app, METRICS, {"kafka": bus.ready})
    return app
