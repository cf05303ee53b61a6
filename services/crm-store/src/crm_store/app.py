"""Wiring: settings → database (migrated) → Kafka bus → consumers, outbox relay and the API."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.exceptions import HTTPException as StarletteHTTPException

from crm_store import __version__, people, web
from crm_store import settings as admin_settings
from crm_store.activities import ActivityGauges, OutcomeExpiry
from crm_store.config import Settings, StorePolicy
from crm_store.core import make_engine, make_sessionmaker, utcnow
from crm_store.directory import snapshot_contact_points
from crm_store.http import router as api_router
from crm_store.interactions import build_router
from crm_store.metrics import DATABASE_UP, METRICS
from crm_store.migrate import migrate
from crm_store.publisher import OutboxRelay
from switchboard_shared.bodylimit import install_body_limit
from switchboard_shared.budget import ByteBudget
from switchboard_shared.httpsec import secure_api
from switchboard_shared.kafka import Bus
from switchboard_shared.ops import install_ops_routes
from switchboard_shared.problems import install_problem_handlers
from switchboard_shared.settings.follower import LiveSettings, SettingsFollower
from switchboard_shared.settings.groups import ClassificationSettings, OutcomeSettings

log = logging.getLogger(__name__)


async def bootstrap_admin(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    """`CRM_STORE_BOOTSTRAP_ADMIN_EMAIL`: the first administrator, and while they have no
    password a link to set one, in the log (each start makes a new one)."""
    email = settings.bootstrap_admin_email or ""
    async with sessionmaker() as session:
        manager, issued = await people.credentials.bootstrap_admin(
            session, email, timedelta(hours=settings.invitation_h), utcnow()
        )
        await session.commit()
    if issued is None:
        return
    base = settings.public_url or f"http://127.0.0.1:{settings.port}"
    url = people.credentials.link_url(base, issued.secret)
    log.warning(
        "The administrator %s has no password yet. Open this link to set it (it works once, "
        "until %s): %s",
        manager.email,
        issued.link.expires_at.strftime("%Y-%m-%d %H:%M UTC"),
        url,
    )


def create_app(settings: Settings | None = None, *, run_migrations: bool = True) -> FastAPI:
    settings = settings or Settings()
    engine = make_engine(settings.database_url)
    sessionmaker = make_sessionmaker(engine)
    bus = Bus(
        settings.common,
        client_id="crm-store",
        metrics=METRICS,
        publish_timeout_s=settings.common.publish_timeout_s,
    )
    relay = OutboxRelay(
        bus,
        sessionmaker,
        interval_s=settings.outbox_interval_s,
        retention=timedelta(hours=settings.outbox_retention_h),
    )
    live = LiveSettings(*admin_settings.defaults(settings).values())
    follower = SettingsFollower(
        settings.common.kafka_bootstrap,
        live,
        client_id="crm-store-settings",
        load_timeout_s=settings.common.settings_load_timeout_s,
    )
    base_policy = settings.store_policy()

    def policy() -> StorePolicy:
        """The environment's policy with the administrator's settings in force now."""
        domains = live.get(ClassificationSettings).internal_domains
        return dataclasses.replace(
            base_policy,
            outcomes=live.get(OutcomeSettings),
            own_domains=tuple(dict.fromkeys([*base_policy.own_domains, *domains])),
        )

    bus.include_router(
        build_router(
            bus,
            sessionmaker,
            relay,
            group_id=settings.consumer_group,
            max_attempts=settings.max_attempts,
            policy=policy,
            batch_size=settings.consumer_batch_size,
            batch_timeout_ms=settings.consumer_batch_timeout_ms,
            fetch_wait_ms=settings.consumer_fetch_wait_ms,
            history_group_id=f"{settings.consumer_group}-history",
            history_batch_size=settings.history_batch_size,
        )
    )

    async def database_ready() -> bool:
        try:
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except Exception:
            DATABASE_UP.set(0)
            raise
        DATABASE_UP.set(1)
        return True

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if run_migrations:
            await migrate(settings.database_url)
        async with sessionmaker() as session:
            snapshot = await snapshot_contact_points(session)
            await session.commit()
        if snapshot is not None:
            log.info("contact points snapshot staged", extra={"records": snapshot})
        async with sessionmaker() as session:
            for state in (await admin_settings.read_all(session, settings)).values():
                if state.version:
                    live.apply(state.group, state.values, state.version)
            await admin_settings.republish_settings(session)
            await session.commit()
        if settings.bootstrap_admin_email:
            await bootstrap_admin(sessionmaker, settings)
        await relay.start()
        await follower.load()  # changes saved through another instance meanwhile
        await gauges.start()
        if expiry is not None:
            await expiry.start()
        try:
            async with bus.running():
                yield
        finally:
            if expiry is not None:
                await expiry.stop()
            await gauges.stop()
            await relay.stop()
            await follower.stop()
            await engine.dispose()

    gauges = ActivityGauges(sessionmaker, settings.gauges_interval_s)
    expiry = (
        OutcomeExpiry(sessionmaker, settings.log_outcome_expire_h)
        if settings.log_outcome_expire_h > 0
        else None
    )

    app = FastAPI(
        title="Switchboard crm-store",
        version=__version__,
        description="Interactions linked to clients, activities that open and close by "
        "themselves, and preset statuses. Authenticate with `Authorization: Bearer <token>`.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessionmaker = sessionmaker
    app.state.bus = bus
    app.state.relay = relay
    app.state.policy = policy
    app.state.live_settings = live
    install_problem_handlers(app)
    app.add_exception_handler(StarletteHTTPException, web.http_error)  # pages for browsers
    install_ops_routes(app, METRICS, {"kafka": bus.ready, "database": database_ready})
    app.include_router(api_router)
    app.include_router(web.router)
    install_body_limit(
        app,
        settings.max_body_bytes,
        metrics=METRICS,
        budget=ByteBudget(settings.max_inflight_bytes),
        common=settings.common,
    )
    secure_api(app, docs=settings.docs_enabled)  # outermost: every answer gets the headers
    return app
