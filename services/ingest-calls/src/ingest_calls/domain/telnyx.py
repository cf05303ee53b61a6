"""Telnyx Call Control (Voice API v2) webhooks, signed with Ed25519.

Telnyx signs `"<telnyx-timestamp>|<raw body>"` with the account's Ed25519 key and sends the
base64 signature in `telnyx-signature-ed25519`; the secret configured here is the base64 public
key from Mission Control (telnyx-python `lib/webhook_verification.py`). The body is an envelope
`{"data": {"event_type", "id", "occurred_at", "payload"}, "meta": {...}}`.

`call.initiated` and `call.answered` become `CallProgress`; `call.hangup` becomes `CallRecorded`.
Every other event type is acknowledged and ignored. Telnyx sends no answer time with the hangup,
and the adapter keeps no state, so the status is read from the hangup itself: the SIP code when
it is one, else `hangup_cause` (see `status_of`), and an answered call's ring and talk seconds
are left unknown.
"""

from __future__ import annotations

import base64
import re
import time
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import ValidationError

from ingest_calls.domain.calls import CallEvent, build_progress, build_recorded
from ingest_calls.domain.errors import AuthenticationFailed, InvalidPayload
from ingest_calls.domain.request import Context, WebhookRequest
from switchboard_shared.events import CallDirection, CallState, CallStatus
from switchboard_shared.phone import NumberKind, PhonePolicy, normalise_phone

PROVIDER = "telnyx"
CONTENT_TYPES = frozenset({"application/json"})
SIGNATURE_HEADER = "telnyx-signature-ed25519"
TIMESTAMP_HEADER = "telnyx-timestamp"

_DIGITS = re.compile(r"[0-9]{1,12}")
_DIRECTIONS = {"incoming": CallDirection.INBOUND, "outgoing": CallDirection.OUTBOUND}
_PROGRESS = {"call.initiated": CallState.INITIATED, "call.answered": CallState.ANSWERED}
# hangup_cause values from telnyx-python `types/call_hangup_webhook_event.py` (+ `no_answer`
# from the API reference). normal_clearing and time_limit end a connected call.
_CAUSES = {
    "normal_clearing": CallStatus.ANSWERED,
    "time_limit": CallStatus.ANSWERED,
    "originator_cancel": CallStatus.CANCELED,
    "timeout": CallStatus.NO_ANSWER,
    "no_answer": CallStatus.NO_ANSWER,
    "user_busy": CallStatus.BUSY,
    "call_rejected": CallStatus.BUSY,
    "not_found": CallStatus.FAILED,
    "unspecified": CallStatus.FAILED,
}
_SIP_CODES = {
    408: CallStatus.NO_ANSWER,
    480: CallStatus.NO_ANSWER,
    486: CallStatus.BUSY,
    600: CallStatus.BUSY,
    603: CallStatus.BUSY,
    487: CallStatus.CANCELED,
}


def public_keys(secret: str) -> list[Ed25519PublicKey]:
    """The verifying keys in INGEST_CALLS_TELNYX_PUBLIC_KEY: one base64 key, or several
    comma-separated while a new key is being activated. ValueError when one is not a key."""
    keys: list[Ed25519PublicKey] = []
    for item in secret.split(","):
        try:
            raw = base64.b64decode(item.strip(), validate=True)
            keys.append(Ed25519PublicKey.from_public_bytes(raw))
        except ValueError as exc:  # binascii.Error is a ValueError
            raise ValueError("not a base64 32-byte Ed25519 public key") from exc
    return keys


def verify(request: WebhookRequest, ctx: Context) -> None:
    signature = request.header(SIGNATURE_HEADER).strip()
    timestamp = request.header(TIMESTAMP_HEADER).strip()
    if not signature or not timestamp:
        raise AuthenticationFailed(f"missing {SIGNATURE_HEADER} or {TIMESTAMP_HEADER} header")
    if not _DIGITS.fullmatch(timestamp):
        raise AuthenticationFailed(f"{TIMESTAMP_HEADER} is not unix seconds")
    current = time.time() if ctx.now is None else ctx.now
    if abs(current - int(timestamp)) > ctx.replay_window_s:
        raise AuthenticationFailed(f"timestamp outside the {ctx.replay_window_s}s replay window")
    try:
        keys = public_keys(ctx.secret)
    except ValueError as exc:
        raise AuthenticationFailed("the configured Telnyx public key is unusable") from exc
    try:
        raw_signature = base64.b64decode(signature, validate=True)
    except ValueError as exc:  # binascii.Error, or non-ASCII text
        raise AuthenticationFailed(f"{SIGNATURE_HEADER} is not base64") from exc
    if len(raw_signature) != 64:
        raise AuthenticationFailed(f"{SIGNATURE_HEADER} is not a 64-byte Ed25519 signature")
    signed = timestamp.encode() + b"|" + request.body
    for key in keys:
        try:
            key.verify(raw_signature, signed)
            return
        except InvalidSignature:
            continue
    raise AuthenticationFailed("signature does not match")


