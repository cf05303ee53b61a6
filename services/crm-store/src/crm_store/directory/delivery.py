"""Addresses that do not take mail. A permanent bounce marks the address undeliverable on every
active point that has it (when, the status, the remote server's answer, the bounce); a later
message from the address clears the mark. Either change is announced on the compacted
`crm.contact-points.v1` (`relinking.delivery_changed` applies the rules). Temporary failures
(a delay, a full mailbox) change nothing.

`next_mark` is the rule, pure: the newest permanent failure wins, unless the address wrote to
us after it. Rules are applied on what is stored, so a late-delivered old bounce does not mark
an address that has written since.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from crm_store.core import Point
from crm_store.directory.schemas import UndeliverableOut
from switchboard_shared.events import InteractionClassified, MailDirection, Tag, Undeliverable

MAX_FAILED_RECIPIENTS = 20
"""A bounce naming more addresses than this marks only the first ones (bounded work)."""
STATUS_CHARS = 16
DIAGNOSTIC_CHARS = 500


@dataclass(frozen=True)
class Mark:
    """Why an address is undeliverable."""

    since: datetime
    status: str | None = None
    diagnostic: str | None = None
    interaction_id: str | None = None

    def event(self) -> Undeliverable:
        return Undeliverable(
            since=self.since,
            status=self.status,
            diagnostic=self.diagnostic,
            interaction_id=self.interaction_id,
        )


def mark_of(point: Point) -> Mark | None:
    if point.undeliverable_at is None:
        return None
    return Mark(
        point.undeliverable_at,
        point.undeliverable_status,
        point.undeliverable_diagnostic,
        point.undeliverable_interaction_id,
    )


def bounce_marks(event: InteractionClassified) -> list[tuple[str, Mark]]:
    """The addresses a permanent bounce marks, with the mark; none for a temporary failure."""
    mail = event.mail
    if mail is None or mail.bounce is None or not mail.bounce.permanent:
        return []
    bounce = mail.bounce
    mark = Mark(
        since=event.occurred_at,
        status=(bounce.status or None) and bounce.status[:STATUS_CHARS],
        diagnostic=(bounce.diagnostic or None) and bounce.diagnostic[:DIAGNOSTIC_CHARS],
        interaction_id=event.interaction_id,
    )
    addresses = dict.fromkeys(r.strip().lower() for r in bounce.recipients if "@" in r)
    return [(address, mark) for address in list(addresses)[:MAX_FAILED_RECIPIENTS]]


def heard_from(event: InteractionClassified) -> str | None:
    """The address a message shows to take mail: the sender of an inbound message that is not
    a bounce and not a forgery of our own address."""
    mail = event.mail
    if (
        mail is None
        or mail.direction is not MailDirection.INBOUND
        or mail.bounce is not None
        or Tag.BOUNCE in event.tags
        or mail.spoofed_sender
        or mail.from_ is None
        or not mail.from_.address
    ):
        return None
    return mail.from_.address.strip().lower()


def next_mark(
    stored: Mark | None, bounces: Iterable[Mark], last_heard: datetime | None
) -> Mark | None:
    """The newest permanent failure, unless a message from the address came after it."""
    newest = max(
        (m for m in (stored, *bounces) if m is not None),
        key=lambda m: (m.since, m.interaction_id or ""),
        default=None,
    )
    if newest is None or (last_heard is not None and last_heard > newest.since):
        return None
    return newest


def set_mark(point: Point, mark: Mark | None) -> None:
    point.undeliverable_at = mark.since if mark else None
    point.undeliverable_status = mark.status if mark else None
    point.undeliverable_diagnostic = mark.diagnostic if mark else None
    point.undeliverable_interaction_id = mark.interaction_id if mark else None


def undeliverable_of(points: Sequence[Point]) -> list[UndeliverableOut]:
    """The marked addresses among these points, in their order, each once."""
    out: dict[str, UndeliverableOut] = {}
    for point in points:
        if (mark := mark_of(point)) is not None and point.value not in out:
            out[point.value] = UndeliverableOut(
                email=point.value,
                since=mark.since,
                status=mark.status,
                diagnostic=mark.diagnostic,
                interaction_id=mark.interaction_id,
            )
    return list(out.values())


def preferred_email(points: Sequence[Point]) -> str | None:
    """The address to write to: the first e-mail point that takes mail; None when none does."""
    return next((p.value for p in points if p.type == "email" and p.undeliverable_at is None), None)
