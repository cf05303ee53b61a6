"""Wiring: settings → Kafka bus → HTTP app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from ingest_calls import __version__
from ingest_calls.ami import AmiClient
from ingest_calls.cel_assembler import CelAssembler
from ingest_calls.config import Settings
from ingest_calls.domain import asterisk
from ingest_calls.http import router, webhook_route
from ingest_calls.live import follow_telephony
from ingest_calls.metrics import METRICS
from ingest_calls.providers import enabled
from ingest_calls.publisher import CallPublisher
from switchboard_shared.background import Background
from switchboard_shared.bodylimit import install_body_limit
from switchboard_shared.budget import ByteBudget
from switchboard_shared.httpsec import secure_api
from switchboard_shared.kafka import Bus
from switchboard_shared.ops import install_ops_routes
from switchboard_shared.problems import install_problem_handlers
from switchboard_shared.settings.follower import LiveSettings, SettingsFollower
from switchboard_shared.settings.groups import TelephonySettings


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    bus = Bus(
        settings.common,
        client_id="ingest-calls",
        metrics=METRICS,
        publish_timeout_s=settings.common.intake_publish_timeout_s,
    )

    publisher = CallPublisher(bus, settings.dedupe_window)
    workers: list[Background] = []
    if settings.ami is not None:
        zone = asterisk.zone_of(settings.options_for("asterisk"))
        workers.append(AmiClient(settings.ami, publisher, zone))
    if settings.cel_assembler and (settings.ami is not None or settings.asterisk_token):
        workers.append(CelAssembler(settings, publisher))

    # The administrator's telephony settings (crm.settings.v1) over the environment's.
    live = LiveSettings(TelephonySettings(default_region=settings.common.default_region))
    follower = SettingsFollower(
        settings.common.kafka_bootstrap,
        live,
        client_id="ingest-calls-settings",
        load_timeout_s=settings.common.settings_load_timeout_s,
    )

    def on_change(group: str) -> None:
        if group == TelephonySettings.GROUP:
            follow_telephony(app.state, settings, live.get(TelephonySettings))

    live.on_change(on_change)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await follower.load()
        try:
            async with bus.running():
                for worker in workers:
                    await worker.start()
                try:
                    yield
                finally:
                    for worker in reversed(workers):
                        await worker.stop()
        finally:
            await follower.stop()

    app = FastAPI(
        title="Switchboard ingest-calls",
        version=__version__,
        description="Call records from PBX and telephony providers. Enabled providers: "
        + (", ".join(enabled(settings)) or "none (set a provider secret)"),
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.live_settings = live
    app.state.bus = bus
    app.state.publisher = publisher
    app.state.workers = workers
    app.state.contexts = {}  # per provider, see http.context_of
    install_problem_handlers(app)
    install_ops_routes(app, METRICS, {"kafka": bus.ready})
    app.include_router(router)
    # The webhook POST first, as a plain route: FastAPI's own (documented) stays behind it.
    app.router.routes.insert(0, webhook_route)
    install_body_limit(
        app,
        settings.max_body_bytes,
        metrics=METRICS,
        budget=ByteBudget(settings.max_inflight_bytes),
        common=settings.common,
    )
    secure_api(app, docs=settings.docs_enabled)  # outermost: every answer gets the headers
    return app
