"""Wiring: settings → Kafka bus → one intake path → HTTP, LMTP and IMAP doors."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI

from ingest_mail import __version__
from ingest_mail.checkpoints import CheckpointStore
from ingest_mail.config import Settings
from ingest_mail.domain.parse import message_key
from ingest_mail.domain.recipients import OurRecipients
from ingest_mail.http import router
from ingest_mail.imap import ImapIntake, KeptMessage, PollerOptions
from ingest_mail.intake import MailIntake
from ingest_mail.leases import LeaseOptions, replica_id
from ingest_mail.lmtp import start_lmtp
from ingest_mail.mailboxes import MailboxConfig, load_mailboxes
from ingest_mail.metrics import METRICS
from ingest_mail.parsing import ParserPool
from ingest_mail.publisher import MailPublisher
from switchboard_shared.bodylimit import install_body_limit
from switchboard_shared.budget import ByteBudget
from switchboard_shared.httpsec import secure_api
from switchboard_shared.kafka import Bus
from switchboard_shared.ops import install_ops_routes
from switchboard_shared.problems import install_problem_handlers


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    mailboxes = load_mailboxes(settings.mailboxes_file, settings.mailboxes)  # fails fast
    bus = Bus(
        settings.common,
        client_id="ingest-mail",
        metrics=METRICS,
        publish_timeout_s=settings.common.intake_publish_timeout_s,
    )
    parser = ParserPool(settings.parse_options)
    recipients = OurRecipients.of(
        settings.common.own_domains, [*settings.own_address_set, *(m.address for m in mailboxes)]
    )
    intake = MailIntake(
        MailPublisher(bus, settings.dedupe_window),
        parser=parser,
        own_domains=frozenset(settings.common.own_domains),
        own_addresses=settings.own_address_set,
        max_bytes=settings.max_message_bytes,
        trusted_authserv_ids=settings.trusted_authserv_id_set,
    )

    async def imap_sink(raw: bytes, mailbox: MailboxConfig, folder: str) -> None:
        imap: ImapIntake | None = app.state.imap
        sent = imap is not None and imap.is_sent_folder(mailbox.name, folder)
        await intake.accept(
            raw, mailbox=mailbox.address, folder=folder, intake="imap", sent_folder=sent
        )

    async def imap_keep(kept: KeptMessage) -> None:
        await intake.keep_rejected(
            kept.raw,
            intake="imap",
            reason=kept.reason,
            detail=kept.detail,
            total_bytes=kept.total_bytes,
        )

    # The message bytes held at once, by the HTTP and LMTP doors together.
    budget = ByteBudget(settings.max_inflight_bytes)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            await stack.enter_async_context(bus.running())
            stack.push_async_callback(parser.close)
            await parser.start()
            if settings.lmtp_port:
                server = await start_lmtp(
                    intake,
                    settings.host,
                    settings.lmtp_port,
                    max_bytes=settings.max_message_bytes,
                    recipients=recipients,
                    max_recipients=settings.lmtp_max_recipients,
                    budget=budget,
                )
                stack.push_async_callback(server.wait_closed)
                stack.callback(server.close)
            if mailboxes:
                store = CheckpointStore(
                    settings.database_url,
                    holder=replica_id(),
                    seen_retention_days=settings.seen_retention_days,
                )
                stack.push_async_callback(store.close)
                await store.open()
                imap = ImapIntake(
                    mailboxes,
                    store,
                    imap_sink,
                    key_of=message_key,
                    options=PollerOptions(
                        max_attempts=settings.imap_max_attempts,
                        max_message_bytes=settings.max_message_bytes,
                    ),
                    keep=imap_keep,
                    leases=LeaseOptions(ttl_s=settings.lease_ttl_s),
                )
                app.state.imap = imap
                await stack.enter_async_context(imap.running())
            yield

    app = FastAPI(
        title="Switchboard ingest-mail",
        version=__version__,
        description="Mailbox messages from IMAP, LMTP and HTTP, published as mail.received.v1.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.bus = bus
    app.state.intake = intake
    app.state.imap = None
    install_problem_handlers(app)
    # IMAP servers are not part of readiness: one unreachable mailbox must not take the HTTP and
    # LMTP doors out of service. Their state is on /mailboxes and in the metrics.
    install_ops_routes(app, METRICS, {"kafka": bus.ready})
    app.include_router(router)
    install_body_limit(
        app, settings.max_message_bytes, metrics=METRICS, budget=budget, common=settings.common
    )
    secure_api(app, docs=settings.docs_enabled)  # outermost: every answer gets the headers
    return app
