"""The registry of provider adapters: name → how to authenticate and parse its requests.

Each adapter is a module in `ingest_calls.domain` exposing `CONTENT_TYPES`, `verify(request,
ctx)` and `parse(request, ctx, policy)`; adding a provider is one module and one line here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from ingest_calls.config import Settings
from ingest_calls.domain import (
    aircall,
    asterisk,
    generic,
    plivo,
    telnyx,
    threecx,
    twilio,
    vonage,
    zadarma,
)
from ingest_calls.domain.calls import CallEvent
from ingest_calls.domain.request import Context, WebhookRequest
from switchboard_shared.phone import PhonePolicy


@dataclass(frozen=True)
class Provider:
    name: str
    adapter: ModuleType
    secret: Callable[[Settings], str | None]

    @property
    def signs_url(self) -> bool:
        """Does the signature cover the URL called (so the URL must be known for sure)?"""
        return bool(getattr(self.adapter, "SIGNS_URL", False))

    @property
    def content_types(self) -> frozenset[str]:
        types: frozenset[str] = self.adapter.CONTENT_TYPES
        return types

    def verify(self, request: WebhookRequest, ctx: Context) -> None:
        self.adapter.verify(request, ctx)

    def answer_get(self, request: WebhookRequest, ctx: Context) -> str | dict[str, Any] | None:
        """What a provider's GET gets: a URL check (text) or a contact lookup (JSON).

        None: this provider only posts.
        """
        lookup = getattr(self.adapter, "lookup", None)
        if lookup is not None:
            self.verify(request, ctx)
            answer: dict[str, Any] = lookup(request, ctx)
            return answer
        check = getattr(self.adapter, "echo", None)
        if check is None:
            return None
        text: str | None = check(request)
        return text

    def parse(self, request: WebhookRequest, ctx: Context, policy: PhonePolicy) -> list[CallEvent]:
        events: list[CallEvent] = self.adapter.parse(request, ctx, policy)
        return events


PROVIDERS: dict[str, Provider] = {
    "generic": Provider("generic", generic, lambda s: s.generic_hmac_secret),
    "asterisk": Provider("asterisk", asterisk, lambda s: s.asterisk_token),
    "threecx": Provider("threecx", threecx, lambda s: s.threecx_token),
    "twilio": Provider("twilio", twilio, lambda s: s.twilio_auth_token),
    "vonage": Provider("vonage", vonage, lambda s: s.vonage_signature_secret),
    "telnyx": Provider("telnyx", telnyx, lambda s: s.telnyx_public_key),
    "plivo": Provider("plivo", plivo, lambda s: s.plivo_auth_token),
    "zadarma": Provider("zadarma", zadarma, lambda s: s.zadarma_api_secret),
    "aircall": Provider("aircall", aircall, lambda s: s.aircall_token),
}


def enabled(settings: Settings) -> list[str]:
    return sorted(name for name, p in PROVIDERS.items() if p.secret(settings))
