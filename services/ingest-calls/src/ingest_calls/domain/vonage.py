"""Vonage Voice API event webhooks (JSON), signed with a JWT.

Vonage sends `Authorization: Bearer <JWT>`, HS256 with the account's signature secret. The claims
carry `iat` (checked against the replay window) and `payload_hash`, the hex SHA-256 of the body,
which ties the token to this body. `exp`/`nbf` are honoured when present.

Each event is one state of one leg (`uuid`; `call_uuid` on human/machine events); the legs of a
call share `conversation_uuid`, our `linked_id`. started/ringing/answered/human become
`CallProgress`; busy/cancelled/unanswered/timeout/rejected/failed/machine and an answered
`completed` the leg's `CallRecorded`. Vonage sends `completed` at the end of every leg that was
not `rejected`, also after busy/timeout/...; a `completed` with no talk time only repeats the
outcome already reported, so it yields nothing. Events that are not call states (record, input,
transfer, errors) are accepted and yield nothing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

from ingest_calls.domain.calls import CallEvent, build_progress, build_recorded
from ingest_calls.domain.errors import AuthenticationFailed, InvalidPayload
from ingest_calls.domain.request import Context, WebhookRequest
from switchboard_shared.events import CallDirection, CallState, CallStatus
from switchboard_shared.phone import NumberKind, PhonePolicy, is_own_number, normalise_phone

PROVIDER = "vonage"
CONTENT_TYPES = frozenset({"application/json"})
AUTHORIZATION_HEADER = "authorization"
MAX_TOKEN_LENGTH = 8192
MAX_CALL_DURATION_S = 7 * 86_400
MAX_ID_LENGTH = 200

PROGRESS_STATES = {
    "started": CallState.INITIATED,
    "ringing": CallState.RINGING,
    "answered": CallState.ANSWERED,
    "human": CallState.ANSWERED,  # answering-machine detection: a person answered
}
FINAL_STATUSES = {
    "busy": CallStatus.BUSY,
    "cancelled": CallStatus.CANCELED,
    "unanswered": CallStatus.NO_ANSWER,  # unreachable, or the callee declined
    "timeout": CallStatus.NO_ANSWER,  # rang longer than ringing_timeout
    "rejected": CallStatus.FAILED,  # refused by Vonage before it was connected
    "failed": CallStatus.FAILED,
    "machine": CallStatus.VOICEMAIL,  # answering-machine detection: a machine answered
}
COMPLETED = "completed"
# Sent to the event URL but not states of a call.
NOT_CALL_STATES = frozenset({"record", "recording", "input", "transfer", "notify", "disconnected"})

_SEGMENT_RE = re.compile(r"[A-Za-z0-9_-]*")


# --- JWT -------------------------------------------------------------------------------------


def _b64url_decode(segment: str) -> bytes:
    if _SEGMENT_RE.fullmatch(segment) is None:
        raise AuthenticationFailed("token is not base64url")
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError) as exc:
        raise AuthenticationFailed("token is not base64url") from exc


def _b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _json_object(segment: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(_b64url_decode(segment))
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise AuthenticationFailed(f"token {what} is not JSON") from exc
    if not isinstance(value, dict):
        raise AuthenticationFailed(f"token {what} is not a JSON object")
    return value


def encode_jwt(claims: dict[str, Any], secret: str) -> str:
    """An HS256 JWT (what Vonage sends; used by tests and for trying the endpoint by hand)."""
    header = _b64url_encode(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = _b64url_encode(json.dumps(claims, separators=(",", ":")).encode())
    mac = hmac.new(secret.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64url_encode(mac)}"


def decode_jwt(token: str, secret: str) -> dict[str, Any]:
    """The claims of an HS256 JWT signed with `secret`; only the signature is checked."""
    if len(token) > MAX_TOKEN_LENGTH:
        raise AuthenticationFailed("token is too long")
    parts = token.split(".")
    if len(parts) != 3:
        raise AuthenticationFailed("token is not a JWT")
    header_b64, payload_b64, signature_b64 = parts
    header = _json_object(header_b64, "header")
    if header.get("alg") != "HS256":
        raise AuthenticationFailed("token is not signed with HS256")
    signature = _b64url_decode(signature_b64)
    signed = f"{header_b64}.{payload_b64}".encode("ascii")  # segments are base64url: ASCII
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).digest()
    if not hmac.compare_digest(expected, signature):
        raise AuthenticationFailed("signature does not match")
    return _json_object(payload_b64, "payload")


def _number_claim(claims: dict[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AuthenticationFailed(f"token claim {name} is not a number")
    return float(value)


def verify(request: WebhookRequest, ctx: Context) -> None:
    scheme, _, token = request.header(AUTHORIZATION_HEADER).strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationFailed("missing Authorization: Bearer <JWT> header")
    claims = decode_jwt(token.strip(), ctx.secret)
    now = time.time() if ctx.now is None else ctx.now
    issued = _number_claim(claims, "iat")
    if issued is None:
        raise AuthenticationFailed("token has no iat claim")
    if abs(now - issued) > ctx.replay_window_s:
        raise AuthenticationFailed(f"token issued outside the {ctx.replay_window_s}s replay window")
    expires = _number_claim(claims, "exp")
    if expires is not None and expires <= now:
        raise AuthenticationFailed("token has expired")
    not_before = _number_claim(claims, "nbf")
    if not_before is not None and not_before > now:
        raise AuthenticationFailed("token is not valid yet")
    declared = claims.get("payload_hash")
    if not isinstance(declared, str) or not declared:
        raise AuthenticationFailed("token has no payload_hash claim")
    actual = hashlib.sha256(request.body).hexdigest()
    if not hmac.compare_digest(actual.encode(), declared.lower().encode("utf-8", "surrogatepass")):
        raise AuthenticationFailed("body does not match the token's payload_hash")


# --- parsing ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Leg:
    direction: CallDirection
    agent: str | None
    caller: str | None
    callee: str | None


def parse(request: WebhookRequest, ctx: Context, policy: PhonePolicy) -> list[CallEvent]:
    event = request.json()
    if not isinstance(event, dict):
        raise InvalidPayload("the JSON body must be an object", field="body")
    status = event.get("status")
    if status is None or (isinstance(status, str) and status.strip().lower() in NOT_CALL_STATES):
        return []  # record/input/transfer/error events carry no call state
    if not isinstance(status, str):
        raise InvalidPayload("status is not a string", field="status")
    status = status.strip().lower()
    if status not in PROGRESS_STATES and status not in FINAL_STATUSES and status != COMPLETED:
        raise InvalidPayload(f"unknown status {status[:40]!r}", field="status")
    call_id = _call_id(event)
    at = _time(event, "timestamp") or datetime.fromtimestamp(
        time.time() if ctx.now is None else ctx.now, UTC
    )
    linked_id = _text(event, "conversation_uuid")
    answered_at: datetime | None
    ended_at: datetime | None
    try:
        leg = _leg(event, status, policy, ctx.region)
        if status in PROGRESS_STATES:
            return [
                build_progress(
                    provider=PROVIDER,
                    provider_call_id=call_id,
                    direction=leg.direction,
                    state=PROGRESS_STATES[status],
                    at=at,
                    caller=leg.caller,
                    callee=leg.callee,
                    policy=policy,
                    region=ctx.region,
                    agent=leg.agent,
                    raw=event,
                )
            ]
        if status == COMPLETED:
            talk_s = _duration(event)
            if not talk_s:
                return []  # an unanswered leg's summary; its busy/timeout/... event said it all
            ended_at = _time(event, "end_time") or at
            answered_at = _time(event, "start_time") or ended_at - timedelta(seconds=talk_s)
            final = CallStatus.ANSWERED
        else:
            final = FINAL_STATUSES[status]
            talk_s = 0
            # machine: the call was answered (by a machine) and may go on; no end time yet.
            answered_at = at if final is CallStatus.VOICEMAIL else None
            ended_at = None if final is CallStatus.VOICEMAIL else at
        return [
            build_recorded(
                provider=PROVIDER,
                provider_call_id=call_id,
                direction=leg.direction,
                status=final,
                started_at=answered_at or at,
                answered_at=answered_at,
                ended_at=ended_at,
                caller=leg.caller,
                callee=leg.callee,
                policy=policy,
                region=ctx.region,
                talk_s=float(talk_s) if ended_at else None,
                agent=leg.agent,
                linked_id=linked_id,
                hangup_cause=_text(event, "detail"),
                raw=event,
            )
        ]
    except (ValueError, OverflowError) as exc:  # includes pydantic's ValidationError
        raise InvalidPayload(f"call cannot be recorded: {exc}"[:300]) from exc


def _text(event: dict[str, Any], name: str) -> str | None:
    value = event.get(name)
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    text = str(value).strip()
    return text or None


def _call_id(event: dict[str, Any]) -> str:
    call_id = _text(event, "uuid") or _text(event, "call_uuid")
    if call_id is None:
        raise InvalidPayload("uuid is missing", field="uuid")
    if len(call_id) > MAX_ID_LENGTH:
        raise InvalidPayload("uuid is too long", field="uuid")
    return call_id


def _time(event: dict[str, Any], name: str) -> datetime | None:
    value = event.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidPayload(f"{name} is not an ISO 8601 time", field=name)
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise InvalidPayload(f"{name} is not an ISO 8601 time", field=name) from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError as exc:
        raise InvalidPayload(f"{name} is out of range", field=name) from exc


def _duration(event: dict[str, Any]) -> int:
    """`duration` in seconds: a string of digits in the docs ("2"), a number from some SDKs."""
    value = event.get("duration")
    if value is None or value == "":
        return 0
    if isinstance(value, bool):
        raise InvalidPayload("duration is not a number of seconds", field="duration")
    text = str(value).strip()
    try:
        seconds = float(text)
    except ValueError as exc:
        raise InvalidPayload("duration is not a number of seconds", field="duration") from exc
    if not 0 <= seconds <= MAX_CALL_DURATION_S:
        raise InvalidPayload("duration is not a number of seconds", field="duration")
    return round(seconds)


@dataclass(frozen=True)
class _Party:
    address: str | None  # what goes into from/to
    user: str | None  # set when the party is one of our app users or SIP endpoints


def _party(value: Any, policy: PhonePolicy, region: str) -> _Party:
    """`from`/`to`: a number string (`447700900000`), a `sip:` URI, or an endpoint object
    (`{"type": "phone", "number": ...}`, `{"type": "app", "user": ...}`, `{"type": "sip",
    "uri": ...}`) as in Vonage's call objects."""
    if isinstance(value, int) and not isinstance(value, bool):
        return _Party(str(value), None)
    if isinstance(value, str):
        return _Party(value, _sip_user(value, policy, region))
    if isinstance(value, dict):
        kind = value.get("type")
        for key in ("number", "user", "uri"):
            inner = value.get(key)
            if isinstance(inner, str) and inner.strip():
                if kind == "app" or key == "user":
                    return _Party(inner, inner.strip())
                return _Party(inner, _sip_user(inner, policy, region))
    return _Party(None, None)


