"""The ingest-calls HTTP edge with the Kafka bus never connected.

The app's lifespan is not started, so the bus never connects: every publish fails the way it
does when the broker is unreachable. No mock stands in for the broker.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import REGISTRY

from ingest_calls.app import create_app
from ingest_calls.config import Settings
from ingest_calls.domain.generic import sign
from switchboard_shared.settings import CommonSettings

SECRET = "x" * 32
PROBLEM = "application/problem+json"
CALL: dict[str, Any] = {
    "id": "pbx-7781",
    "direction": "inbound",
    "status": "no_answer",
    "from": "+1 (415) 555-2671",
    "to": "101",
    "started_at": "2026-03-02T09:00:00Z",
    "ended_at": "2026-03-02T09:00:25Z",
}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("INGEST_CALLS_", "SWITCHBOARD_")):
            monkeypatch.delenv(name)


def settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "generic_hmac_secret": SECRET,
        "common": CommonSettings(kafka_bootstrap="127.0.0.1:1"),
    }
    values.update(overrides)
    return Settings(**values)


async def client_for(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ingest")


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with await client_for(create_app(settings())) as c:
        yield c


def signed(body: bytes, secret: str = SECRET, timestamp: str | None = None) -> dict[str, str]:
    ts = timestamp or str(int(time.time()))
    return {
        "content-type": "application/json",
        "x-switchboard-timestamp": ts,
        "x-switchboard-signature": sign(secret, ts, body),
    }


def counter(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def assert_problem(response: httpx.Response, status: int, title: str) -> dict[str, Any]:
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["status"] == status
    assert problem["title"] == title
    assert problem["type"] == "about:blank"
    assert isinstance(problem, dict)
    return problem


async def test_valid_signed_call_while_broker_down_is_503_with_retry_after(
    client: httpx.AsyncClient,
) -> None:
    unavailable = counter("ingest_calls_webhooks_total", provider="generic", outcome="unavailable")
    failures = counter("ingest_calls_publish_failures_total", topic="calls.recorded.v1")
    body = json.dumps(CALL).encode()
    response = await client.post("/webhooks/generic", content=body, headers=signed(body))
    problem = assert_problem(response, 503, "Broker unavailable")
    assert response.headers["retry-after"] == "5"
    assert "retry" in problem["detail"]
    assert "accepted" not in problem
    assert (
        counter("ingest_calls_webhooks_total", provider="generic", outcome="unavailable")
        == unavailable + 1
    )
    assert counter("ingest_calls_publish_failures_total", topic="calls.recorded.v1") == failures + 1


async def test_a_list_of_calls_while_broker_down_is_503(client: httpx.AsyncClient) -> None:
    body = json.dumps([CALL, {**CALL, "id": "pbx-7782"}]).encode()
    response = await client.post("/webhooks/generic", content=body, headers=signed(body))
    assert_problem(response, 503, "Broker unavailable")
    assert response.headers["retry-after"] == "5"


async def test_malformed_but_signed_body_is_503_while_broker_down(
    client: httpx.AsyncClient,
) -> None:
    """The 422 needs the body kept on ingest.rejected.v1 first; with the broker down it cannot
    be, so the provider is asked to retry instead: nothing acknowledged is lost."""
    failures = counter("ingest_calls_publish_failures_total", topic="ingest.rejected.v1")
    invalid = counter("ingest_calls_webhooks_total", provider="generic", outcome="invalid")
    body = json.dumps({**CALL, "started_at": "2026-03-02T09:00:00"}).encode()
    response = await client.post("/webhooks/generic", content=body, headers=signed(body))
    assert_problem(response, 503, "Broker unavailable")
    assert response.headers["retry-after"] == "5"
    assert counter("ingest_calls_publish_failures_total", topic="ingest.rejected.v1") == (
        failures + 1
    )
    assert counter("ingest_calls_webhooks_total", provider="generic", outcome="invalid") == invalid


async def test_signed_non_json_body_is_503_while_broker_down(client: httpx.AsyncClient) -> None:
    body = b"id=pbx-7781&status=busy"
    response = await client.post("/webhooks/generic", content=body, headers=signed(body))
    assert_problem(response, 503, "Broker unavailable")


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "text/plain", None])
async def test_wrong_content_type_is_415(
    client: httpx.AsyncClient, content_type: str | None
) -> None:
    body = json.dumps(CALL).encode()
    headers = signed(body)
    del headers["content-type"]
    if content_type is not None:
        headers["content-type"] = content_type
    response = await client.post("/webhooks/generic", content=body, headers=headers)
    problem = assert_problem(response, 415, "Unsupported media type")
    assert "application/json" in problem["detail"]


async def test_content_type_parameters_are_ignored(client: httpx.AsyncClient) -> None:
    body = json.dumps(CALL).encode()
    headers = {**signed(body), "content-type": "Application/JSON; charset=utf-8"}
    response = await client.post("/webhooks/generic", content=body, headers=headers)
    assert_problem(response, 503, "Broker unavailable")


@pytest.mark.parametrize(
    "headers",
    [
        lambda body: signed(body, secret="y" * 32),
        lambda body: signed(body, timestamp=str(int(time.time()) - 3600)),
        lambda body: {"content-type": "application/json"},
        lambda body: signed(b"something else"),
    ],
    ids=["wrong-secret", "stale", "unsigned", "signature-of-another-body"],
)
async def test_bad_signature_is_401(client: httpx.AsyncClient, headers: Any) -> None:
    before = counter("ingest_calls_webhooks_total", provider="generic", outcome="unauthorized")
    body = json.dumps(CALL).encode()
    response = await client.post("/webhooks/generic", content=body, headers=headers(body))
    assert_problem(response, 401, "Unauthorized")
    assert response.headers["www-authenticate"] == "Signature"
    assert "retry-after" not in response.headers
    assert (
        counter("ingest_calls_webhooks_total", provider="generic", outcome="unauthorized")
        == before + 1
    )


async def test_unknown_provider_is_404(client: httpx.AsyncClient) -> None:
    body = json.dumps(CALL).encode()
    response = await client.post("/webhooks/nosuchpbx", content=body, headers=signed(body))
    problem = assert_problem(response, 404, "Unknown provider")
    assert "nosuchpbx" in problem["detail"]


@pytest.mark.parametrize("secret", [None, "", "   "])
async def test_provider_without_secret_is_404(secret: str | None) -> None:
    app = create_app(settings(generic_hmac_secret=secret))
    body = json.dumps(CALL).encode()
    async with await client_for(app) as c:
        response = await c.post("/webhooks/generic", content=body, headers=signed(body))
    problem = assert_problem(response, 404, "Unknown provider")
    assert "generic" in problem["detail"]


async def test_body_over_limit_is_413() -> None:
    app = create_app(settings(max_body_bytes=2048))
    body = json.dumps({**CALL, "padding": "x" * 4096}).encode()
    before = counter("ingest_calls_rejected_total", reason="body_too_large")
    async with await client_for(app) as c:
        response = await c.post("/webhooks/generic", content=body, headers=signed(body))
    problem = assert_problem(response, 413, "Content too large")
    assert "2048" in problem["detail"]
    assert counter("ingest_calls_rejected_total", reason="body_too_large") == before + 1


async def test_streamed_body_over_limit_without_content_length_is_413() -> None:
    app = create_app(settings(max_body_bytes=2048))

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(5):
            yield b"x" * 1000

    headers = {"x-switchboard-timestamp": str(int(time.time())), "x-switchboard-signature": "x"}
    async with await client_for(app) as c:
        response = await c.post("/webhooks/generic", content=chunks(), headers=headers)
    assert "content-length" not in response.request.headers
    assert_problem(response, 413, "Content too large")


async def test_body_at_limit_is_not_413() -> None:
    app = create_app(settings(max_body_bytes=2048))
    body = json.dumps({**CALL, "padding": ""}).encode()
    body = body.replace(b'"padding": ""', b'"padding": "' + b"x" * (2048 - len(body)) + b'"')
    assert len(body) == 2048
    async with await client_for(app) as c:
        response = await c.post("/webhooks/generic", content=body, headers=signed(body))
    assert response.status_code == 503


async def test_healthz(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_reports_kafka_unavailable(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"status": "not ready", "checks": {"kafka": "unavailable"}}


async def test_metrics(client: httpx.AsyncClient) -> None:
    await client.post("/webhooks/generic", content=b"{}")  # unsigned: counted as unauthorized
    await client.get("/readyz")  # sets broker_up from this (never connected) bus
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert "# TYPE ingest_calls_webhooks_total counter" in text
    assert 'ingest_calls_webhooks_total{outcome="unauthorized",provider="generic"}' in text
    assert "ingest_calls_broker_up 0.0" in text
    assert (
        'ingest_calls_http_requests_total{method="POST",route="/webhooks/{provider}",status="4xx"}'
        in text
    )


# --- the URL Twilio and Plivo sign is never the Host header -----------------------------------

TWILIO_TOKEN = "t" * 32
SIGNED_URL = "https://calls.example.com/webhooks/twilio"
TWILIO_FORM = {
    "CallSid": "CA" + "1" * 32,
    "CallStatus": "completed",
    "Direction": "inbound",
    "From": "+14155552671",
    "To": "+14155550100",
    "CallDuration": "12",
    "Timestamp": "Mon, 02 Mar 2026 09:00:30 +0000",
}


async def post_twilio(
    app: FastAPI, peer: str, headers: dict[str, str] | None = None
) -> httpx.Response:
    """A Twilio callback signed for SIGNED_URL, sent from `peer` to Host calls.example.com."""
    from urllib.parse import urlencode

    from ingest_calls.domain import twilio

    signature = twilio.compute_signature(TWILIO_TOKEN, SIGNED_URL, list(TWILIO_FORM.items()))
    transport = httpx.ASGITransport(app=app, client=(peer, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://calls.example.com") as c:
        return await c.post(
            "/webhooks/twilio",
            content=urlencode(TWILIO_FORM).encode(),
            headers={
                "content-type": "application/x-www-form-urlencoded",
                "x-twilio-signature": signature,
                **(headers or {}),
            },
        )


def proxied_app() -> FastAPI:
    return create_app(settings(twilio_auth_token=TWILIO_TOKEN, trusted_proxies="10.0.0.0/8"))


async def test_a_url_signature_checked_against_the_host_header_is_refused() -> None:
    """Signed for calls.example.com and sent with that Host, but not by a trusted proxy."""
    response = await post_twilio(proxied_app(), "203.0.113.9")
    problem = assert_problem(response, 401, "Unauthorized")
    assert "INGEST_CALLS_TRUSTED_PROXIES" in problem["detail"]
    forged = {"x-forwarded-host": "calls.example.com", "x-forwarded-proto": "https"}
    assert (await post_twilio(proxied_app(), "203.0.113.9", forged)).status_code == 401


async def test_a_trusted_proxy_names_the_url_called() -> None:
    forwarded = {"x-forwarded-host": "calls.example.com", "x-forwarded-proto": "https"}
    response = await post_twilio(proxied_app(), "10.0.0.5", forwarded)
    assert_problem(response, 503, "Broker unavailable")  # authenticated; the broker is away


async def test_the_proxys_own_forwarded_value_wins_over_the_clients() -> None:
    appended = {"x-forwarded-host": "calls.example.com, evil.example", "x-forwarded-proto": "https"}
    assert (await post_twilio(proxied_app(), "10.0.0.5", appended)).status_code == 401
    appended["x-forwarded-host"] = "evil.example, calls.example.com"
    assert (await post_twilio(proxied_app(), "10.0.0.5", appended)).status_code == 503


async def test_a_trusted_proxy_without_forwarded_headers_is_refused() -> None:
    assert (await post_twilio(proxied_app(), "10.0.0.5")).status_code == 401


async def test_the_public_base_url_is_what_is_checked_whatever_the_host() -> None:
    app = create_app(
        settings(twilio_auth_token=TWILIO_TOKEN, public_base_url="https://calls.example.com")
    )
    assert (await post_twilio(app, "203.0.113.9")).status_code == 503
    other = create_app(
        settings(twilio_auth_token=TWILIO_TOKEN, public_base_url="https://other.example.com")
    )
    assert (await post_twilio(other, "203.0.113.9")).status_code == 401
