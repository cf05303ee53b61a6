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


class Bounce(Part):
    """What a delivery status notification (a bounce) says failed.

    Read from RFC 3464 `message/delivery-status` parts first, then `X-Failed-Recipients`, then
    the free text of the non-standard formats (qmail, Exim, Postfix, Exchange, Gmail, Yahoo, ...).
    """

    recipients: list[str] = Field(
        default_factory=list,
        description="Normalised addresses that failed (Original-Recipient when the DSN gives "
        "one as rfc822, else Final-Recipient). When some failed permanently and others only "
        "temporarily, only the permanent ones are listed",
    )
    permanent: bool = Field(
        description="The address was refused (DSN Action: failed with a 5.x.x or no status, "
        "X-Failed-Recipients, a text bounce without a 4.x.x status): it does not take mail. "
        "False: a delay, or a server that gave up on a transient problem (4.x.x: host down, "
        "mailbox full, rate limit), to be logged only"
    )
    status: str | None = Field(
        default=None, description="RFC 3463 enhanced status code of the first failure, e.g. 5.1.1"
    )
    diagnostic: str | None = Field(
        default=None,
        description="The remote server's answer (Diagnostic-Code without its type, or the SMTP "
        "reply quoted in the text), whitespace collapsed, at most 500 characters",
    )
    original_message_id: str | None = Field(
        default=None,
        description="Message-ID of the returned original (ours), when the bounce returns its "
        "headers: links the bounce to the thread it failed in",
    )
    original_in_reply_to: str | None = Field(
        default=None, description="In-Reply-To of the returned original, when returned"
    )


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
    forwarded: str = Field(
        default="",
        description="The message forwarded below the new text (after a 'Forwarded message' or "
        "'Begin forwarded message' separator), its header lines included, for a reader to "
        "unfold: a bare 'FYI' forward keeps the question it forwards. Empty otherwise",
    )
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
    bounce: Bounce | None = Field(
        default=None,
        description="Set on a delivery status notification (a bounce or a delay warning) that "
        "names what failed; None on every other message",
    )
    spoofed_sender: bool = Field(
        default=False,
        description="From (or, without a From, Sender / Return-Path) names one of our addresses "
        "or domains without evidence: the message is inbound and must not count as our act",
    )
    historical: bool = Field(
        default=False, description="Imported from the past (a history import), not live"
    )
