"""Wiring: settings → rules → knowledge feed → Kafka bus → batch consumers, plus the ops
endpoints (`/readyz` needs the broker and the knowledge loaded). Nothing is kept on local disk:
the knowledge is read from its topics at every start, and held call legs stay uncommitted in
their topic until their verdict is published."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI

from classifier import __version__
from classifier.config import Settings
from classifier.feed import KnowledgeFeed
from classifier.handlers import build_consumers
from classifier.knowledge import Knowledge
from classifier.legs import MemoryHeldLegs
from classifier.metrics import METRICS, RULE_RELOADS
from classifier.rules import RuleBook, default_rules_path
from classifier.rules.live import LiveRules
from classifier.service import Classifier, classifier_version
from switchboard_shared.bodylimit import install_body_limit
from switchboard_shared.httpsec import secure_api
from switchboard_shared.kafka import Bus
from switchboard_shared.ops import install_ops_routes
from switchboard_shared.problems import install_problem_handlers
from switchboard_shared.settings.follower import LiveSettings, SettingsFollower
from switchboard_shared.settings.groups import TelephonySettings

log = logging.getLogger(__name__)


# The classifier's HTTP port serves health and metrics only: no request has a body.
NO_BODIES = 0


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    common = settings.common
    book = RuleBook.open(
        settings.rules_path or default_rules_path(), default_region=common.default_region
    )
    live = LiveSettings(TelephonySettings(default_region=common.default_region))
    follower = SettingsFollower(
        common.kafka_bootstrap,
        live,
        client_id="classifier-settings",
        load_timeout_s=common.settings_load_timeout_s,
    )
    rules = LiveRules(book, live)
    knowledge = Knowledge()
    bus = Bus(
        common, client_id="classifier", metrics=METRICS, publish_timeout_s=common.publish_timeout_s
    )
    feed = KnowledgeFeed(
        common.kafka_bootstrap, knowledge, lambda: rules.current, bus.publish_batch
    )
    classifier = Classifier(lambda: rules.current, knowledge, MemoryHeldLegs())
    consumers = build_consumers(
        bus,
        classifier,
        feed.loaded,
        group_id=settings.consumer_group,
        max_attempts=settings.max_attempts,
        max_batch=settings.max_batch,
    )
    bus.own_consumers.extend(consumer.current for consumer in consumers)

    async def watch_rules() -> None:
        while True:
            await asyncio.sleep(settings.rules_check_interval_s)
            changed = book.refresh()
            if changed is not None:
                RULE_RELOADS.labels("applied" if changed else "rejected").inc()

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await follower.load()  # the administrator's settings before the first verdict
        log.info("rules in force", extra={"classifier_version": classifier_version(rules.current)})
        watcher = asyncio.create_task(watch_rules(), name="rules-watcher")
        try:
            async with bus.running():
                await feed.start()
                for consumer in consumers:
                    await consumer.start()
                try:
                    yield
                finally:
                    for consumer in consumers:
                        await consumer.stop()
                    await feed.stop()
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            await follower.stop()

    app = FastAPI(title="Switchboard classifier", version=__version__, lifespan=lifespan)
    app.state.settings = settings
    app.state.bus = bus
    app.state.rules = book
    app.state.live_rules = rules
    app.state.live_settings = live
    app.state.classifier = classifier
    app.state.feed = feed
    app.state.consumers = consumers
    install_problem_handlers(app)
    install_ops_routes(app, METRICS, {"kafka": bus.ready, "knowledge": feed.ready})
    install_body_limit(app, NO_BODIES, metrics=METRICS, common=settings.common)
    secure_api(app, docs=False)
    return app
