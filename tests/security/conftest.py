"""The security tier: one whole stack (four services, SQLite, a broker of its own) started once,
attacked from outside the way anyone on the network could: raw sockets, hostile bodies and
messages, forged senders, stolen or revoked credentials, and a frozen broker.

`make test` runs the tier on its own, in one process, after the parallel tiers: the stack starts
once, the broker-stall test freezes no one else's broker, and the timings are not disturbed by
another busy worker. (Under xdist every worker would start a stack of its own.) Each attack is
measured (`siege`): worst `/healthz` latency per service and peak resident growth per process
tree, shown at the end of the run.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest

from security.harness import Siege, besieging
from support.broker import BrokerProcess, start_broker
from support.dovecot import DovecotServer, dovecot_binary, start_dovecot
from support.stack import ADMIN_TOKEN, ASTERISK_TOKEN, GENERIC_SECRET, Stack, make_stack
from switchboard_shared.admin import create_topics
from switchboard_shared.settings import CommonSettings

MAIL_TOKEN = "test-mail-token-0123456789abcdef"
TRUSTED_RELAY = "mx.acme-corp.com"
OUR_DOMAIN = "acme-corp.com"
IMAP_USER = f"inbox@{OUR_DOMAIN}"
IMAP_PASSWORD = "imap-secret-0123456789"
ZADARMA_SECRET = "zadarma-secret-0123456789abcdef"
CEL_MAX_HELD_EVENTS = 2000
HERE = Path(__file__).parent


LAST = HERE / "test_broker_stall.py"  # it freezes the broker: nothing else runs after it


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: Path(str(item.path)) == LAST)


@pytest.fixture(scope="session")
def stack_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    broker = start_broker(tmp_path_factory.mktemp("security-broker") / "broker.log")
    try:
        asyncio.run(create_topics(CommonSettings(kafka_bootstrap=broker.bootstrap)))
        yield broker
    finally:
        broker.thaw()  # never leave it frozen
        broker.stop()


@pytest.fixture(scope="session")
def imap_server() -> Iterator[DovecotServer | None]:
    """A Dovecot whose INBOX the stack's ingest-mail reads (None when Dovecot is missing: the
    IMAP attack then skips, or fails in CI)."""
    if dovecot_binary() is None:
        yield None
        return
    server = start_dovecot()
    try:
        server.add_user(IMAP_USER, IMAP_PASSWORD)
        yield server
    finally:
        server.remove()


def imap_mailboxes(server: DovecotServer | None) -> dict[str, str]:
    if server is None:
        return {}
    mailbox = {
        "name": "security",
        "host": server.host,
        "port": server.port,
        "security": "none",
        "username": IMAP_USER,
        "password": IMAP_PASSWORD,
        "folders": ["INBOX"],
        "address": IMAP_USER,
        "poll_interval_s": 1,
    }
    return {"INGEST_MAIL_MAILBOXES": json.dumps([mailbox])}


@pytest.fixture(scope="session")
def stack(
    stack_broker: BrokerProcess,
    imap_server: DovecotServer | None,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("security-stack")
    stack = make_stack(
        workdir,
        bootstrap=stack_broker.bootstrap,
        database_url=f"sqlite+aiosqlite:///{workdir / 'crm.db'}",
        secrets={
            "INGEST_CALLS_GENERIC_HMAC_SECRET": GENERIC_SECRET,
            "INGEST_CALLS_ZADARMA_API_SECRET": ZADARMA_SECRET,
            "INGEST_CALLS_ASTERISK_TOKEN": ASTERISK_TOKEN,
            # Low, so that a CEL flood reaches it without flooding the rest of the stack.
            "INGEST_CALLS_CEL_MAX_HELD_EVENTS": str(CEL_MAX_HELD_EVENTS),
            "CRM_STORE_BOOTSTRAP_ADMIN_TOKEN": ADMIN_TOKEN,
            "INGEST_MAIL_HTTP_TOKEN": MAIL_TOKEN,
            "INGEST_MAIL_TRUSTED_AUTHSERV_IDS": TRUSTED_RELAY,
            # Below the 25 MB message limit, so that a message can break it.
            "INGEST_MAIL_MAX_DECODED_BYTES": "10000000",
            **imap_mailboxes(imap_server),
        },
    )
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()


Besiege = Callable[[str], AbstractContextManager[Siege]]


@pytest.fixture
def siege(stack: Stack, request: pytest.FixtureRequest) -> Besiege:
    """`with siege("what") as s: <attack>` measures the attack; its figures are reported."""

    @contextmanager
    def run(name: str) -> Iterator[Siege]:
        measured: list[Siege] = []
        try:
            with besieging(stack, name) as one:
                measured.append(one)
                yield one
        finally:
            for one in measured:
                request.node.user_properties.append(("siege", json.dumps(one.summary())))

    return run


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    rows = []
    for key in ("passed", "failed", "xfailed", "xpassed"):
        for report in terminalreporter.stats.get(key, []):
            for name, value in getattr(report, "user_properties", ()):
                if name == "siege":
                    rows.append(json.loads(value))
    if not rows:
        return
    terminalreporter.section("security: health and memory under attack")
    for row in rows:
        worst = max(row["worst_health_s"].items(), key=lambda item: item[1])
        growth = ", ".join(f"{n} {g:+.0f}" for n, g in row["growth_mib"].items())
        most = max(row["growth_mib"].items(), key=lambda item: item[1])[0]
        growth += f" (peak {most} {row['peak_mib'][most]:.0f})"
        known = {"name", "seconds", "worst_health_s", "growth_mib", "peak_mib", "health_polls"}
        notes = "  ".join(f"{k}={v}" for k, v in row.items() if k not in known)
        terminalreporter.write_line(
            f"{row['name'][:60]:60} {row['seconds']:6.1f}s  worst /healthz {worst[1]:.3f}s "
            f"({worst[0]})  RSS MiB: {growth}  {notes}".rstrip()
        )
