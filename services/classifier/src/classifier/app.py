"""Wiring: settings → rules → state file → knowledge feed → Kafka bus → consumers, plus the ops
endpoints (`/readyz` needs the broker and the knowledge loaded)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI

from classifier import __version__
from classifier.config import Settings
from classifier.feed import KnowledgeFeed
from classifier.handlers import LegReleaser, build_router
from classifier.knowledge import Knowledge
from classifier.metrics import METRICS, RULE_RELOADS
from classifier.publisher import VerdictPublisher
from classifier.repository import Repository
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
    repository = Repository(settings.state_path)
    knowledge = Knowledge()
    feed = KnowledgeFeed(common.kafka_bootstrap, repository, knowledge, lambda: rules.current)
    classifier = Classifier(lambda: rules.current, knowledge, repository)
    bus = Bus(
        common, client_id="classifier", metrics=METRICS, publish_timeout_s=common.publish_timeout_s
    )
    publisher = VerdictPublisher(bus)
    releaser = LegReleaser(classifier, publisher, feed.loaded)
    bus.include_router(
        build_router(
            bus,
            classifier,
            publisher,
            feed.loaded,
            releaser,
            group_id=settings.consumer_group,
            max_attempts=settings.max_attempts,
        )
    )

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
        await feed.start()
        await releaser.start()
        watcher = asyncio.create_task(watch_rules(), name="rules-watcher")
        try:
            async with bus.running():
                yield
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            await releaser.stop()
            await feed.stop()
            await follower.stop()
            repository.close()

    app = FastAPI(title="Switchboard classifier", version=__version__, lifespan=lifespan)
    app.state.settings = settings
    app.state.bus = bus
    app.state.rules = book
    app.state.live_rules = rules
    app.state.live_settings = live
    app.state.classifier = classifier
    app.state.feed = feed
    install_problem_handlers(app)
    install_ops_routes(app, METRICS, {"kafka": bus.ready, "knowledge": feed.ready})
    install_body_limit(app, NO_BODIES, metrics=METRICS, common=settings.common)
    secure_api(app, docs=False)
    return app