def parse(request: WebhookRequest, ctx: Context, policy: PhonePolicy) -> list[CallEvent]:
    document = request.json()
    data = document.get("data") if isinstance(document, dict) else None
    if not isinstance(data, dict):
        raise InvalidPayload("the body has no data object", field="data")
    event_type = data.get("event_type")
    if not isinstance(event_type, str) or (
        event_type != "call.hangup" and event_type not in _PROGRESS
    ):
        return []
    payload = data.get("payload")
    if not isinstance(payload, dict):
        raise InvalidPayload("data.payload must be an object", field="data.payload")
    call_id = _text(payload, "call_leg_id") or _text(payload, "call_control_id")
    if not call_id:
        raise InvalidPayload("no call_leg_id or call_control_id", field="data.payload.call_leg_id")
    caller, callee = _text(payload, "from"), _text(payload, "to")
    direction = _direction(payload, caller, callee, policy, ctx)
    occurred = _time(data.get("occurred_at"), "data.occurred_at") or _clock(ctx)
    agent = _agent(direction, caller, callee)
    try:
        if event_type != "call.hangup":
            if direction is None:
                return []  # a live state we cannot place; the hangup will be rejected instead
            return [
                build_progress(
                    provider=PROVIDER,
                    provider_call_id=call_id,
                    direction=direction,
                    state=_PROGRESS[event_type],
                    at=occurred,
                    caller=caller,
                    callee=callee,
                    policy=policy,
                    region=ctx.region,
                    agent=agent,
                    raw=document,
                )
            ]
        if direction is None:
            raise InvalidPayload(
                "cannot tell the call direction: the hangup has none, and neither number is "
                "one of INGEST_CALLS_OWN_NUMBERS",
                field="data.payload.direction",
            )
        return [_recorded(document, payload, call_id, direction, occurred, agent, policy, ctx)]
    except ValidationError as exc:
        raise InvalidPayload(f"unusable call data: {exc.errors()[0]['msg']}") from exc


def _recorded(
    document: dict[str, Any],
    payload: dict[str, Any],
    call_id: str,
    direction: CallDirection,
    occurred: datetime,
    agent: str | None,
    policy: PhonePolicy,
    ctx: Context,
) -> CallEvent:
    started = _time(payload.get("start_time"), "data.payload.start_time") or occurred
    ended = _time(payload.get("end_time"), "data.payload.end_time") or occurred
    if ended < started:
        ended = started
    cause = _text(payload, "hangup_cause")
    status = status_of(cause, _text(payload, "sip_hangup_cause"))
    # No answer time in the hangup: an answered call's ring and talk time stay unknown.
    return build_recorded(
        provider=PROVIDER,
        provider_call_id=call_id,
        direction=direction,
        status=status,
        started_at=started,
        answered_at=None,
        ended_at=ended,
        caller=_text(payload, "from"),
        callee=_text(payload, "to"),
        policy=policy,
        region=ctx.region,
        agent=agent,
        linked_id=_text(payload, "call_session_id"),
        hangup_cause=cause,
        raw=document,
    )


def status_of(hangup_cause: str | None, sip_code: str | None) -> CallStatus:
    """The final status of a hung-up call.

    A SIP final response (outbound legs) decides first: 2xx means the callee answered,
    408/480 no answer, 486/600/603 busy or declined, 487 canceled, any other 3xx-6xx failed.
    Otherwise (`unspecified` on inbound legs, or a Q.850 number) `hangup_cause` decides.
    """
    code = int(sip_code) if sip_code and _DIGITS.fullmatch(sip_code) else 0
    if 200 <= code < 300:
        return CallStatus.ANSWERED
    if 300 <= code < 700:
        return _SIP_CODES.get(code, CallStatus.FAILED)
    return _CAUSES.get((hangup_cause or "").lower(), CallStatus.FAILED)


def _direction(
    payload: dict[str, Any],
    caller: str | None,
    callee: str | None,
    policy: PhonePolicy,
    ctx: Context,
) -> CallDirection | None:
    """`direction` when the event has it (call.initiated); else which side is ours."""
    given = _DIRECTIONS.get(str(payload.get("direction", "")).lower())
    if given is not None:
        return given
    source = normalise_phone(caller, policy, region=ctx.region)
    target = normalise_phone(callee, policy, region=ctx.region)
    if target.e164 in policy.own_numbers or target.kind is NumberKind.INTERNAL:
        return CallDirection.INBOUND
    if source.e164 in policy.own_numbers or source.kind is NumberKind.INTERNAL:
        return CallDirection.OUTBOUND
    try:
        return CallDirection(ctx.options.get("default_direction", "").strip().lower())
    except ValueError:
        return None


def _agent(direction: CallDirection | None, caller: str | None, callee: str | None) -> str | None:
    """The SIP user on our side, when our side is a SIP URI (a credential connection)."""
    ours = caller if direction is CallDirection.OUTBOUND else callee
    if direction is None or not ours or not ours.lower().startswith(("sip:", "sips:")):
        return None
    user = ours.split(":", 1)[1].split("@", 1)[0].split(";", 1)[0].strip()
    return user or None


def _text(payload: dict[str, Any], key: str) -> str | None:
    value = payload.get(key)
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def _time(value: Any, field: str) -> datetime | None:
    """An ISO 8601 time (Telnyx sends `2018-02-02T22:25:27.521992Z`) in UTC; naive is UTC."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidPayload(f"{field} is not an ISO 8601 time", field=field)
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise InvalidPayload(f"{field} is not an ISO 8601 time", field=field) from exc
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError as exc:
        raise InvalidPayload(f"{field} is out of range", field=field) from exc


def _clock(ctx: Context) -> datetime:
    return datetime.fromtimestamp(time.time() if ctx.now is None else ctx.now, UTC)
