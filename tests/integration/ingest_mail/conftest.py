"""ingest-mail against a real Dovecot (one server per test session, one fresh user per test)
and a real Postfix delivering by LMTP (one instance per test session)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest_mail.checkpoints import CheckpointStore
from support.dovecot import DovecotServer, MailAccount, dovecot_binary, start_dovecot
from support.infra import missing_infra
from support.ports import free_port
from support.postfix import PostfixServer, postfix_binary, running_postfix


@pytest.fixture(scope="session")
def dovecot() -> Iterator[DovecotServer]:
    if dovecot_binary() is None:
        missing_infra("dovecot is not installed (Debian: dovecot-imapd)")
    server = start_dovecot()
    try:
        yield server
    finally:
        server.remove()


@pytest.fixture(scope="session")
def postfix() -> Iterator[PostfixServer]:
    """Postfix relaying mail for acme.test by LMTP to `postfix.lmtp_port`, where a test starts
    ingest-mail."""
    if postfix_binary() is None:
        missing_infra("postfix is not installed (Debian: postfix)")
    if os.geteuid() != 0:
        missing_infra("postfix starts as root (it then runs as its own user)")
    with running_postfix(free_port()) as server:
        yield server


@pytest.fixture
def account(dovecot: DovecotServer) -> MailAccount:
    """A fresh user, so a fresh mail store, per test."""
    username = f"sales-{uuid.uuid4().hex[:10]}@acme.test"
    dovecot.add_user(username, "test-secret-0123")
    return MailAccount(dovecot, username, "test-secret-0123")


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "var" / "ingest-mail.db"


@pytest.fixture
def store(store_path: Path) -> Iterator[CheckpointStore]:
    store = CheckpointStore(store_path)
    yield store
    store.close_sync()
