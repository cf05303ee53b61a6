"""The AsyncAPI document says what consumers must handle: at-least-once, keyed by ce_id."""

from __future__ import annotations

from typing import Any

import yaml

from switchboard_shared import topics
from switchboard_shared.schemas import asyncapi_yaml


def document() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(asyncapi_yaml())
    return loaded


def test_the_document_states_at_least_once_delivery_and_the_idempotency_key() -> None:
    description = document()["info"]["description"]
    assert "at least once" in description
    assert "`ce_id`" in description
    assert "idempotency key" in description
    assert "switchboard_shared.dedupe" in description


def test_every_channel_states_it() -> None:
    channels = document()["channels"]
    assert {c["address"] for c in channels.values()} == {t.name for t in topics.ALL}
    for channel in channels.values():
        text = " ".join(channel["description"].split())
        assert "Delivered at least once" in text, channel["address"]
        assert "the idempotency key is the ce_id header" in text, channel["address"]