def _sip_user(value: str, policy: PhonePolicy, region: str) -> str | None:
    """The user of a `sip:` URI that is one of ours (`sip:101@pbx.example.com` -> `101`); a URI
    whose user is an outside or withheld number (a trunk to the PSTN) is not."""
    text = value.strip()
    scheme, sep, rest = text.partition(":")
    if not sep or scheme.lower() not in {"sip", "sips"}:
        return None
    kind = normalise_phone(text, policy, region=region).kind
    if kind in {NumberKind.EXTERNAL, NumberKind.WITHHELD}:
        return None
    user = unquote(rest.split(";", 1)[0].split("@", 1)[0]).strip()
    return user or None


def _ours(party: _Party, policy: PhonePolicy, region: str) -> bool:
    """Our side of a call: an app user or endpoint, an extension, or one of our own numbers."""
    if party.user:
        return True
    number = normalise_phone(party.address, policy, region=region)
    return number.kind is NumberKind.INTERNAL or is_own_number(number, policy)


def _leg(event: dict[str, Any], status: str, policy: PhonePolicy, region: str) -> _Leg:
    """Direction and agent of one leg, from our company's point of view.

    `direction` is Vonage's: `inbound` (into Vonage) or `outbound` (placed by Vonage). A call
    from an app user (`from_user`, Client SDK) is that user calling: outbound, or internal when
    the target is not an outside number. An outbound leg to one of our users or SIP endpoints
    is an agent's leg: inbound when the caller id shown is an outside number (the caller being
    connected), internal otherwise. human/machine events carry no direction; answering-machine
    detection runs on outbound calls only.
    """
    caller = _party(event.get("from"), policy, region)
    from_user = _text(event, "from_user")
    if from_user:  # Client SDK: `from_user` replaces `from`
        caller = _Party(caller.address or from_user, from_user)
    callee = _party(event.get("to"), policy, region)
    raw_direction = event.get("direction")
    text = raw_direction.strip().lower() if isinstance(raw_direction, str) else ""
    if not text and status in {"human", "machine"}:
        text = "outbound"
    if text not in {"inbound", "outbound"}:
        raise InvalidPayload("direction is not inbound or outbound", field="direction")
    if caller.user:
        callee_number = normalise_phone(callee.address, policy, region=region)
        outside = callee_number.kind is NumberKind.EXTERNAL and not _ours(callee, policy, region)
        direction = CallDirection.OUTBOUND if outside else CallDirection.INTERNAL
        return _Leg(direction, caller.user, caller.address, callee.address)
    if text == "outbound" and callee.user:
        ours = _ours(caller, policy, region)  # a withheld caller is an outside one
        direction = CallDirection.INTERNAL if ours else CallDirection.INBOUND
        return _Leg(direction, callee.user, caller.address, callee.address)
    if text == "inbound":
        return _Leg(CallDirection.INBOUND, None, caller.address, callee.address)
    return _Leg(CallDirection.OUTBOUND, None, caller.address, callee.address)
