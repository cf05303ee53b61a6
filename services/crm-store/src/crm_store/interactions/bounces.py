"""What a bounce is about. A delivery status notification comes from a mail system, not from
the client: it belongs with the message it returns. `returned_ids` names that message (the
Message-ID the bounce returns, its In-Reply-To, the In-Reply-To of the returned message), the
batch links the bounce to that message's contact and thread (else to whoever has the failed
address), and after storing:

* the addresses a permanent failure names are marked undeliverable, those that wrote to us since
  are cleared (`directory.delivery_changed`);
* an open `reply` on that thread, or waiting for that address, says the address bounced, so
  nobody answers into the void; the flag goes when the address takes mail again.

A bounce opens no activity: it asks nobody for an outcome (the classifier closes it). The owner
learns from the contact, whose address shows as undeliverable (and, when it was the only way to
reach the client, as "no working address") wherever the page offers it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from crm_store.activities import ActivityRepository
from crm_store.core import Interaction
from crm_store.directory import (
    DirectoryRepository,
    Link,
    LinkKind,
    delivery_changed,
    linking,
    owners_of,
)
from crm_store.interactions.repository import InteractionRepository
from switchboard_shared.cloudevents import KafkaRecord
from switchboard_shared.events import InteractionClassified, Tag

log = logging.getLogger(__name__)

MESSAGE_ID_CHARS = 998


@dataclass(frozen=True)
class Original:
    """The message a bounce returns, as stored (or arriving in the same batch)."""

    link: Link
    thread_id: str | None


def is_bounce(event: InteractionClassified) -> bool:
    mail = event.mail
    return mail is not None and (mail.bounce is not None or Tag.BOUNCE in event.tags)


def returned_ids(event: InteractionClassified) -> list[str]:
    """Message-IDs that name what a bounce returns, the most telling first: the returned
    message itself, the message the bounce answers, the message the returned one answered."""
    mail = event.mail
    if mail is None or not is_bounce(event):
        return []
    bounce = mail.bounce
    ids = [
        bounce.original_message_id if bounce is not None else None,
        mail.in_reply_to,
        bounce.original_in_reply_to if bounce is not None else None,
    ]
    return list(dict.fromkeys(i[:MESSAGE_ID_CHARS] for i in ids if i))


def failed_recipients(event: InteractionClassified) -> list[str]:
    mail = event.mail
    if mail is None or mail.bounce is None:
        return []
    return [r.strip().lower() for r in mail.bounce.recipients[:20] if "@" in r]


def original_of(ids: Sequence[str], known: dict[str, Original]) -> Original | None:
    """The first of a bounce's returned ids that names a known message."""
    return next((known[i] for i in ids if i in known), None)


def linked_bounce(
    original: Original | None, by_recipient: Link | None
) -> tuple[Link | None, str | None]:
    """A bounce's link and thread: the returned message's, else the link of whoever has the
    failed address. (None, None) when neither is known: the bounce keeps its own."""
    thread = original.thread_id if original is not None else None
    if original is not None and original.link.kind is not LinkKind.NONE:
        return original.link, thread
    if by_recipient is not None and by_recipient.kind is not LinkKind.NONE:
        return by_recipient, thread
    return None, thread


def _stored(interaction: Interaction) -> Original:
    link = Link(
        contact_id=interaction.contact_id,
        company_id=interaction.company_id,
        kind=LinkKind(interaction.link),
        candidates=tuple(interaction.candidates),
    )
    return Original(link, interaction.thread_id)


