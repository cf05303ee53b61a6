"""Twilio Voice status callbacks, signed with `X-Twilio-Signature`.

The signature is what twilio-python's `RequestValidator` computes: base64 HMAC-SHA1 (key = the
Auth Token) of the full URL followed by the POST parameters sorted by name, each name followed by
its value (values of a repeated name sorted, an identical name/value pair counted once). The URL
is checked with and without its port (`:443`/`:80` added when absent, any port removed when
present), because Twilio signs either form. A JSON body is signed through the URL: it carries
`bodySHA256=<hex SHA-256 of the body>` in the query and no parameters are appended.

Each status callback is one event of one call leg (`CallSid`): queued/initiated/ringing/in-progress
become `CallProgress`, completed/busy/no-answer/failed/canceled the leg's `CallRecorded`.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import ParseResult, parse_qs, unquote, urlparse

from ingest_calls.domain.calls import CallEvent, build_progress, build_recorded
from ingest_calls.domain.errors import AuthenticationFailed, InvalidPayload
from ingest_calls.domain.request import Context, WebhookRequest
from switchboard_shared.events import CallDirection, CallState, CallStatus
from switchboard_shared.phone import NumberKind, PhonePolicy, is_own_number, normalise_phone

PROVIDER = "twilio"
SIGNS_URL = True  # the URL called is signed: INGEST_CALLS_PUBLIC_BASE_URL
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
CONTENT_TYPES = frozenset({FORM, JSON})
SIGNATURE_HEADER = "x-twilio-signature"
BODY_HASH_PARAM = "bodySHA256"
MAX_CALL_DURATION_S = 7 * 86_400  # Twilio ends calls after 24 h; anything longer is garbage
MAX_ID_LENGTH = 200

PROGRESS_STATES = {
    "queued": CallState.INITIATED,
    "initiated": CallState.INITIATED,
    "ringing": CallState.RINGING,
    "in-progress": CallState.ANSWERED,
}
FINAL_STATUSES = {
    "completed": CallStatus.ANSWERED,
    "busy": CallStatus.BUSY,
    "no-answer": CallStatus.NO_ANSWER,
    "failed": CallStatus.FAILED,
    "canceled": CallStatus.CANCELED,
}
DIRECTIONS = {
    "inbound": CallDirection.INBOUND,
    "outbound-api": CallDirection.OUTBOUND,
    "outbound-dial": CallDirection.OUTBOUND,  # refined by `_leg_direction`
    "trunking-originating": CallDirection.INBOUND,  # Elastic SIP Trunking: PSTN -> your PBX
    "trunking-terminating": CallDirection.OUTBOUND,  # your PBX -> PSTN
}


# --- signature -------------------------------------------------------------------------------


def compute_signature(token: str, url: str, params: Sequence[tuple[str, str]] = ()) -> str:
    """The `X-Twilio-Signature` value for a URL and its POST parameters."""
    return _sign(token, url + _signed_params(params))


def _signed_params(params: Sequence[tuple[str, str]]) -> str:
    """The parameters as signed: sorted by name, each name followed by its (sorted, distinct)
    values."""
    values: dict[str, set[str]] = {}
    for name, value in params:
        values.setdefault(name, set()).add(value)
    return "".join(name + value for name in sorted(values) for value in sorted(values[name]))


def _sign(token: str, text: str) -> str:
    mac = hmac.new(
        token.encode("utf-8"), text.encode("utf-8", "surrogatepass"), hashlib.sha1
    ).digest()
    return base64.b64encode(mac).decode("ascii")


def body_hash(body: bytes) -> str:
    """The `bodySHA256` query value Twilio adds to the URL of a JSON-bodied request."""
    return hashlib.sha256(body).hexdigest()


# The URL called is nearly always the same few: their variants are remembered (short ones only).
URL_CACHE_SIZE = 256
URL_CACHE_MAX_CHARS = 2048


def url_variants(url: str) -> list[str]:
    """The URL with and without its port, as twilio-python checks both."""
    if len(url) <= URL_CACHE_MAX_CHARS:
        return list(_cached_variants(url))
    return _url_variants(url)


@functools.lru_cache(maxsize=URL_CACHE_SIZE)
def _cached_variants(url: str) -> tuple[str, ...]:
    return tuple(_url_variants(url))


def _url_variants(url: str) -> list[str]:
    try:
        parsed = urlparse(url)
        port = parsed.port
    except ValueError as exc:
        raise AuthenticationFailed("request URL cannot be parsed") from exc
    if port is None:
        default = 443 if parsed.scheme == "https" else 80
        with_port = _with_netloc(parsed, f"{parsed.netloc}:{default}")
        without_port = parsed.geturl()
    else:
        with_port = parsed.geturl()
        without_port = _with_netloc(parsed, parsed.netloc.rsplit(":", 1)[0])
    return [without_port, with_port]


def _with_netloc(parsed: ParseResult, netloc: str) -> str:
    return parsed._replace(netloc=netloc).geturl()


def _same(expected: str, offered: str) -> bool:
    return hmac.compare_digest(
        expected.encode("utf-8", "surrogatepass"), offered.encode("utf-8", "surrogatepass")
    )


def verify(request: WebhookRequest, ctx: Context) -> None:
    signature = request.header(SIGNATURE_HEADER).strip()
    if not signature:
        raise AuthenticationFailed("missing X-Twilio-Signature header")
    params: list[tuple[str, str]] = []
    if request.content_type == JSON:
        try:
            hashes = parse_qs(urlparse(request.url).query).get(BODY_HASH_PARAM, [])
        except ValueError as exc:
            raise AuthenticationFailed("request URL cannot be parsed") from exc
        if not hashes:
            raise AuthenticationFailed(f"JSON body without {BODY_HASH_PARAM} in the URL")
        if not _same(body_hash(request.body), hashes[0]):
            raise AuthenticationFailed(f"body does not match {BODY_HASH_PARAM}")
    elif request.method.upper() != "GET":
        try:
            params = request.form()
        except InvalidPayload as exc:
            raise AuthenticationFailed("form body cannot be read") from exc
    signed = _signed_params(params)
    if not any(
        _same(_sign(ctx.secret, url + signed), signature) for url in url_variants(request.url)
    ):
        raise AuthenticationFailed("signature does not match")


# --- parsing ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Leg:
    direction: CallDirection
    agent: str | None


def parse(request: WebhookRequest, ctx: Context, policy: PhonePolicy) -> list[CallEvent]:
    fields, raw = _fields(request)
    call_sid = _required(fields, "CallSid")
    if len(call_sid) > MAX_ID_LENGTH:
        raise InvalidPayload("CallSid is too long", field="CallSid")
    status = _required(fields, "CallStatus").lower()
    at = _timestamp(fields, ctx)
    caller, callee = fields.get("From"), fields.get("To")
    try:
        leg = _leg(fields, policy, ctx.region)
        if status in PROGRESS_STATES:
            return [
                build_progress(
                    provider=PROVIDER,
                    provider_call_id=call_sid,
                    direction=leg.direction,
                    state=PROGRESS_STATES[status],
                    at=at,
                    caller=caller,
                    callee=callee,
                    policy=policy,
                    region=ctx.region,
                    agent=leg.agent,
                    raw=raw,
                )
            ]
        if status not in FINAL_STATUSES:
            raise InvalidPayload(f"unknown CallStatus {status[:40]!r}", field="CallStatus")
        final = FINAL_STATUSES[status]
        talk_s = _duration(fields) if final is CallStatus.ANSWERED else 0
        answered_at = at - timedelta(seconds=talk_s) if final is CallStatus.ANSWERED else None
        machine = fields.get("AnsweredBy", "").lower().startswith("machine")
        if final is CallStatus.ANSWERED and machine:  # answering-machine detection
            final = CallStatus.VOICEMAIL
        return [
            build_recorded(
                provider=PROVIDER,
                provider_call_id=call_sid,
                direction=leg.direction,
                status=final,
                started_at=answered_at or at,
                answered_at=answered_at,
                ended_at=at,
                caller=caller,
                callee=callee,
                policy=policy,
                region=ctx.region,
                talk_s=float(talk_s),
                agent=leg.agent,
                linked_id=fields.get("ParentCallSid") or call_sid,
                recording_url=fields.get("RecordingUrl") or None,
                hangup_cause=fields.get("SipResponseCode") or None,
                raw=raw,
            )
        ]
    except (ValueError, OverflowError) as exc:  # includes pydantic's ValidationError
        raise InvalidPayload(f"call cannot be recorded: {exc}"[:300]) from exc


def _fields(request: WebhookRequest) -> tuple[dict[str, str], dict[str, Any]]:
    """First value of each parameter, and the raw payload (lists for repeated names)."""
    if request.content_type == JSON:
        document = request.json()
        if not isinstance(document, dict):
            raise InvalidPayload("the JSON body must be an object", field="body")
        fields = {
            str(k): _scalar(v) for k, v in document.items() if isinstance(v, str | int | float)
        }
        return fields, document
    pairs = request.query if request.method.upper() == "GET" else request.form()
    return _first_values(pairs), _raw_pairs(pairs)


def _scalar(value: str | int | float) -> str:
    return value if isinstance(value, str) else str(value).lower()


def _first_values(pairs: Sequence[tuple[str, str]]) -> dict[str, str]:
    fields: dict[str, str] = {}
    for name, value in pairs:
        fields.setdefault(name, value)
    return fields


def _raw_pairs(pairs: Sequence[tuple[str, str]]) -> dict[str, Any]:
    grouped: dict[str, list[str]] = {}
    for name, value in pairs:
        grouped.setdefault(name, []).append(value)
    return {name: values[0] if len(values) == 1 else values for name, values in grouped.items()}


def _required(fields: Mapping[str, str], name: str) -> str:
    value = fields.get(name, "").strip()
    if not value:
        raise InvalidPayload(f"{name} is missing", field=name)
    return value


def _timestamp(fields: Mapping[str, str], ctx: Context) -> datetime:
    """`Timestamp` (RFC 2822, UTC); the receive time when Twilio sent none."""
    text = fields.get("Timestamp", "").strip()
    if not text:
        return datetime.fromtimestamp(time.time() if ctx.now is None else ctx.now, UTC)
    try:
        value = parsedate_to_datetime(text)
        if value.tzinfo is None:  # "-0000": UTC with no claim about the local zone
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
    except (TypeError, ValueError, IndexError, OverflowError) as exc:
        raise InvalidPayload("Timestamp is not an RFC 2822 date", field="Timestamp") from exc


def _duration(fields: Mapping[str, str]) -> int:
    text = fields.get("CallDuration", "").strip()
    if not text:
        return 0
    if not text.isascii() or not text.isdigit() or int(text) > MAX_CALL_DURATION_S:
        raise InvalidPayload("CallDuration is not a number of seconds", field="CallDuration")
    return int(text)


def _endpoint(value: str | None, policy: PhonePolicy, region: str) -> str | None:
    """The user of a `client:` or `sip:` address that is one of ours (not a phone number).

    `client:alice` -> `alice`; `sip:101@pbx.example.com;transport=tls` -> `101`. A SIP URI whose
    user part is an outside or withheld number (a trunk to the PSTN) is not an endpoint.
    """
    text = (value or "").strip()
    scheme, _, rest = text.partition(":")
    scheme = scheme.lower()
    if scheme not in {"client", "sip", "sips"} or not rest.strip():
        return None
    kind = normalise_phone(text, policy, region=region).kind
    if kind in {NumberKind.EXTERNAL, NumberKind.WITHHELD}:  # e.g. `client:Anonymous`
        return None
    if scheme == "client":
        return rest.strip()
    user = unquote(rest.split(";", 1)[0].split("@", 1)[0]).strip()
    return user or None


def _ours(value: str | None, policy: PhonePolicy, region: str) -> bool:
    """Our side of a call: an endpoint, an extension, or one of our own numbers."""
    if _endpoint(value, policy, region):
        return True
    number = normalise_phone(value, policy, region=region)
    return number.kind is NumberKind.INTERNAL or is_own_number(number, policy)


def _leg(fields: Mapping[str, str], policy: PhonePolicy, region: str) -> _Leg:
    """Direction and agent of one leg, from our company's point of view.

    * `inbound`: the caller reached our Twilio number -> inbound. A `client:`/`sip:` caller
      (a browser or desk phone of ours starting a call) -> outbound, or internal when the
      target is ours too; the caller is the agent.
    * `outbound-api`: a call created with the REST API -> outbound; to one of our endpoints
      -> internal, that endpoint is the agent.
    * `outbound-dial` (a child leg dialled by `<Dial>`; `ParentCallSid` links it):
      to one of our endpoints -> the agent's leg of the parent call: inbound with the parent's
      caller as counterpart (Twilio passes the caller's number on by default), internal when
      the caller is ours as well. To an outside number -> outbound when the caller id shown
      is ours (our number, an endpoint or an extension); otherwise the parent forwards an
      outside caller to an outside phone (e.g. an agent's mobile): inbound, counterpart = caller.
    """
    text = fields.get("Direction", "").strip().lower()
    if text not in DIRECTIONS:
        raise InvalidPayload(f"unknown Direction {text[:40]!r}", field="Direction")
    caller, callee = fields.get("From"), fields.get("To")
    caller_endpoint = _endpoint(caller, policy, region)
    callee_endpoint = _endpoint(callee, policy, region)
    if text == "inbound" and caller_endpoint:
        internal = _ours(callee, policy, region) or not (callee or "").strip()
        return _Leg(CallDirection.INTERNAL if internal else CallDirection.OUTBOUND, caller_endpoint)
    if text == "outbound-api" and callee_endpoint:
        return _Leg(CallDirection.INTERNAL, callee_endpoint)
    if text == "outbound-dial":
        caller_ours = _ours(caller, policy, region)
        if callee_endpoint:
            direction = CallDirection.INTERNAL if caller_ours else CallDirection.INBOUND
            return _Leg(direction, callee_endpoint)
        if caller_ours:
            return _Leg(CallDirection.OUTBOUND, caller_endpoint)
        return _Leg(CallDirection.INBOUND, None)
    return _Leg(DIRECTIONS[text], None)
