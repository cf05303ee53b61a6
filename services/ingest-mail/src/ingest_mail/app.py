"""Wiring: settings → Kafka bus → HTTP app."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

from fastapi import FastAPI

from ingest_mail import __version__
from ingest_mail.config import Settings
from ingest_mail.metrics import METRICS
from switchboard_shared.kafka import Bus
from switchboard_shared.ops import install_ops_routes
from switchboard_shared.problems import install_problem_handlers


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    bus = Bus(
        settings.common,
        client_id="ingest-mail",
        metrics=METRICS,
        publish_timeout_s=settings.common.publish_timeout_s,
    )

    def lifespan(_: FastAPI) -> AbstractAsyncContextManager[None]:
        return bus.running()

    app = FastAPI(title="Switchboard ingest-mail", version=__version__, lifespan=lifespan)
    app.state.settings = settings
    app.state.bus = bus
    install_problem_handlers(app)
    install_ops_routes(app, METRICS, {"kafka": bus.ready})
    return app
