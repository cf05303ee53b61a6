"""HTTP edge: `POST /webhooks/{provider}`.

Decode → authenticate → parse → publish, and answer only after the broker acknowledged.

The webhook POST is the hot path: it is served by `webhook_route`, a plain Starlette route placed
ahead of FastAPI's routes (`app.py`), so a webhook skips FastAPI's route matching, dependency
solving and response validation; the FastAPI route of the same path stays for the OpenAPI
document (and answers the same way). Errors still go through the app's problem handlers.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Match, Route
from starlette.types import Scope

from ingest_calls.config import Settings
from ingest_calls.domain import asterisk, cel
from ingest_calls.domain.errors import AuthenticationFailed, InvalidPayload
from ingest_calls.domain.request import Context, WebhookRequest
from ingest_calls.metrics import CALL_EVENTS, CEL_EVENTS, METRICS, WEBHOOK_LATENCY, WEBHOOKS
from ingest_calls.providers import PROVIDERS, Provider
from ingest_calls.publisher import CallPublisher
from switchboard_shared.kafka import BrokerUnavailable
from switchboard_shared.problems import Problem, read_limited_body

log = logging.getLogger(__name__)
router = APIRouter()
RETRY_AFTER_S = "5"


def context_for(provider: str, secret: str, settings: Settings) -> Context:
    return Context(
        secret=secret,
        region=settings.region_for(provider),
        replay_window_s=settings.replay_window_s,
        options=settings.options_for(provider),
    )


def context_of(request: Request, provider: str, secret: str) -> Context:
    """`context_for`, made once per provider for the app's (fixed) settings."""
    contexts: dict[str, Context] = request.app.state.contexts
    ctx = contexts.get(provider)
    if ctx is None or ctx.secret != secret:
        ctx = contexts[provider] = context_for(provider, secret, request.app.state.settings)
    return ctx


def json_answer(document: Any, status_code: int = 200) -> Response:
    """A JSON answer encoded by orjson (what JSONResponse writes, compact, in one pass)."""
    return Response(orjson.dumps(document), status_code, media_type="application/json")


def public_url(request: Request, settings: Settings) -> str | None:
    """The URL the provider called, as it signed it; None when it cannot be known.

    INGEST_CALLS_PUBLIC_BASE_URL when set; else, for a request from one of
    INGEST_CALLS_TRUSTED_PROXIES, the scheme and host that proxy forwarded (the last
    X-Forwarded-Proto and X-Forwarded-Host values: the ones it added). Never the Host header: a
    client chooses it, and with it which signed URL a captured request is replayed as.
    """
    if settings.public_base_url:
        base = settings.public_base_url.rstrip("/")
    elif settings.trusted_proxies and settings.trusts(request.client and request.client.host):
        host = _last(request.headers.getlist("x-forwarded-host"))
        scheme = _last(request.headers.getlist("x-forwarded-proto")).lower()
        if not host or scheme not in ("http", "https"):
            return None
        base = f"{scheme}://{host}"
    else:
        return None
    query = request.url.query
    return f"{base}{request.url.path}" + (f"?{query}" if query else "")


def _last(values: list[str]) -> str:
    """The last of a header's comma-separated values, over all its occurrences."""
    items = [item.strip() for value in values for item in value.split(",") if item.strip()]
    return items[-1] if items else ""


def hook_url(provider: Provider, request: Request, settings: Settings) -> str:
    """What `WebhookRequest.url` holds: the signed URL for the providers that sign one."""
    url = public_url(request, settings)
    if url is not None:
        return url
    if provider.signs_url:
        WEBHOOKS.labels(provider.name, "unauthorized").inc()
        raise Problem(
            401,
            "Unauthorized",
            f"{provider.name} signs the URL it calls, and this request did not come through "
            "INGEST_CALLS_TRUSTED_PROXIES with X-Forwarded-Host and X-Forwarded-Proto",
            headers={"WWW-Authenticate": "Signature"},
        )
    return str(request.url)


def broker_down(exc: BrokerUnavailable) -> Problem:
    """Not confirmed, which is not "not stored": a send that timed out may still be written.
    The provider's retry carries the same event id, so it is stored once either way."""
    return Problem(
        503,
        "Broker unavailable",
        "the event is not confirmed stored; retry it later (a retry is deduplicated)",
        headers={"Retry-After": RETRY_AFTER_S},
    )


