"""Aircall webhooks: JSON `{resource, event, timestamp, token, data}`.

Aircall signs nothing: every body carries the webhook's `token`, compared here in constant time
with INGEST_CALLS_AIRCALL_TOKEN. Anyone holding the token can post, and there is no timestamp
to bound replays (a replay dedupes on its event id).

`call.created`, `call.ringing_on_agent` and `call.answered` become `CallProgress`; `call.ended`
(sent about 30 s after the hang-up, once duration, recording and voicemail are final) becomes
`CallRecorded`. `call.hungup` (sent at once, before the data is final) and every other event
are acknowledged and ignored.
"""

from __future__ import annotations

import hmac
import time
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from ingest_calls.domain.calls import CallEvent, build_progress, build_recorded
from ingest_calls.domain.errors import AuthenticationFailed, InvalidPayload
from ingest_calls.domain.request import Context, WebhookRequest
from switchboard_shared.events import CallDirection, CallState, CallStatus
from switchboard_shared.phone import PhonePolicy

PROVIDER = "aircall"
CONTENT_TYPES = frozenset({"application/json"})

_PROGRESS = {
    "call.created": CallState.INITIATED,
    "call.ringing_on_agent": CallState.RINGING,
    "call.answered": CallState.ANSWERED,
}
_DIRECTIONS = {"inbound": CallDirection.INBOUND, "outbound": CallDirection.OUTBOUND}
# missed_call_reason of an inbound call: the caller gave up, or nobody could take it.
MISSED_REASONS = {
    "short_abandoned": CallStatus.CANCELED,
    "abandoned_in_ivr": CallStatus.CANCELED,
    "abandoned_in_classic": CallStatus.CANCELED,
    "out_of_opening_hours": CallStatus.NO_ANSWER,
    "no_available_agent": CallStatus.NO_ANSWER,
    "agents_did_not_answer": CallStatus.NO_ANSWER,
}


def verify(request: WebhookRequest, ctx: Context) -> None:
    try:
        document = request.json()
    except InvalidPayload as exc:
        raise AuthenticationFailed("the body is not JSON, so it carries no token") from exc
    token = document.get("token") if isinstance(document, dict) else None
    if not isinstance(token, str) or not token:
        raise AuthenticationFailed("missing token")
    offered = token.encode("utf-8", "replace")
    if not hmac.compare_digest(ctx.secret.encode(), offered):
        raise AuthenticationFailed("token does not match")


def parse(request: WebhookRequest, ctx: Context, policy: PhonePolicy) -> list[CallEvent]:
    document = request.json()
    if not isinstance(document, dict):
        raise InvalidPayload("the body must be a JSON object", field="body")
    event = document.get("event")
    if document.get("resource") != "call" or not isinstance(event, str):
        return []
    if event != "call.ended" and event not in _PROGRESS:
        return []
    data = document.get("data")
    if not isinstance(data, dict):
        raise InvalidPayload("data must be an object", field="data")
    call_id = data.get("id")
    if isinstance(call_id, bool) or not isinstance(call_id, int | str) or not str(call_id):
        raise InvalidPayload("data.id is missing", field="data.id")
    direction = _DIRECTIONS.get(str(data.get("direction", "")).lower())
    if direction is None:
        raise InvalidPayload("data.direction must be inbound or outbound", field="data.direction")
    theirs = _text(data.get("raw_digits"))
    number = data.get("number")
    ours = _text(number.get("digits")) if isinstance(number, dict) else None
    caller, callee = (theirs, ours) if direction is CallDirection.INBOUND else (ours, theirs)
    agent = _agent(data.get("user"))
    try:
        if event in _PROGRESS:
            at = _time(data, "started_at") if event == "call.created" else None
            at = at or _time(document, "timestamp", "") or _clock(ctx)
            return [
                build_progress(
                    provider=PROVIDER,
                    provider_call_id=str(call_id),
                    direction=direction,
                    state=_PROGRESS[event],
                    at=at,
                    caller=caller,
                    callee=callee,
                    policy=policy,
                    region=ctx.region,
                    agent=agent,
                    raw=document,
                )
            ]
        started = _time(data, "started_at")
        if started is None:
            raise InvalidPayload("data.started_at is missing", field="data.started_at")
        answered = _time(data, "answered_at")
        ended = _time(data, "ended_at")
        status = status_of(data, answered)
        media = data.get("recording") or data.get("voicemail")
        return [
            build_recorded(
                provider=PROVIDER,
                provider_call_id=str(call_id),
                direction=direction,
                status=status,
                started_at=started,
                answered_at=answered if status is CallStatus.ANSWERED else None,
                ended_at=max(ended, started) if ended else None,
                caller=caller,
                callee=callee,
                policy=policy,
                region=ctx.region,
                # Inbound: the user who answered; outbound: the user who dialled.
                agent=agent
                if status is CallStatus.ANSWERED or direction is CallDirection.OUTBOUND
                else None,
                # `recording`/`voicemail` are S3 links that expire after 10 minutes; `asset`
                # is the stable link (behind an Aircall login). raw keeps both.
                recording_url=(_text(data.get("asset")) or _text(media)) if media else None,
                hangup_cause=_text(data.get("hangup_cause"))
                or _text(data.get("missed_call_reason")),
                raw=document,
            )
        ]
    except ValidationError as exc:
        raise InvalidPayload(f"unusable call data: {exc.errors()[0]['msg']}") from exc


def status_of(data: dict[str, Any], answered: datetime | None) -> CallStatus:
    """Answered when answered_at is set and no missed_call_reason; a missed call that left a
    voicemail is voicemail; otherwise by missed_call_reason (outbound: no answer)."""
    reason = _text(data.get("missed_call_reason"))
    if answered is not None and reason is None:
        return CallStatus.ANSWERED
    if _text(data.get("voicemail")):
        return CallStatus.VOICEMAIL
    return MISSED_REASONS.get(reason or "", CallStatus.NO_ANSWER)


def _agent(user: Any) -> str | None:
    """The Aircall user: e-mail when given (what a manager record can match), else the id."""
    if not isinstance(user, dict):
        return None
    email = _text(user.get("email"))
    if email:
        return email
    user_id = user.get("id")
    if isinstance(user_id, int | str) and not isinstance(user_id, bool) and str(user_id):
        return str(user_id)
    return None


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _time(container: dict[str, Any], key: str, prefix: str = "data.") -> datetime | None:
    """Unix seconds (Aircall sends integers) as a UTC datetime."""
    value = container.get(key)
    if value is None:
        return None
    field = prefix + key
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidPayload(f"{field} is not unix seconds", field=field)
    try:
        return datetime.fromtimestamp(value, UTC)
    except (ValueError, OverflowError, OSError) as exc:
        raise InvalidPayload(f"{field} is out of range", field=field) from exc


def _clock(ctx: Context) -> datetime:
    return datetime.fromtimestamp(time.time() if ctx.now is None else ctx.now, UTC)
