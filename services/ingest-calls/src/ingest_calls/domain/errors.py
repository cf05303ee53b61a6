"""Errors an adapter raises; the HTTP edge maps them to status codes."""

from __future__ import annotations


class AuthenticationFailed(Exception):
    """Missing, wrong or stale signature (401)."""


class InvalidPayload(Exception):
    """Authenticated input that cannot become a call event (422); it is kept for replay."""

    def __init__(self, detail: str, *, field: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field