CEL_SOURCE = "asterisk-cel"


@router.post(
    "/webhooks/asterisk-cel",
    summary="Receive Asterisk CEL events (a JSON array, AMI field names) to assemble into calls",
    responses={
        401: {"description": "Missing or wrong Bearer token (INGEST_CALLS_ASTERISK_TOKEN)"},
        404: {"description": "INGEST_CALLS_ASTERISK_TOKEN is not set"},
        413: {"description": "Body too large"},
        422: {"description": "Authenticated but malformed; kept on ingest.rejected.v1"},
        503: {"description": "Not confirmed: retry after Retry-After; the retry is deduplicated"},
    },
)
async def receive_cel(request: Request) -> JSONResponse:
    with WEBHOOK_LATENCY.labels(CEL_SOURCE).time():
        return await _receive_cel(request)


async def _receive_cel(request: Request) -> JSONResponse:
    settings: Settings = request.app.state.settings
    publisher: CallPublisher = request.app.state.publisher
    secret = settings.asterisk_token
    if not secret:
        WEBHOOKS.labels(CEL_SOURCE, "disabled").inc()
        raise Problem(404, "Unknown provider", "set INGEST_CALLS_ASTERISK_TOKEN to enable it")
    body = await read_limited_body(request, settings.max_body_bytes, "Payload")
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    hook = WebhookRequest(
        method=request.method,
        url=str(request.url),
        headers={k.lower(): v for k, v in request.headers.items()},
        body=body,
        content_type=media_type,
    )
    try:
        asterisk.check_bearer(hook, secret)
    except AuthenticationFailed as exc:
        WEBHOOKS.labels(CEL_SOURCE, "unauthorized").inc()
        METRICS.rejected.labels("unauthorized").inc()
        raise Problem(
            401, "Unauthorized", str(exc), headers={"WWW-Authenticate": "Bearer"}
        ) from exc
    if media_type != asterisk.JSON:
        WEBHOOKS.labels(CEL_SOURCE, "unsupported_media_type").inc()
        raise Problem(415, "Unsupported media type", "asterisk-cel posts application/json")
    try:
        zone = asterisk.zone_of(settings.options_for("asterisk"))
        events = cel.parse_batch(hook.json(), zone, "push")
    except InvalidPayload as exc:
        CEL_EVENTS.labels("push", "rejected").inc()
        return await _reject(publisher, CEL_SOURCE, exc, media_type, body)
    try:
        published, duplicates = await publisher.publish_cel(events, CEL_SOURCE)
    except BrokerUnavailable as exc:
        WEBHOOKS.labels(CEL_SOURCE, "unavailable").inc()
        raise broker_down(exc) from exc
    CEL_EVENTS.labels("push", "published").inc(published)
    CEL_EVENTS.labels("push", "duplicate").inc(duplicates)
    WEBHOOKS.labels(CEL_SOURCE, "accepted").inc()
    return JSONResponse({"accepted": len(events), "published": published, "duplicates": duplicates})


@router.post(
    "/webhooks/{provider}",
    summary="Receive a call record from a provider",
    responses={
        401: {"description": "Bad, missing or stale signature"},
        404: {"description": "Unknown provider, or no secret configured for it"},
        413: {"description": "Body too large"},
        422: {"description": "Authenticated but malformed; kept on ingest.rejected.v1"},
        503: {
            "description": "Not confirmed (the broker is unavailable): retry after Retry-After "
            "seconds; the retry is deduplicated"
        },
    },
)
async def receive_webhook(provider: str, request: Request) -> Response:
    label = provider if provider in PROVIDERS else "unknown"
    with WEBHOOK_LATENCY.labels(label).time():
        return await _receive(provider, request)


async def _webhook(request: Request) -> Response:
    """`POST /webhooks/{provider}` as a plain Starlette endpoint (see the module's doc)."""
    provider: str = request.path_params["provider"]
    if provider == CEL_SOURCE:
        return await receive_cel(request)
    return await receive_webhook(provider, request)


