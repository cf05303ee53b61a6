"""The registry of provider adapters: name → how to authenticate and parse its requests.

Each adapter is a module in `ingest_calls.domain` exposing `CONTENT_TYPES`, `verify(request,
ctx)` and `parse(request, ctx, policy)`; adding a provider is one module and one line here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

from ingest_calls.config import Settings
from ingest_calls.domain import generic
from ingest_calls.domain.calls import CallEvent
from ingest_calls.domain.request import Context, WebhookRequest
from switchboard_shared.phone import PhonePolicy


@dataclass(frozen=True)
class Provider:
    name: str
    adapter: ModuleType
    secret: Callable[[Settings], str | None]

    @property
    def content_types(self) -> frozenset[str]:
        types: frozenset[str] = self.adapter.CONTENT_TYPES
        return types

    def verify(self, request: WebhookRequest, ctx: Context) -> None:
        self.adapter.verify(request, ctx)

    def echo(self, request: WebhookRequest) -> str | None:
        """The answer to a provider's URL check (a GET), when it has one."""
        check = getattr(self.adapter, "echo", None)
        return None if check is None else check(request)

    def parse(self, request: WebhookRequest, ctx: Context, policy: PhonePolicy) -> list[CallEvent]:
        events: list[CallEvent] = self.adapter.parse(request, ctx, policy)
        return events


PROVIDERS: dict[str, Provider] = {
    "generic": Provider("generic", generic, lambda s: s.generic_hmac_secret),
}


def enabled(settings: Settings) -> list[str]:
    return sorted(name for name, p in PROVIDERS.items() if p.secret(settings))
