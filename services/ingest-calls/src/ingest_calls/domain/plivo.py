"""Plivo voice callbacks (answer, ring and hangup URLs), signed with X-Plivo-Signature-V3.

V3 is base64(HMAC-SHA256(auth token, "<base>.<nonce>")), where <base> is built from the URL and
the parameters exactly as plivo-python's `utils/signature_v3.py` builds it (see `base_string`).
The header may carry several comma-separated signatures; one match is enough. V3 carries no
timestamp, so there is no replay window: a replayed callback dedupes on its event id.

Callbacks are form-encoded POSTs (or GETs, parameters in the query). A final `CallStatus`
(or `Event=Hangup`) becomes `CallRecorded`; `ringing`/`in-progress` and Dial `DialAnswer`
become `CallProgress`; anything else is acknowledged and ignored.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any
from urllib.parse import parse_qs, urlparse, urlunparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError

from ingest_calls.domain.calls import CallEvent, build_progress, build_recorded
from ingest_calls.domain.errors import AuthenticationFailed, InvalidPayload
from ingest_calls.domain.request import Context, WebhookRequest
from switchboard_shared.events import CallDirection, CallState, CallStatus
from switchboard_shared.phone import PhonePolicy

PROVIDER = "plivo"
SIGNS_URL = True  # the URL called is signed: INGEST_CALLS_PUBLIC_BASE_URL
CONTENT_TYPES = frozenset({"application/x-www-form-urlencoded"})
SIGNATURE_HEADERS = ("x-plivo-signature-v3", "x-plivo-signature-ma-v3")
NONCE_HEADER = "x-plivo-signature-v3-nonce"

_FINAL = {
    "completed": CallStatus.ANSWERED,
    "busy": CallStatus.BUSY,
    "no-answer": CallStatus.NO_ANSWER,
    "timeout": CallStatus.NO_ANSWER,
    "failed": CallStatus.FAILED,
    "cancel": CallStatus.CANCELED,
    "canceled": CallStatus.CANCELED,
    "cancelled": CallStatus.CANCELED,
}
# FreeSWITCH cause names, for a hangup whose CallStatus is not final.
_CAUSES = {
    "NORMAL_CLEARING": CallStatus.ANSWERED,
    "USER_BUSY": CallStatus.BUSY,
    "CALL_REJECTED": CallStatus.BUSY,
    "NO_ANSWER": CallStatus.NO_ANSWER,
    "NO_USER_RESPONSE": CallStatus.NO_ANSWER,
    "ALLOTTED_TIMEOUT": CallStatus.NO_ANSWER,
    "ORIGINATOR_CANCEL": CallStatus.CANCELED,
}
_PROGRESS = {
    "ringing": CallState.RINGING,
    "in-progress": CallState.ANSWERED,
    "queued": CallState.INITIATED,
    "initiated": CallState.INITIATED,
}
_DIRECTIONS = {"inbound": CallDirection.INBOUND, "outbound": CallDirection.OUTBOUND}
_SECONDS = re.compile(r"[0-9]{1,9}")
_LOCAL_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?")


# --- signature -------------------------------------------------------------------------------


def base_string(method: str, url: str, params: Mapping[str, Sequence[str]]) -> str:
    """What V3 signs before ".<nonce>" (plivo-python `construct_get_url`/`construct_post_url`).

    GET: `scheme://host/path` + `?` + the URL query and `params` merged, sorted by key, as
    `k=v` joined by `&` (repeated values sorted). POST: `scheme://host/path`, then `?<sorted
    URL query>` and a `.` when the URL has a query, or a bare `?` when it has none and there are
    parameters; then every parameter as `kv` sorted by key, with no separator. Values are the
    decoded ones, not URL-encoded.
    """
    parsed = urlparse(url)
    base = urlunparse((parsed.scheme, parsed.netloc, parsed.path, "", "", ""))
    query = {key: list(values) for key, values in parse_qs(parsed.query, True).items()}
    if method.upper() == "GET":
        merged = {key: list(values) for key, values in params.items()}
        merged.update(query)
        sorted_query = _sorted_query(merged)
        return f"{base}?{sorted_query}" if sorted_query else base
    sorted_query = _sorted_query(query)
    if params:
        base += f"?{sorted_query}." if sorted_query else "?"
    elif sorted_query:
        base += f"?{sorted_query}"
    return base + "".join(
        "".join(f"{key}{value}" for value in sorted(params[key])) for key in sorted(params)
    )


def _sorted_query(params: Mapping[str, Sequence[str]]) -> str:
    return "&".join(
        "&".join(f"{key}={value}" for value in sorted(params[key])) for key in sorted(params)
    )


def signature_v3(
    auth_token: str, method: str, url: str, nonce: str, params: Mapping[str, Sequence[str]]
) -> str:
    message = f"{base_string(method, url, params)}.{nonce}".encode()
    return _sign(auth_token, message)


def _sign(auth_token: str, message: bytes) -> str:
    digest = hmac.new(auth_token.encode(), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def verify(request: WebhookRequest, ctx: Context) -> None:
    nonce = request.header(NONCE_HEADER).strip()
    offered = [
        part.strip().encode("utf-8", "replace")
        for name in SIGNATURE_HEADERS
        for part in request.header(name).split(",")
        if part.strip()
    ]
    if not nonce or not offered:
        raise AuthenticationFailed(f"missing {SIGNATURE_HEADERS[0]} or {NONCE_HEADER} header")
    method = request.method.upper()
    if method not in ("GET", "POST"):
        raise AuthenticationFailed(f"Plivo signs GET and POST callbacks, not {method}")
    try:
        params = {} if method == "GET" else _multi(request.form())
        message = f"{base_string(method, request.url, params)}.{nonce}"
    except (InvalidPayload, ValueError) as exc:
        raise AuthenticationFailed("cannot rebuild the signed string") from exc
    # plivo-python turns the UTF-8 string into one character per byte before encoding it again,
    # so for non-ASCII values its signature differs from the other SDKs'; accept either form.
    utf8 = message.encode("utf-8", "surrogatepass")
    candidates = {_sign(ctx.secret, utf8), _sign(ctx.secret, utf8.decode("latin-1").encode())}
    if not any(hmac.compare_digest(c.encode(), s) for c in candidates for s in offered):
        raise AuthenticationFailed("signature does not match")


# --- parse -----------------------------------------------------------------------------------


def parse(request: WebhookRequest, ctx: Context, policy: PhonePolicy) -> list[CallEvent]:
    pairs = request.query if request.method.upper() == "GET" else request.form()
    fields = {key: value.strip() for key, value in reversed(pairs)}  # the first value wins
    event = fields.get("Event", "")
    status = fields.get("CallStatus", "").lower()
    if event.startswith("Dial") and event != "DialAnswer":
        return []  # the A leg's own hangup callback carries the outcome
    is_final = status in _FINAL or event == "Hangup"
    state = CallState.ANSWERED if event == "DialAnswer" else _PROGRESS.get(status)
    if not is_final and state is None:
        return []
    call_id = fields.get("CallUUID", "")
    if not call_id:
        raise InvalidPayload("CallUUID is missing", field="CallUUID")
    direction = _DIRECTIONS.get(fields.get("Direction", "").lower())
    if direction is None:
        if not is_final:
            return []
        raise InvalidPayload("Direction must be inbound or outbound", field="Direction")
    try:
        if is_final:
            return [_recorded(fields, _raw(pairs), call_id, direction, status, policy, ctx)]
        assert state is not None
        ours = fields.get("From") if direction is CallDirection.OUTBOUND else fields.get("To")
        dialled = fields.get("DialBLegTo") or None
        agent = (_sip_user(dialled) or dialled) if event == "DialAnswer" else _sip_user(ours)
        return [
            build_progress(
                provider=PROVIDER,
                provider_call_id=call_id,
                direction=direction,
                state=state,
                at=_clock(ctx),
                caller=fields.get("From"),
                callee=fields.get("To"),
                policy=policy,
                region=ctx.region,
                agent=agent,
                raw=_raw(pairs),
            )
        ]
    except ValidationError as exc:
        raise InvalidPayload(f"unusable call data: {exc.errors()[0]['msg']}") from exc


def _recorded(
    fields: Mapping[str, str],
    raw: dict[str, Any],
    call_id: str,
    direction: CallDirection,
    call_status: str,
    policy: PhonePolicy,
    ctx: Context,
) -> CallEvent:
    zone = _zone(fields, ctx)
    ended = _time(fields, "EndTime", zone) or _clock(ctx)
    started = _time(fields, "StartTime", zone)
    if started is None:
        try:
            started = ended - timedelta(seconds=_seconds(fields, "Duration") or 0)
        except OverflowError as exc:
            raise InvalidPayload("Duration is out of range", field="Duration") from exc
    answered = _time(fields, "AnswerTime", zone)
    cause = fields.get("HangupCause") or fields.get("HangupCauseName") or None
    status = _status(call_status, cause)
    ours = fields.get("From") if direction is CallDirection.OUTBOUND else fields.get("To")
    # Without AnswerTime an answered call's ring/talk split is unknown: Duration includes the
    # ringing and BillDuration is rounded up to the billing interval.
    return build_recorded(
        provider=PROVIDER,
        provider_call_id=call_id,
        direction=direction,
        status=status,
        started_at=started,
        answered_at=answered if status is CallStatus.ANSWERED else None,
        ended_at=max(ended, started),
        caller=fields.get("From"),
        callee=fields.get("To"),
        policy=policy,
        region=ctx.region,
        agent=_sip_user(ours),
        linked_id=fields.get("ALegUUID") or None,
        hangup_cause=cause,
        raw=raw,
    )


def _status(call_status: str, cause: str | None) -> CallStatus:
    """`CallStatus` when final; else (a hangup callback without one) the hangup cause.

    `completed` means the call was answered (by the callee, or by your Plivo XML app for an
    inbound call) and then ended.
    """
    if call_status in _FINAL:
        return _FINAL[call_status]
    return _CAUSES.get((cause or "").strip().upper(), CallStatus.FAILED)


def _zone(fields: Mapping[str, str], ctx: Context) -> tzinfo:
    """The zone of StartTime/AnswerTime/EndTime.

    Plivo writes them in the account's local time zone (`yyyy-MM-dd HH:mm:ss`). The `timezone`
    option names it; without it the offset is read from `SessionStart` (UTC, with
    microseconds) against `StartTime`, rounded to 15 minutes; failing both, UTC.
    """
    name = ctx.options.get("timezone", "").strip()
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise InvalidPayload(f"unknown time zone option {name!r}") from exc
    session = _time(fields, "SessionStart", UTC)
    local = _time(fields, "StartTime", UTC)
    if session is None or local is None:
        return UTC
    quarters = round((local - session).total_seconds() / 900)
    if abs(quarters) > 14 * 4:  # no zone is further than UTC±14
        return UTC
    return timezone(timedelta(minutes=15 * quarters))


def _time(fields: Mapping[str, str], key: str, zone: tzinfo) -> datetime | None:
    value = fields.get(key, "").strip()
    if not value:
        return None
    if not _LOCAL_TIME.fullmatch(value):
        raise InvalidPayload(f"{key} is not a yyyy-MM-dd HH:mm:ss time", field=key)
    try:
        return datetime.fromisoformat(value).replace(tzinfo=zone).astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise InvalidPayload(f"{key} is not a valid time", field=key) from exc


def _seconds(fields: Mapping[str, str], key: str) -> int | None:
    value = fields.get(key, "").strip()
    if not value:
        return None
    if not _SECONDS.fullmatch(value):
        raise InvalidPayload(f"{key} is not a number of seconds", field=key)
    return int(value)


def _sip_user(value: str | None) -> str | None:
    """The user part of a `sip:` URI (a Plivo endpoint on our side), else None."""
    if not value or not value.strip().lower().startswith(("sip:", "sips:")):
        return None
    user = value.strip().split(":", 1)[1].split("@", 1)[0].split(";", 1)[0].strip()
    return user or None


def _multi(pairs: Sequence[tuple[str, str]]) -> dict[str, list[str]]:
    params: dict[str, list[str]] = {}
    for key, value in pairs:
        params.setdefault(key, []).append(value)
    return params


def _raw(pairs: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """The payload as a dict: one value per key, a list for a repeated key."""
    return {key: values[0] if len(values) == 1 else values for key, values in _multi(pairs).items()}


def _clock(ctx: Context) -> datetime:
    return datetime.fromtimestamp(time.time() if ctx.now is None else ctx.now, UTC)
