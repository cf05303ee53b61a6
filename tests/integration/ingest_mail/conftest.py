"""ingest-mail against a real Dovecot: one server per test session, one fresh user per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest_mail.checkpoints import CheckpointStore
from support.dovecot import DovecotServer, MailAccount, dovecot_binary, start_dovecot
from support.infra import missing_infra


@pytest.fixture(scope="session")
def dovecot() -> Iterator[DovecotServer]:
    if dovecot_binary() is None:
        missing_infra("dovecot is not installed (Debian: dovecot-imapd)")
    server = start_dovecot()
    try:
        yield server
    finally:
        server.remove()


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
