"""What an adapter sees of a webhook request: plain data, no web framework."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from ingest_calls.domain.errors import InvalidPayload

_LONE_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]")
MAX_JSON_DEPTH = 64


def _depth_exceeds(document: Any, limit: int) -> bool:
    stack = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth > limit:
                return True
            children = value.values() if isinstance(value, dict) else value
            stack.extend((child, depth + 1) for child in children)
    return False


def _form_text(text: str) -> str:
    if "+" in text:
        text = text.replace("+", " ")
    return unquote(text) if "%" in text else text


def parse_form(text: str) -> list[tuple[str, str]]:
    """application/x-www-form-urlencoded pairs, in order, blank values kept: what
    `urllib.parse.parse_qsl(text, keep_blank_values=True)` returns, without its per-field
    overhead (most fields need no unquoting at all)."""
    pairs: list[tuple[str, str]] = []
    for field_ in text.split("&"):
        if not field_:
            continue
        name, _, value = field_.partition("=")
        pairs.append((_form_text(name), _form_text(value)))
    return pairs


@dataclass(frozen=True)
class WebhookRequest:
    """One provider request.

    `url` is the full URL as the provider addressed it (INGEST_CALLS_PUBLIC_BASE_URL + path +
    query when configured), which is what URL-signing providers sign.
    """

    method: str
    url: str
    headers: Mapping[str, str]  # names lower-cased
    query: list[tuple[str, str]] = field(default_factory=list)  # ordered, repeated keys kept
    body: bytes = b""
    content_type: str = ""  # media type only, lower-cased, no parameters

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")

    def form(self) -> list[tuple[str, str]]:
        """The body as application/x-www-form-urlencoded pairs, in order, repeats kept (read
        once: the signature check and the parser both need them)."""
        pairs: list[tuple[str, str]] | None = self.__dict__.get("_form")
        if pairs is None:
            try:
                text = self.body.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InvalidPayload("form body is not UTF-8", field="body") from exc
            pairs = parse_form(text)
            object.__setattr__(self, "_form", pairs)  # frozen: a cache, not a field
        return list(pairs)

    def json(self) -> Any:
        try:
            document = json.loads(self.body)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise InvalidPayload(f"body is not JSON: {exc}", field="body") from exc
        if _depth_exceeds(document, MAX_JSON_DEPTH):
            detail = f"body is nested deeper than {MAX_JSON_DEPTH} levels"
            raise InvalidPayload(detail, field="body")
        if _LONE_SURROGATE.search(self.body):
            # "\ud800" parses, but can never be written out again as UTF-8 JSON.
            try:
                json.dumps(document, ensure_ascii=False).encode("utf-8")
            except UnicodeEncodeError as exc:
                raise InvalidPayload("body has an unpaired UTF-16 surrogate", field="body") from exc
        return document


@dataclass(frozen=True)
class Context:
    """What an adapter needs from configuration."""

    secret: str
    region: str  # ISO region for national numbers at this endpoint
    replay_window_s: int = 300
    now: float | None = None  # unix time; None = the clock (tests pass a fixed value)
    options: Mapping[str, str] = field(default_factory=dict)  # provider-specific settings
