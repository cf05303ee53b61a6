"""Twilio status callbacks as Twilio sends and signs them, for the benches' HTTP load."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime
from urllib.parse import urlencode

from harness.wrk import Request
from ingest_calls.domain.twilio import compute_signature

TOKEN = "bench-twilio-auth-token-0123456789"  # INGEST_CALLS_TWILIO_AUTH_TOKEN of the benches
OUR_NUMBER = "+14155550100"


def caller(n: int) -> str:
    """A caller number of its own for call `n` (distinct up to n = 7,999,999)."""
    return f"+1415{2_000_000 + n:07d}"


def callback(url: str, n: int, *, missed: bool, at: datetime | None = None) -> Request:
    """The final status callback of call `n` from `caller(n)`, signed for `url`: missed (no
    answer) or completed after 42 s."""
    path = "/" + url.split("/", 3)[3]
    params = [
        ("AccountSid", "AC" + "0" * 32),
        ("CallSid", f"CA{n:032d}"),
        ("CallStatus", "no-answer" if missed else "completed"),
        ("Direction", "inbound"),
        ("From", caller(n)),
        ("To", OUR_NUMBER),
        ("Called", OUR_NUMBER),
        ("Caller", caller(n)),
        ("CallDuration", "0" if missed else "42"),
        ("Timestamp", format_datetime(at or datetime.now(UTC))),
        ("ApiVersion", "2010-04-01"),
        ("SequenceNumber", "0"),
    ]
    body = urlencode(params).encode()
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": compute_signature(TOKEN, url, params),
    }
    return path, body, headers


def callbacks(url: str, count: int, offset: int) -> list[Request]:
    """`count` distinct callbacks, two missed calls in three."""
    return [callback(url, n, missed=bool(n % 3)) for n in range(offset, offset + count)]
