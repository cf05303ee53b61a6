"""The whole stack, started once per database (SQLite and PostgreSQL) on its own real broker,
with single sign-on through a local OpenID Connect provider (`oidc-provider-mock`, in a thread
of the test process)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import pytest_asyncio
from oidc_provider_mock import run_server_in_thread

from support.broker import start_broker
from support.ports import free_port
from support.stack import (
    ADMIN_TOKEN,
    ASTERISK_TOKEN,
    GENERIC_SECRET,
    GROUP_OWNER,
    Stack,
    make_stack,
)
from switchboard_shared.admin import create_topics
from switchboard_shared.settings import CommonSettings

OIDC_CLIENT_ID = "switchboard-e2e"
OIDC_CLIENT_SECRET = "e2e-oidc-client-secret-0123456789"


@pytest.fixture(scope="session")
def oidc_issuer() -> Iterator[str]:
    """A local OpenID Connect provider: anyone may sign in as any subject, with the claims a
    test gives it (`PUT /users/<sub>`); it asks for a nonce."""
    with run_server_in_thread(port=free_port(), require_nonce=True) as server:
        yield f"http://localhost:{server.server_port}"


@asynccontextmanager
async def running_stack(
    database_url: str, workdir: Path, oidc_issuer: str | None = None
) -> AsyncIterator[Stack]:
    """Every service on its own new broker and the given database, stopped on leaving; single
    sign-on through `oidc_issuer` when one is given."""
    oidc = (
        {
            "CRM_STORE_OIDC_ISSUER": oidc_issuer,
            "CRM_STORE_OIDC_CLIENT_ID": OIDC_CLIENT_ID,
            "CRM_STORE_OIDC_CLIENT_SECRET": OIDC_CLIENT_SECRET,
            "CRM_STORE_OIDC_EMAIL_DOMAINS": "acme-corp.com",
            "CRM_STORE_OIDC_LABEL": "Acme accounts",
        }
        if oidc_issuer
        else {}
    )
    broker = start_broker(workdir / "broker.log")
    try:
        await create_topics(CommonSettings(kafka_bootstrap=broker.bootstrap))
        stack = make_stack(
            workdir,
            bootstrap=broker.bootstrap,
            database_url=database_url,
            secrets={
                "INGEST_CALLS_GENERIC_HMAC_SECRET": GENERIC_SECRET,
                "INGEST_CALLS_ASTERISK_TOKEN": ASTERISK_TOKEN,
                "CRM_STORE_BOOTSTRAP_ADMIN_TOKEN": ADMIN_TOKEN,
                "CRM_STORE_GROUP_OWNERS": f"600={GROUP_OWNER}",
                **oidc,
            },
        )
        await asyncio.to_thread(stack.start)
        try:
            yield stack
        finally:
            await asyncio.to_thread(stack.stop)
    finally:
        broker.stop()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def stack(
    database_url: str, tmp_path_factory: pytest.TempPathFactory, oidc_issuer: str
) -> AsyncIterator[Stack]:
    workdir = tmp_path_factory.mktemp("stack")
    async with running_stack(database_url, workdir, oidc_issuer) as stack:
        yield stack
