"""The rows and records a stored interaction becomes: its `interactions` row and the
`crm.interactions.v1` event announcing it."""

from __future__ import annotations

from typing import Any

from crm_store.activities import domain
from crm_store.directory import Link
from crm_store.interactions import bounces
from switchboard_shared.cloudevents import KafkaRecord, deterministic_id, encode
from switchboard_shared.events import InteractionClassified, InteractionLinked
from switchboard_shared.topics import CRM_INTERACTIONS


def direction(event: InteractionClassified) -> str:
    if event.call is not None:
        return event.call.direction.value
    if event.mail is not None:
        return event.mail.direction.value
    return "unknown"


def interaction_values(
    event: InteractionClassified,
    manager_id: str | None,
    link: Link,
    email_domain: str | None,
    thread_id: str | None = None,
) -> dict[str, Any]:
    return {
        "id": event.interaction_id,
        "kind": event.kind.value,
        "occurred_at": event.occurred_at,
        "counterpart": event.counterpart,
        "direction": direction(event),
        "disposition": event.disposition.value,
        "tags": [t.value for t in event.tags],
        "reasons": [r.model_dump(mode="json") for r in event.reasons],
        "payload": event.model_dump(mode="json", by_alias=True),
        "agent": event.call.agent if event.call is not None else None,
        "manager_id": manager_id,
        "status": event.call.status.value if event.call is not None else None,
        "linked_id": domain.linked_key(event),
        "domain": email_domain,
        "contact_id": link.contact_id,
        "company_id": link.company_id,
        "link": link.kind.value,
        "candidates": list(link.candidates),
        **bounces.message_columns(event, thread_id),
    }


def linked_record(
    event: InteractionClassified, manager_id: str | None, link: Link, source: str
) -> KafkaRecord:
    data = InteractionLinked(
        interaction_id=event.interaction_id,
        kind=event.kind,
        occurred_at=event.occurred_at,
        counterpart=event.counterpart,
        direction=direction(event),
        tags=list(event.tags),
        disposition=event.disposition,
        contact_id=link.contact_id,
        company_id=link.company_id,
        manager_id=manager_id,
    )
    ce_id = deterministic_id("crm.interaction", event.interaction_id)
    key = event.counterpart or event.interaction_id
    return encode(CRM_INTERACTIONS, data, id=ce_id, source=source, key=key)
