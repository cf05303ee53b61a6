"""Base class of every event payload on Kafka."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Event(BaseModel):
    """An immutable event payload.

    Unknown fields are ignored on decode so that a consumer built against v1 keeps working when a
    producer adds an optional field (additive changes stay within v1; anything else is v2).
    """

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)


class Part(BaseModel):
    """An immutable value object nested inside an event."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)