async def link_bounces(
    repo: InteractionRepository,
    directory: DirectoryRepository,
    events: Sequence[InteractionClassified],
    links: dict[str, Link],
) -> dict[str, str]:
    """Give each bounce of a batch the link of the message it returns (in `links`); returns
    the thread each linked bounce belongs to, by interaction id."""
    wanted = {e.interaction_id: ids for e in events if (ids := returned_ids(e))}
    recipients = {e.interaction_id: r for e in events if (r := failed_recipients(e))}
    if not wanted and not recipients:
        return {}
    known: dict[str, Original] = {}
    for interaction in await repo.messages({i for ids in wanted.values() for i in ids}):
        known.setdefault(interaction.message_id or "", _stored(interaction))
    for event in events:  # the returned message may arrive in the same batch
        if event.mail is not None and not is_bounce(event):
            known.setdefault(
                event.mail.message_id, Original(links[event.interaction_id], event.mail.thread_id)
            )
    owners = await directory.point_owners(
        linking.forms_of(r for rs in recipients.values() for r in rs)
    )
    threads: dict[str, str] = {}
    for event in events:
        key = event.interaction_id
        if key not in wanted and key not in recipients:
            continue
        by_recipient = next(
            (
                found
                for r in recipients.get(key, [])
                if (found := linking.resolve(owners_of(owners, r))).kind is not LinkKind.NONE
            ),
            None,
        )
        link, thread = linked_bounce(original_of(wanted.get(key, []), known), by_recipient)
        if link is not None:
            links[key] = link
        if thread is not None:
            threads[key] = thread
        if event.mail is not None and event.mail.bounce is not None:
            log.info(
                "bounce read",
                extra={
                    "interaction_id": key,
                    "permanent": event.mail.bounce.permanent,
                    "status": event.mail.bounce.status,
                    "linked": link is not None,
                },
            )
    return threads


def message_columns(event: InteractionClassified, thread_id: str | None) -> dict[str, str | None]:
    """An interaction's Message-ID and thread (a linked bounce's is the returned message's)."""
    mail = event.mail
    if mail is None:
        return {"message_id": None, "thread_id": None}
    thread = (thread_id or mail.thread_id or "")[:MESSAGE_ID_CHARS]
    return {"message_id": mail.message_id[:MESSAGE_ID_CHARS], "thread_id": thread or None}


async def after_storing(
    session: AsyncSession,
    events: Sequence[InteractionClassified],
    threads: dict[str, str],
    *,
    source: str,
) -> list[KafkaRecord]:
    """Mark and clear addresses (`directory.delivery_changed`), flag the open replies they
    concern; returns the outbox records of the points that changed."""
    records, cleared = await delivery_changed(session, events, source=source)
    await flag_replies(ActivityRepository(session), events, threads, cleared)
    return records


def reply_flag(event: InteractionClassified, address: str) -> dict[str, str | None]:
    bounce = event.mail.bounce if event.mail is not None else None
    return {
        "address": address,
        "status": bounce.status if bounce is not None else None,
        "diagnostic": bounce.diagnostic if bounce is not None else None,
        "interaction_id": event.interaction_id,
        "at": event.occurred_at.isoformat(),
    }


async def flag_replies(
    activities: ActivityRepository,
    events: Sequence[InteractionClassified],
    threads: dict[str, str],
    cleared: Sequence[str],
) -> None:
    """Open replies on a bounced thread, or for a bounced address, say so; replies for an
    address that takes mail again no longer do."""
    if cleared:
        rows = await activities.open_activity_rows(cleared, kinds=["reply"])
        await activities.set_bounce([r["id"] for r in rows if r.get("bounce")], None)
    for event in events:
        mail = event.mail
        if mail is None or mail.bounce is None or not mail.bounce.permanent:
            continue
        addresses = failed_recipients(event)
        thread = threads.get(event.interaction_id)
        if not addresses:
            continue
        rows = await activities.open_activity_rows(
            addresses, [thread] if thread else [], kinds=["reply"]
        )
        for address in addresses:
            ids = [
                r["id"]
                for r in rows
                if r["counterpart"] == address or (thread and r["thread_id"] == thread)
            ]
            await activities.set_bounce(ids, reply_flag(event, address))
            rows = [r for r in rows if r["id"] not in ids]
