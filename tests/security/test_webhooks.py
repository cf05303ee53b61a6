"""Webhooks from someone who is not the provider: forged, tampered or replayed.

A signature over another body, a stale timestamp, a missing signature: 401. A provider whose
scheme signs no timestamp (Zadarma) is bounded by the age of the signed `call_start`: a captured
notification replayed 90 days later is refused like the others, the same one fresh is accepted.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import httpx
import pytest

from ingest_calls.domain import zadarma
from security.conftest import ZADARMA_SECRET
from support.generic_webhook import missed_call, signature_headers
from support.stack import GENERIC_SECRET, Stack

pytestmark = pytest.mark.security


def call() -> bytes:
    return missed_call(f"forged-{uuid.uuid4().hex[:8]}")


def post_generic(stack: Stack, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(
        f"{stack.url('ingest_calls')}/webhooks/generic",
        content=body,
        headers={"Content-Type": "application/json", **headers},
        timeout=10,
    )


def signed(body: bytes, *, age_s: int = 0, secret: str = GENERIC_SECRET) -> dict[str, str]:
    return signature_headers(body, secret, age_s=age_s)


def test_forged_and_replayed_generic_webhooks_are_refused(stack: Stack) -> None:
    body = call()
    other = call()
    attempts = {
        "no signature": post_generic(stack, body, {}),
        "another body's signature": post_generic(stack, body, signed(other)),
        "a guessed secret": post_generic(stack, body, signed(body, secret="x" * 32)),
        "an hour old": post_generic(stack, body, signed(body, age_s=3600)),
        "from the future": post_generic(stack, body, signed(body, age_s=-3600)),
    }
    statuses = {what: response.status_code for what, response in attempts.items()}
    assert set(statuses.values()) == {401}, statuses
    assert post_generic(stack, body, signed(body)).status_code == 200  # the control


def zadarma_end(call_start: datetime) -> tuple[str, dict[str, str]]:
    fields = {
        "event": "NOTIFY_END",
        "call_start": call_start.strftime("%Y-%m-%d %H:%M:%S"),
        "pbx_call_id": f"in_{uuid.uuid4().hex[:12]}",
        "caller_id": "14155550143",
        "called_did": "14155550100",
        "internal": "101",
        "duration": "0",
        "disposition": "no answer",
        "status_code": "16",
        "is_recorded": "0",
    }
    signed_text = zadarma.signed_string(fields)
    assert signed_text is not None
    return urlencode(fields), {
        "Content-Type": "application/x-www-form-urlencoded",
        "Signature": zadarma.signature(ZADARMA_SECRET, signed_text),
    }


def test_a_zadarma_notification_replayed_months_later_is_refused(stack: Stack) -> None:
    url = f"{stack.url('ingest_calls')}/webhooks/zadarma"
    body, headers = zadarma_end(datetime.now(UTC) - timedelta(days=90))
    replayed = httpx.post(url, content=body, headers=headers, timeout=10)
    assert replayed.status_code == 401, replayed.text
    body, headers = zadarma_end(datetime.now(UTC) - timedelta(seconds=30))
    fresh = httpx.post(url, content=body, headers=headers, timeout=10)
    assert fresh.status_code == 200, fresh.text  # the control
