"""`ingest.rejected.v1`: authenticated input that could not be parsed, kept for replay."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from switchboard_shared.events.base import Event


class IngestRejected(Event):
    source: str = Field(description="e.g. `ingest-calls/twilio`, `ingest-mail/lmtp`")
    reason: str = Field(description="Short machine-readable reason, e.g. `invalid_field`")
    detail: str = Field(default="", description="Human-readable explanation")
    content_type: str | None = None
    body: str = Field(
        description="The raw body: UTF-8 text, base64 when not valid UTF-8, or base64 of its "
        "gzip when it is too large for a record as it is"
    )
    body_encoding: str = Field(
        default="utf-8",
        description="`utf-8`, `base64` or `gzip+base64`; `switchboard_shared.intake.kept_body` "
        "gives back the bytes",
    )
    body_bytes: int | None = Field(default=None, ge=0, description="Size of the original body")
    body_sha256: str | None = Field(default=None, description="Digest of the original body")
    truncated: bool = Field(
        default=False, description="Only the first bytes were kept (the body was too large)"
    )
    received_at: datetime
