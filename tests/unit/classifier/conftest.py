"""Builders for the classifier's unit tests: realistic calls and messages, the default rules."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml

from classifier.knowledge import Knowledge, Report
from classifier.rules import RuleSet, default_rules_path, load_rules, parse_rules
from ingest_mail.domain.parse import MailboxIdentity, parse_message
from switchboard_shared.events import CallDirection, CallRecorded, CallStatus, MailReceived
from switchboard_shared.phone import PhonePolicy, normalise_phone

US = PhonePolicy(default_region="US")
STARTED = datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)
CLIENT = "+1 (415) 555-2671"
CLIENT_E164 = "+14155552671"
STRANGER_E164 = "+14155559876"
MAILBOX = MailboxIdentity(address="anna@acme.example", own_domains=frozenset({"acme.example"}))

CallFactory = Callable[..., CallRecorded]
MailFactory = Callable[..., MailReceived]


@pytest.fixture(scope="session")
def rules() -> RuleSet:
    return load_rules(default_rules_path())


@pytest.fixture
def knowledge() -> Knowledge:
    """Knows the client's number and address; nothing about strangers."""
    known = Knowledge()
    known.put_point(CLIENT_E164, True)
    known.put_point("bob@client.example", True)
    return known


def wrong_number_report(point: str, manager: str, days_ago: int, overturn: bool = False) -> Report:
    at = STARTED - timedelta(days=days_ago)
    return Report(
        f"fb-{manager}-{days_ago}-{overturn}", point, "wrong_number", manager, at, overturn
    )


@pytest.fixture
def make_call() -> CallFactory:
    def build(
        direction: str = "inbound",
        status: str = "answered",
        *,
        other: str | None = CLIENT,
        ours: str = "101",
        talk_s: float | None = 95.0,
        linked_id: str | None = None,
        hangup_cause: str | None = None,
        call_id: str = "generic:c1",
        agent: str | None = "101",
    ) -> CallRecorded:
        call_direction = CallDirection(direction)
        call_status = CallStatus(status)
        if call_direction is CallDirection.INBOUND:
            from_, to = normalise_phone(other, US), normalise_phone(ours, US)
            party = from_
        elif call_direction is CallDirection.OUTBOUND:
            from_, to = normalise_phone(ours, US), normalise_phone(other, US)
            party = to
        else:
            from_, to = normalise_phone(ours, US), normalise_phone(other or "102", US)
            party = None
        answered = call_status is CallStatus.ANSWERED
        talk = talk_s if answered else 0.0
        answered_at = STARTED + timedelta(seconds=8) if answered else None
        ended = (answered_at + timedelta(seconds=talk or 0)) if answered_at else None
        return CallRecorded(
            call_id=call_id,
            provider="generic",
            direction=call_direction,
            status=call_status,
            started_at=STARTED,
            answered_at=answered_at,
            ended_at=ended or STARTED + timedelta(seconds=25),
            ring_s=8.0 if answered else 25.0,
            talk_s=talk,
            from_=from_,
            to=to,
            counterpart=party.e164 if party is not None and party.kind == "external" else None,
            agent=agent,
            linked_id=linked_id,
            hangup_cause=hangup_cause,
        )

    return build


@pytest.fixture
def make_mail() -> MailFactory:
    """Parse a raw message the way ingest-mail does, so the tests see its real auto_headers."""

    def build(
        headers: dict[str, str] | list[tuple[str, str]] | None = None,
        *,
        sender: str = "Bob Client <bob@client.example>",
        to: str = "Anna <anna@acme.example>",
        subject: str = "Quote for 40 chairs",
        body: str = "Hello Anna,\nCould you send the quote by Friday?\nBob\n",
        content_type: str | None = None,
        raw_body: str | None = None,
        folder: str | None = None,
    ) -> MailReceived:
        lines = [
            f"From: {sender}",
            f"To: {to}",
            f"Subject: {subject}",
            "Date: Mon, 02 Mar 2026 09:00:00 +0000",
            "Message-ID: <m1@client.example>",
            "MIME-Version: 1.0",
        ]
        items: list[tuple[str, str]] = (
            list(headers.items()) if isinstance(headers, dict) else list(headers or [])
        )
        lines += [f"{name}: {value}" for name, value in items]
        lines.append(f"Content-Type: {content_type or 'text/plain; charset=utf-8'}")
        raw = "\n".join(lines) + "\n\n" + (raw_body if raw_body is not None else body)
        return parse_message(raw.encode(), mailbox=MAILBOX, folder=folder)

    return build


@pytest.fixture
def custom_rules() -> Callable[..., RuleSet]:
    """The default rules with some sections replaced, e.g. numbers={"own": [...]}."""

    def build(**sections: Any) -> RuleSet:
        data = yaml.safe_load(default_rules_path().read_text())
        for name, value in sections.items():
            if isinstance(value, dict) and isinstance(data.get(name), dict):
                data[name] = {**data[name], **value}
            else:
                data[name] = value
        return parse_rules(yaml.safe_dump(data).encode(), source="custom.yaml")

    return build
