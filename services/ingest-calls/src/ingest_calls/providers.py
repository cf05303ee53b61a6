"""The registry of provider adapters: name → how to authenticate and parse its requests."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ingest_calls.config import Settings
from ingest_calls.domain import generic
from switchboard_shared.events import CallRecorded


@dataclass(frozen=True)
class Provider:
    name: str
    secret: Callable[[Settings], str | None]
    verify: Callable[[Mapping[str, str], bytes, Settings], None]
    parse: Callable[[bytes, Mapping[str, str], Settings], list[CallRecorded]]


def _generic_secret(settings: Settings) -> str | None:
    return settings.generic_hmac_secret


def _generic_verify(headers: Mapping[str, str], body: bytes, settings: Settings) -> None:
    secret = settings.generic_hmac_secret
    assert secret is not None  # the edge answers 404 for a provider with no secret
    generic.verify(headers, body, secret, window_s=settings.replay_window_s)


def _generic_parse(body: bytes, _: Mapping[str, str], settings: Settings) -> list[CallRecorded]:
    return generic.parse(body, settings.phone_policy)


PROVIDERS: dict[str, Provider] = {
    "generic": Provider("generic", _generic_secret, _generic_verify, _generic_parse),
}


def enabled(settings: Settings) -> list[str]:
    return sorted(name for name, p in PROVIDERS.items() if p.secret(settings))
