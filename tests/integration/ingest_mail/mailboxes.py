"""What the IMAP tests share: a mailbox entry for a Dovecot account (as an operator writes it in
INGEST_MAIL_MAILBOXES), the keys and subjects of the test messages, and the metrics read back."""

from __future__ import annotations

import hashlib
import uuid
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from typing import Any

from prometheus_client import REGISTRY

from ingest_mail.mailboxes import MailboxConfig
from support.dovecot import MailAccount


def mailbox_entry(account: MailAccount, **overrides: Any) -> dict[str, Any]:
    """One entry of INGEST_MAIL_MAILBOXES reading this account's INBOX (plain IMAP), under a
    fresh name, polled every 0.3 s; `overrides` replace any field."""
    entry: dict[str, Any] = {
        "name": f"mb-{uuid.uuid4().hex[:8]}",
        "host": account.server.host,
        "port": account.server.port,
        "security": "none",
        "username": account.username,
        "password": account.password,
        "folders": ["INBOX"],
        "poll_interval_s": 0.3,
    }
    entry.update(overrides)
    return entry


def mailbox(account: MailAccount, **overrides: Any) -> MailboxConfig:
    """`mailbox_entry` as the service's configuration."""
    return MailboxConfig.model_validate(mailbox_entry(account, **overrides))


def key_of(raw: bytes) -> str:
    """Stand-in for the real message key: the Message-ID, else a content hash."""
    message_id = BytesHeaderParser(policy=default_policy).parsebytes(raw).get("Message-ID")
    return str(message_id).strip() if message_id else "sha256:" + hashlib.sha256(raw).hexdigest()


def subject_of(raw: bytes) -> str:
    return str(BytesHeaderParser(policy=default_policy).parsebytes(raw)["Subject"])


def subjects(*numbers: int) -> list[str]:
    """The subjects of `support.dovecot.make_message(n)` for these n."""
    return [f"message {n}" for n in numbers]


def metric(name: str, **labels: str) -> float:
    """A sample of this process's registry (the intake under test runs in it); 0 when absent."""
    return REGISTRY.get_sample_value(name, labels) or 0.0
