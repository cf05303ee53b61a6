"""Classified mail events for the bounce tests: a manager's message, the delivery status
notification that returns it, and the client writing again."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from switchboard_shared.events import InteractionClassified

OURS = "sales@our.example"
DAEMON = "mailer-daemon@mx.client.example"
T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


def _address(value: str) -> dict[str, Any]:
    return {"raw": value, "address": value, "name": None, "valid": True}


def classified(
    mail: dict[str, Any],
    *,
    interaction_id: str,
    counterpart: str | None,
    disposition: str,
    at: datetime,
    tags: list[str] | None = None,
) -> InteractionClassified:
    return InteractionClassified.model_validate(
        {
            "interaction_id": interaction_id,
            "kind": "mail",
            "occurred_at": at,
            "counterpart": counterpart,
            "disposition": disposition,
            "tags": tags or [],
            "classifier_version": "test",
            "mail": {"mailbox": OURS, "size_bytes": 100, "counterpart": counterpart, **mail},
        }
    )


def sent(
    message_id: str, to: str, *, at: datetime = T0, thread_id: str | None = None
) -> InteractionClassified:
    """Our message to a client (outbound, logged)."""
    return classified(
        {
            "message_id": message_id,
            "direction": "outbound",
            "from": _address(OURS),
            "to": [_address(to)],
            "subject": "Your quote",
            "thread_id": thread_id or message_id,
            "sender_evidence": "sent_folder",
        },
        interaction_id=f"ce-{message_id}",
        counterpart=to,
        disposition="logged",
        at=at,
    )


def received(
    message_id: str,
    sender: str,
    *,
    at: datetime = T0,
    thread_id: str | None = None,
    disposition: str = "reply_needed",
) -> InteractionClassified:
    """A client's message to us."""
    return classified(
        {
            "message_id": message_id,
            "direction": "inbound",
            "from": _address(sender),
            "to": [_address(OURS)],
            "subject": "Re: Your quote",
            "thread_id": thread_id or message_id,
        },
        interaction_id=f"ce-{message_id}",
        counterpart=sender,
        disposition=disposition,
        at=at,
    )


def bounced(
    message_id: str,
    recipients: list[str],
    *,
    original: str | None = None,
    in_reply_to: str | None = None,
    original_in_reply_to: str | None = None,
    permanent: bool = True,
    status: str | None = "5.1.1",
    diagnostic: str | None = "550 5.1.1 <ann@client.example>: Recipient address rejected",
    at: datetime = T0,
) -> InteractionClassified:
    """A delivery status notification from the client's mail server."""
    return classified(
        {
            "message_id": message_id,
            "direction": "inbound",
            "from": _address(DAEMON),
            "to": [_address(OURS)],
            "subject": "Undelivered Mail Returned to Sender",
            "thread_id": in_reply_to or message_id,
            "in_reply_to": in_reply_to,
            "report_type": "delivery-status",
            "bounce": {
                "recipients": recipients,
                "permanent": permanent,
                "status": status,
                "diagnostic": diagnostic,
                "original_message_id": original,
                "original_in_reply_to": original_in_reply_to,
            },
        },
        interaction_id=f"ce-{message_id}",
        counterpart=DAEMON,
        disposition="auto_closed",
        tags=["bounce"],
        at=at,
    )