class _NamedRoute(Route):
    """A Starlette route that names itself in the scope as FastAPI's do (`scope["route"]`,
    which the request metrics label by)."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child = super().matches(scope)
        if match is not Match.NONE:
            child["route"] = self
        return match, child


webhook_route = _NamedRoute(
    "/webhooks/{provider}", _webhook, methods=["POST"], include_in_schema=False
)


async def _receive(provider: str, request: Request) -> Response:
    settings: Settings = request.app.state.settings
    publisher: CallPublisher = request.app.state.publisher
    adapter = PROVIDERS.get(provider)
    if adapter is None or not adapter.secret(settings):
        WEBHOOKS.labels("unknown" if adapter is None else provider, "disabled").inc()
        raise Problem(404, "Unknown provider", f"no enabled provider named {provider!r}")
    secret = adapter.secret(settings)
    assert secret is not None
    body = await read_limited_body(request, settings.max_body_bytes, "Payload")
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in adapter.content_types:
        WEBHOOKS.labels(provider, "unsupported_media_type").inc()
        raise Problem(
            415,
            "Unsupported media type",
            f"{provider} posts {' or '.join(sorted(adapter.content_types))}",
        )
    hook = WebhookRequest(
        method=request.method,
        url=hook_url(adapter, request, settings),
        headers={k.lower(): v for k, v in request.headers.items()},
        query=list(request.query_params.multi_items()),
        body=body,
        content_type=media_type,
    )
    ctx = context_of(request, provider, secret)
    try:
        adapter.verify(hook, ctx)
    except AuthenticationFailed as exc:
        WEBHOOKS.labels(provider, "unauthorized").inc()
        METRICS.rejected.labels("unauthorized").inc()
        raise Problem(
            401, "Unauthorized", str(exc), headers={"WWW-Authenticate": "Signature"}
        ) from exc
    try:
        events = adapter.parse(hook, ctx, settings.phone_policy)
    except InvalidPayload as exc:
        return await _reject(publisher, provider, exc, media_type, body)
    accepted: list[dict[str, Any]] = []
    try:
        for event in events:
            outcome = await publisher.publish(event)
            accepted.append(
                {"call_id": event.call_id, "event_id": outcome.event_id, "outcome": outcome.kind}
            )
            CALL_EVENTS.labels(provider, outcome.topic_kind, outcome.kind).inc()
    except BrokerUnavailable as exc:
        WEBHOOKS.labels(provider, "unavailable").inc()
        log.warning("broker unavailable, asked provider to retry", extra={"provider": provider})
        raise broker_down(exc) from exc
    WEBHOOKS.labels(provider, "accepted").inc()
    return json_answer({"accepted": accepted})


@router.get(
    "/webhooks/{provider}",
    summary="A provider's URL check (Zadarma's zd_echo) or contact lookup (3CX)",
    response_model=None,
)
async def answer_provider_get(provider: str, request: Request) -> Response:
    settings: Settings = request.app.state.settings
    adapter = PROVIDERS.get(provider)
    secret = adapter.secret(settings) if adapter else None
    if adapter is None or not secret:
        raise Problem(404, "Unknown provider", f"no enabled provider named {provider!r}")
    hook = WebhookRequest(
        method="GET",
        url=hook_url(adapter, request, settings),
        headers={k.lower(): v for k, v in request.headers.items()},
        query=list(request.query_params.multi_items()),
    )
    try:
        answer = adapter.answer_get(hook, context_for(provider, secret, settings))
    except AuthenticationFailed as exc:
        WEBHOOKS.labels(provider, "unauthorized").inc()
        raise Problem(401, "Unauthorized", str(exc)) from exc
    except InvalidPayload as exc:
        raise Problem(422, "Invalid request", exc.detail, field=exc.field) from exc
    if isinstance(answer, dict):
        return JSONResponse(answer)
    if answer is None:
        raise Problem(
            405, "Method not allowed", f"{provider} posts its webhooks", headers={"Allow": "POST"}
        )
    return PlainTextResponse(answer)


async def _reject(
    publisher: CallPublisher,
    provider: str,
    exc: InvalidPayload,
    content_type: str | None,
    body: bytes,
) -> JSONResponse:
    try:
        rejected_id = await publisher.reject(
            provider, "invalid_payload", exc.detail, content_type, body
        )
    except BrokerUnavailable as down:
        WEBHOOKS.labels(provider, "unavailable").inc()
        raise broker_down(down) from down
    WEBHOOKS.labels(provider, "invalid").inc()
    METRICS.rejected.labels("invalid_payload").inc()
    raise Problem(
        422,
        "Invalid call record",
        exc.detail,
        field=exc.field,
        rejected_event_id=rejected_id,
    )
