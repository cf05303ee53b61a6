"""The documented generic call-record format, signed with HMAC-SHA256.

A request carries `X-Switchboard-Timestamp: <unix seconds>` and
`X-Switchboard-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>`.
The timestamp must be within the replay window. The body is one call object or a list of them
(see README, "The generic webhook").
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import phonenumbers
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from ingest_calls.domain.calls import CallEvent, build_recorded
from ingest_calls.domain.errors import AuthenticationFailed, InvalidPayload
from ingest_calls.domain.request import Context, WebhookRequest
from switchboard_shared.events import CallDirection, CallRecorded, CallStatus
from switchboard_shared.phone import PhonePolicy

PROVIDER = "generic"
CONTENT_TYPES = frozenset({"application/json"})
TIMESTAMP_HEADER = "x-switchboard-timestamp"
SIGNATURE_HEADER = "x-switchboard-signature"
MAX_CALLS_PER_REQUEST = 500


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature header value for a body (what a sender computes)."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def verify(request: WebhookRequest, ctx: Context) -> None:
    timestamp = request.header(TIMESTAMP_HEADER).strip()
    signature = request.header(SIGNATURE_HEADER).strip()
    window_s = ctx.replay_window_s
    if not timestamp or not signature:
        raise AuthenticationFailed(f"missing {TIMESTAMP_HEADER} or {SIGNATURE_HEADER} header")
    try:
        sent = int(timestamp)
    except ValueError as exc:
        raise AuthenticationFailed(f"{TIMESTAMP_HEADER} is not unix seconds") from exc
    current = time.time() if ctx.now is None else ctx.now
    if abs(current - sent) > window_s:
        raise AuthenticationFailed(f"timestamp outside the {window_s}s replay window")
    expected = sign(ctx.secret, timestamp, request.body)
    # Several signatures may be sent (comma separated) while a secret is being rotated.
    offered = [s.strip() for s in signature.split(",")]
    if not any(hmac.compare_digest(expected.encode(), s.encode()) for s in offered):
        raise AuthenticationFailed("signature does not match")


class GenericCall(BaseModel):
    """One call in the generic format."""

    model_config = ConfigDict(extra="allow", str_strip_whitespace=True)

    id: str = Field(min_length=1, max_length=200, description="Your id of the call, unique")
    direction: CallDirection
    status: CallStatus
    from_: str | None = Field(default=None, alias="from", max_length=200)
    to: str | None = Field(default=None, max_length=200)
    started_at: AwareDatetime
    answered_at: AwareDatetime | None = None
    ended_at: AwareDatetime | None = None
    ring_s: float | None = Field(default=None, ge=0)
    talk_s: float | None = Field(default=None, ge=0)
    agent: str | None = Field(default=None, max_length=200)
    linked_id: str | None = Field(default=None, max_length=200)
    recording_url: str | None = Field(default=None, max_length=2000)
    hangup_cause: str | None = Field(default=None, max_length=200)
    region: str | None = Field(default=None, min_length=2, max_length=2)

    @field_validator("answered_at", "ended_at")
    @classmethod
    def _not_before_start(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        started = info.data.get("started_at")
        if value is not None and started is not None and value < started:
            raise ValueError(f"{info.field_name} is before started_at")
        return value

    @field_validator("started_at", "answered_at", "ended_at")
    @classmethod
    def _representable_in_utc(cls, value: datetime | None) -> datetime | None:
        if value is not None:
            try:
                value.astimezone(UTC)
            except OverflowError:
                raise ValueError("is out of range once converted to UTC") from None
        return value

    @field_validator("region")
    @classmethod
    def _known_region(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if value.upper() not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"unknown ISO region {value!r}")
        return value.upper()


def _field_of(error: Mapping[str, Any], index: int | None) -> str:
    loc = [str(p) for p in error.get("loc", ())]
    if index is not None:
        loc.insert(0, f"[{index}]")
    return ".".join(loc) or "body"


def parse(request: WebhookRequest, ctx: Context, policy: PhonePolicy) -> list[CallEvent]:
    document = request.json()
    items = document if isinstance(document, list) else [document]
    if not items:
        raise InvalidPayload("empty list of calls", field="body")
    if len(items) > MAX_CALLS_PER_REQUEST:
        raise InvalidPayload(
            f"more than {MAX_CALLS_PER_REQUEST} calls in one request", field="body"
        )
    index_of = None if not isinstance(document, list) else 0
    events: list[CallEvent] = []
    for i, item in enumerate(items):
        position = None if index_of is None else i
        if not isinstance(item, dict):
            raise InvalidPayload("a call must be a JSON object", field=_field_of({}, position))
        try:
            call = GenericCall.model_validate(item)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = _field_of(first, position)
            raise InvalidPayload(f"{field}: {first['msg']}", field=field) from exc
        events.append(to_event(call, item, policy, ctx.region))
    return events


def _utc(value: datetime | None) -> datetime | None:
    return value.astimezone(UTC) if value else None


def to_event(
    call: GenericCall, raw: dict[str, Any], policy: PhonePolicy, region: str
) -> CallRecorded:
    started = _utc(call.started_at)
    assert started is not None
    return build_recorded(
        provider=PROVIDER,
        provider_call_id=call.id,
        direction=call.direction,
        status=call.status,
        started_at=started,
        answered_at=_utc(call.answered_at),
        ended_at=_utc(call.ended_at),
        caller=call.from_,
        callee=call.to,
        policy=policy,
        region=call.region or region,
        ring_s=call.ring_s,
        talk_s=call.talk_s,
        agent=call.agent,
        linked_id=call.linked_id,
        recording_url=call.recording_url,
        hangup_cause=call.hangup_cause,
        raw=raw,
    )
