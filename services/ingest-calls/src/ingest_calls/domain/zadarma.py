"""Zadarma PBX call notifications (NOTIFY_*), signed with the `Signature` header.

`Signature` is base64 of the *hex* HMAC-SHA1 of a few fields concatenated, keyed with the API
secret (PHP `base64_encode(hash_hmac('sha1', $s, $secret))`; zadarma/user-api-v1
`lib/Webhook/Notify*.php getSignatureString`). Only those fields are signed, and there is no
timestamp: the rest of the body (disposition, duration) is not covered by the signature.

Before saving the URL Zadarma checks it with `GET ?zd_echo=<value>` and expects the value back
as the body: see `echo`.

The signature has no timestamp of its own, so `verify` bounds the age of the signed `call_start`
(see `check_age`): a captured notification cannot be replayed days later.

NOTIFY_START / NOTIFY_INTERNAL / NOTIFY_ANSWER / NOTIFY_OUT_START become `CallProgress`;
NOTIFY_END (incoming) and NOTIFY_OUT_END (outgoing) become `CallRecorded`. NOTIFY_IVR and
NOTIFY_RECORD are verified and ignored. `call_start` has no zone in it: it is read in the
`timezone` option (the zone of the Zadarma account), UTC when unset.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError

from ingest_calls.domain.calls import CallEvent, build_progress, build_recorded
from ingest_calls.domain.errors import AuthenticationFailed, InvalidPayload
from ingest_calls.domain.request import Context, WebhookRequest
from switchboard_shared.events import CallDirection, CallState, CallStatus
from switchboard_shared.phone import NumberKind, PhonePolicy, normalise_phone

PROVIDER = "zadarma"
CONTENT_TYPES = frozenset({"application/x-www-form-urlencoded"})
SIGNATURE_HEADER = "signature"
ECHO_PARAMETER = "zd_echo"

_INCOMING = ("caller_id", "called_did", "call_start")
SIGNED_FIELDS: dict[str, tuple[str, ...]] = {
    "NOTIFY_START": _INCOMING,
    "NOTIFY_INTERNAL": _INCOMING,
    "NOTIFY_IVR": _INCOMING,
    "NOTIFY_END": _INCOMING,
    "NOTIFY_ANSWER": ("caller_id", "destination", "call_start"),
    "NOTIFY_OUT_START": ("internal", "destination", "call_start"),
    "NOTIFY_OUT_END": ("internal", "destination", "call_start"),
    "NOTIFY_RECORD": ("pbx_call_id", "call_id_with_rec"),
}
_PROGRESS = {
    "NOTIFY_START": CallState.INITIATED,
    "NOTIFY_INTERNAL": CallState.RINGING,
    "NOTIFY_ANSWER": CallState.ANSWERED,
    "NOTIFY_OUT_START": CallState.INITIATED,
}
_FINAL = frozenset({"NOTIFY_END", "NOTIFY_OUT_END"})
# `disposition` values, verbatim from the SDK; the account and line limits are failures.
DISPOSITIONS = {
    "answered": CallStatus.ANSWERED,
    "busy": CallStatus.BUSY,
    "cancel": CallStatus.CANCELED,
    "no answer": CallStatus.NO_ANSWER,
    "failed": CallStatus.FAILED,
    "no money": CallStatus.FAILED,
    "unallocated number": CallStatus.FAILED,
    "no limit": CallStatus.FAILED,
    "no day limit": CallStatus.FAILED,
    "line limit": CallStatus.FAILED,
    "no money, no limit": CallStatus.FAILED,
}
_ECHO = re.compile(r"[0-9A-Za-z._~:/+=-]{1,256}")
_SECONDS = re.compile(r"[0-9]{1,9}")
_CALL_START = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}")

# How far `call_start` may be from now, beyond the call's duration (options `replay_window_s`
# and `max_call_s`, from INGEST_CALLS_ZADARMA_REPLAY_WINDOW_S and INGEST_CALLS_ZADARMA_MAX_CALL_S).
DEFAULT_WINDOW_S = 3_600  # ringing, queueing, delivery delays and clock skew
DEFAULT_MAX_CALL_S = 86_400  # `duration` is not signed: never trust more than this of it
# Without the `timezone` option, call_start (the account's local time) is read as UTC and may be
# off by as much as a zone is from UTC.
ZONE_SLACK_S = 14 * 3_600


def signature(secret: str, signed: str) -> str:
    """The `Signature` header value for a signed string."""
    hex_digest = hmac.new(secret.encode(), signed.encode(), hashlib.sha1).hexdigest()
    return base64.b64encode(hex_digest.encode()).decode()


def signed_string(fields: Mapping[str, str]) -> str | None:
    """The concatenated fields Zadarma signs for this event; None for an unknown event."""
    names = SIGNED_FIELDS.get(fields.get("event", ""))
    return None if names is None else "".join(fields.get(name, "") for name in names)


def echo(request: WebhookRequest) -> str | None:
    """The body to answer Zadarma's URL check (`GET ?zd_echo=<value>`), else None.

    Only a plain token is echoed (letters, digits and `._~:/+=-`, at most 256), so the
    endpoint cannot be used to reflect markup; serve it as text/plain.
    """
    if request.method.upper() != "GET":
        return None
    values = [value for key, value in request.query if key == ECHO_PARAMETER]
    if not values or not _ECHO.fullmatch(values[0]):
        return None
    return values[0]


def verify(request: WebhookRequest, ctx: Context) -> None:
    offered = request.header(SIGNATURE_HEADER).strip()
    if not offered:
        raise AuthenticationFailed(f"missing {SIGNATURE_HEADER} header")
    try:
        fields = _fields(request.form())
    except InvalidPayload as exc:
        raise AuthenticationFailed("the body is not a form Zadarma signs") from exc
    signed = signed_string(fields)
    if signed is None:
        raise AuthenticationFailed("no known signature scheme for this event")
    expected = signature(ctx.secret, signed)
    if not hmac.compare_digest(expected.encode(), offered.encode("utf-8", "replace")):
        raise AuthenticationFailed("signature does not match")
    check_age({key: value.strip() for key, value in fields.items()}, ctx)


def check_age(fields: Mapping[str, str], ctx: Context) -> None:
    """Refuse a signed notification whose `call_start` is too old (or too far ahead) to be one
    Zadarma is sending now.

    Zadarma posts NOTIFY_END/NOTIFY_OUT_END when the call ends, so the start may be as old as
    the call's `duration` (capped at `max_call_s`, as `duration` is not signed) plus the window
    (ringing, queueing, delivery); the other events come as the call happens, within the
    window. Without the `timezone` option the zone of `call_start` is unknown, so it may also be
    off by up to 14 hours: set the option to tighten the bound. A `call_start` that cannot be
    read is left to `parse`, which refuses it (NOTIFY_RECORD has none, and publishes nothing).
    """
    try:
        started = _call_start(fields, ctx)
    except InvalidPayload:
        return
    window = _option_seconds(ctx, "replay_window_s", DEFAULT_WINDOW_S)
    duration = min(
        int(fields["duration"]) if _SECONDS.fullmatch(fields.get("duration", "")) else 0,
        _option_seconds(ctx, "max_call_s", DEFAULT_MAX_CALL_S),
    )
    slack = 0 if ctx.options.get("timezone", "").strip() else ZONE_SLACK_S
    age = _clock(ctx).timestamp() - started.timestamp()
    if age > duration + window + slack:
        raise AuthenticationFailed(f"call_start is {int(age)}s old: outside the replay window")
    if -age > window + slack:
        raise AuthenticationFailed("call_start is in the future: outside the replay window")


def _option_seconds(ctx: Context, name: str, default: int) -> int:
    value = ctx.options.get(name, "").strip()
    return int(value) if value.isdigit() else default


def parse(request: WebhookRequest, ctx: Context, policy: PhonePolicy) -> list[CallEvent]:
    pairs = request.form()
    fields = {key: value.strip() for key, value in _fields(pairs).items()}
    event = fields.get("event", "")
    if event not in _PROGRESS and event not in _FINAL:
        return []
    call_id = fields.get("pbx_call_id", "")
    if not call_id:
        raise InvalidPayload("pbx_call_id is missing", field="pbx_call_id")
    outgoing = event in ("NOTIFY_OUT_START", "NOTIFY_OUT_END")
    agent = fields.get("internal") or None
    if outgoing:
        caller = fields.get("caller_id") or agent
        callee = fields.get("destination") or None
        direction = _outgoing_direction(callee, policy, ctx)
    else:
        caller = fields.get("caller_id") or None
        callee = fields.get("destination" if event == "NOTIFY_ANSWER" else "called_did") or None
        direction = CallDirection.INBOUND
    raw = _raw(pairs)
    try:
        if event in _PROGRESS:
            return [
                build_progress(
                    provider=PROVIDER,
                    provider_call_id=call_id,
                    direction=direction,
                    state=_PROGRESS[event],
                    at=_clock(ctx),
                    caller=caller,
                    callee=callee,
                    policy=policy,
                    region=ctx.region,
                    agent=agent,
                    raw=raw,
                )
            ]
        disposition = fields.get("disposition", "").lower()
        status = DISPOSITIONS.get(disposition)
        if status is None:
            raise InvalidPayload(f"unknown disposition {disposition!r}", field="disposition")
        duration = _seconds(fields, "duration")
        return [
            build_recorded(
                provider=PROVIDER,
                provider_call_id=call_id,
                direction=direction,
                status=status,
                started_at=_call_start(fields, ctx),
                # Zadarma sends neither answer nor end time; `duration` is the talk time
                # (0 for a call nobody answered).
                answered_at=None,
                ended_at=None,
                caller=caller,
                callee=callee,
                policy=policy,
                region=ctx.region,
                talk_s=float(duration or 0) if status is CallStatus.ANSWERED else 0.0,
                agent=agent,
                hangup_cause=fields.get("status_code") or disposition or None,
                raw=raw,
            )
        ]
    except ValidationError as exc:
        raise InvalidPayload(f"unusable call data: {exc.errors()[0]['msg']}") from exc


def _outgoing_direction(callee: str | None, policy: PhonePolicy, ctx: Context) -> CallDirection:
    """An outgoing call to another extension of the PBX is internal."""
    target = normalise_phone(callee, policy, region=ctx.region)
    return CallDirection.INTERNAL if target.kind is NumberKind.INTERNAL else CallDirection.OUTBOUND


def _call_start(fields: Mapping[str, str], ctx: Context) -> datetime:
    value = fields.get("call_start", "")
    if not _CALL_START.fullmatch(value):
        raise InvalidPayload("call_start is not a YYYY-MM-DD HH:MM:SS time", field="call_start")
    try:
        return datetime.fromisoformat(value).replace(tzinfo=_zone(ctx)).astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise InvalidPayload("call_start is not a valid time", field="call_start") from exc


def _zone(ctx: Context) -> tzinfo:
    name = ctx.options.get("timezone", "").strip()
    if not name:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidPayload(f"unknown time zone option {name!r}") from exc


def _seconds(fields: Mapping[str, str], key: str) -> int | None:
    value = fields.get(key, "")
    if not value:
        return None
    if not _SECONDS.fullmatch(value):
        raise InvalidPayload(f"{key} is not a number of seconds", field=key)
    return int(value)


def _fields(pairs: Sequence[tuple[str, str]]) -> dict[str, str]:
    """One value per field, the last one winning as in PHP's $_POST, which Zadarma's SDK reads;
    verify and parse read the same values."""
    return dict(pairs)


def _raw(pairs: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """The payload as a dict: one value per key, a list for a repeated key."""
    grouped: dict[str, list[str]] = {}
    for key, value in pairs:
        grouped.setdefault(key, []).append(value)
    return {key: values[0] if len(values) == 1 else values for key, values in grouped.items()}


def _clock(ctx: Context) -> datetime:
    return datetime.fromtimestamp(time.time() if ctx.now is None else ctx.now, UTC)
