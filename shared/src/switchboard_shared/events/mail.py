"""Mail events: `mail.received.v1`."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field

from switchboard_shared.email_address import EmailAddress
from switchboard_shared.events.base import Event, Part


class MailDirection(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"
    INTERNAL = "internal"


class SenderEvidence(StrEnum):
    """Why a message counts as ours (or nothing does): `From:` alone is a claim, not evidence."""

    SENT_FOLDER = "sent_folder"
    """Read from the mailbox's Sent folder (IMAP \\Sent, a configured sent folder, or posted
    with `folder=Sent` on the authenticated HTTP intake)."""
    AUTHENTICATION_RESULTS = "authentication_results"
    """A trusted relay's Authentication-Results header: DKIM (aligned) or DMARC passed for one
    of our domains."""
    NONE = "none"


class Attachment(Part):
    name: str | None = None
    type: str
    size: int = Field(ge=0, description="Bytes")
    sha256: str


class MailReceived(Event):
    """A message a mailbox received or sent."""

    message_id: str
    mailbox: str
    folder: str | None = None
    direction: MailDirection
    from_: EmailAddress | None = Field(default=None, alias="from")
    to: list[EmailAddress] = Field(default_factory=list)
    cc: list[EmailAddress] = Field(default_factory=list)
    reply_to: list[EmailAddress] = Field(default_factory=list)
    subject: str = ""
    sent_at: datetime | None = Field(default=None, description="UTC, from the Date header")
    thread_id: str | None = None
    in_reply_to: str | None = None
    references: list[str] = Field(default_factory=list)
    text: str = Field(default="", description="The new text, without quotes or signature")
    snippet: str = ""
    attachments: list[Attachment] = Field(default_factory=list)
    auto_headers: dict[str, str] = Field(
        default_factory=dict, description="Auto-Submitted, Precedence, List-*, X-Autoreply..."
    )
    report_type: str | None = Field(default=None, description="multipart/report report-type")
    size_bytes: int = Field(ge=0)
    defects: list[str] = Field(default_factory=list)
    counterpart: str | None = Field(
        default=None, description="Normalised address of the other party, when there is one"
    )
    sender_evidence: SenderEvidence | None = Field(
        default=None,
        description="What shows the message is ours: `sent_folder`, `authentication_results` "
        "or `none`. Outbound and internal need evidence. Absent: produced before it was recorded",
    )
    spoofed_sender: bool = Field(
        default=False,
        description="From (or, without a From, Sender / Return-Path) names one of our addresses "
        "or domains without evidence: the message is inbound and must not count as our act",
    )
    historical: bool = Field(
        default=False, description="Imported from the past (a history import), not live"
    )
