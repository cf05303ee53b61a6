"""A call posted to ingest-calls' generic webhook, signed as the provider would sign it: for the
tests about what happens around a webhook (outages, stalls, forgeries), not about its format."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

from ingest_calls.domain.generic import sign

CALLER = "+14155550142"
OUR_NUMBER = "+14155550100"


def missed_call(call_id: str, caller: str = CALLER) -> bytes:
    """An inbound call from `caller` nobody answered, which started a minute ago."""
    start = datetime.now(UTC) - timedelta(minutes=1)
    return json.dumps(
        {
            "id": call_id,
            "direction": "inbound",
            "status": "no_answer",
            "from": caller,
            "to": OUR_NUMBER,
            "started_at": start.isoformat(),
            "ended_at": (start + timedelta(seconds=20)).isoformat(),
        }
    ).encode()


def signature_headers(body: bytes, secret: str, *, age_s: int = 0) -> dict[str, str]:
    """The headers of a generic webhook signed `age_s` seconds ago."""
    timestamp = str(int(time.time()) - age_s)
    return {
        "Content-Type": "application/json",
        "X-Switchboard-Timestamp": timestamp,
        "X-Switchboard-Signature": sign(secret, timestamp, body),
    }


def signed_missed_call(
    call_id: str, secret: str, caller: str = CALLER
) -> tuple[bytes, dict[str, str]]:
    """A missed call's body and its headers, signed now."""
    body = missed_call(call_id, caller)
    return body, signature_headers(body, secret)
