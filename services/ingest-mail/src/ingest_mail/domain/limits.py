"""Caps on a message's structure, checked by a linear scan before the stdlib parser sees it.

The stdlib parser builds one object per MIME part and checks every line against every open
boundary: a 23 MB message of 1.5 million empty parts takes it 40 s and 700 MB. This scan finds
the same structure the parser would (the `boundary=` parameters it honours, the delimiter lines
of those boundaries, `message/*` encapsulation) with a few regular-expression passes and at most
`max_parts` steps of Python, and refuses the message as soon as a cap is broken.

The scan errs on the safe side: a `boundary=` that only appears in a body, or a delimiter line
of a boundary that is not open there, still counts.
"""

from __future__ import annotations

import contextlib
import itertools
import re
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass

__all__ = [
    "LIMIT_REASONS",
    "LimitExceeded",
    "MimeLimits",
    "applying",
    "check_limits",
    "current_limits",
]

LIMIT_REASONS = frozenset(
    {"too_many_parts", "too_deep", "header_too_large", "header_line_too_long", "decoded_too_large"}
)

# The parser honours at most this many `boundary=` parameters (parse.py renames the rest).
MAX_BOUNDARIES = 64
# Patterns run over the lower-cased message (boundaries are compared lower-cased too).
# No `\b` in front: it makes the search ten times slower; `_declarations` checks the byte before.
_BOUNDARY_VALUE_RE = re.compile(rb"boundary\s*=\s*(?:\"([^\"\r\n]{0,200})\"|([^\s;\"]{1,200}))")
_WORD_BYTE_RE = re.compile(rb"\w")
_HEADER_END_RE = re.compile(rb"\r?\n\r?\n")
_FIELD_START_RE = re.compile(rb"^[^ \t\r\n]", re.MULTILINE)
_MESSAGE_TYPE = rb"content-type[ \t]*:[ \t\r\n]*message/(?:rfc822|global)\b"
_MESSAGE_TYPE_RE = re.compile(rb"\n" + _MESSAGE_TYPE)
_FIRST_MESSAGE_TYPE_RE = re.compile(_MESSAGE_TYPE)


class LimitExceeded(Exception):
    """The message breaks a cap; `reason` names it (a bounded metric label)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class MimeLimits:
    """What one message may hold; `max_decoded_bytes` is enforced while parts are decoded."""

    max_parts: int = 1_000
    max_depth: int = 20
    max_header_bytes: int = 1_000_000
    max_header_line_bytes: int = 100_000
    max_decoded_bytes: int = 50_000_000


_CURRENT: ContextVar[MimeLimits | None] = ContextVar("mime_limits", default=None)


@contextlib.contextmanager
def applying(limits: MimeLimits) -> Iterator[None]:
    """The limits the MIME walk enforces while the block runs (it decodes parts lazily)."""
    token = _CURRENT.set(limits)
    try:
        yield
    finally:
        _CURRENT.reset(token)


def current_limits() -> MimeLimits | None:
    return _CURRENT.get()


def check_limits(raw: bytes, limits: MimeLimits) -> None:
    """Raise `LimitExceeded` if the message breaks a cap; linear in its size."""
    _check_header(raw, limits)
    # One lower-cased copy; every pattern below starts with a literal newline, so the
    # regular-expression engine searches fast. (The first line is a header line: only a
    # `Content-Type: message/...` there matters, and `_check_structure` looks at it.)
    _check_structure(raw.lower(), limits)


def _check_header(raw: bytes, limits: MimeLimits) -> None:
    end = _HEADER_END_RE.search(raw, 0, limits.max_header_bytes + 4)
    header = raw[: end.start() if end else limits.max_header_bytes]
    starts = [m.start() for m in _FIELD_START_RE.finditer(header)]
    if not starts or starts[0] != 0:  # leading continuation lines belong to no field
        starts.insert(0, 0)
    starts.append(len(header))
    longest = max(b - a for a, b in itertools.pairwise(starts))
    if longest > limits.max_header_line_bytes:
        raise LimitExceeded(
            "header_line_too_long",
            f"a header field of {longest}+ bytes, limit {limits.max_header_line_bytes}",
        )
    if end is None and len(raw) > limits.max_header_bytes:
        raise LimitExceeded(
            "header_too_large", f"header section over {limits.max_header_bytes} bytes"
        )


def _check_structure(lowered: bytes, limits: MimeLimits) -> None:
    """Count parts and follow nesting the way the feedparser does.

    Events in file order: a `boundary=` declaration opens a multipart level; a delimiter line of
    a boundary on the stack closes every level above it (a close delimiter closes its own too)
    and starts a part; a `Content-Type: message/...` opens an encapsulated level, closed by the
    next delimiter of an enclosing boundary. Each kind of event is found by its own search and
    the number of events is bounded, so a hostile message costs a few passes and no more than
    about `max_parts` steps of Python.
    """
    events: list[tuple[int, str, bytes | None]] = []
    declared: list[bytes] = []
    for match in _declarations(lowered):
        if len(events) >= MAX_BOUNDARIES:  # the parser ignores the rest (parse.py renames them)
            break
        value = _value(match)
        events.append((match.start(), "decl", value))
        if value is not None and value not in declared:
            declared.append(value)
    if _FIRST_MESSAGE_TYPE_RE.match(lowered):
        events.append((0, "msg", None))
    for count, match in enumerate(_MESSAGE_TYPE_RE.finditer(lowered)):
        if count >= limits.max_parts:
            raise LimitExceeded("too_many_parts", f"over {limits.max_parts} MIME parts")
        events.append((match.start(), "msg", None))
    if declared:
        escaped = b"|".join(re.escape(b) for b in sorted(declared, key=len, reverse=True))
        delimiter = re.compile(rb"\n--(" + escaped + rb")(--)?[ \t]*\r?(?=\n|$)")
        most = limits.max_parts + MAX_BOUNDARIES
        for count, match in enumerate(delimiter.finditer(lowered)):
            if count >= most:
                raise LimitExceeded("too_many_parts", f"over {limits.max_parts} MIME parts")
            kind = "close" if match.group(2) else "open"
            events.append((match.start(), kind, match.group(1)))
    events.sort(key=lambda event: event[0])
    _follow(events, limits)


def _declarations(lowered: bytes) -> Iterator[re.Match[bytes]]:
    """`boundary=` parameters where the parser sees them: at a word boundary."""
    for match in _BOUNDARY_VALUE_RE.finditer(lowered):
        start = match.start()
        if start == 0 or not _WORD_BYTE_RE.match(lowered, start - 1):
            yield match


def _follow(events: list[tuple[int, str, bytes | None]], limits: MimeLimits) -> None:
    stack: list[bytes | None] = []  # a boundary, or None for an encapsulated message
    parts = 1
    for _, kind, value in events:
        if kind == "decl":
            stack.append(value)
        elif kind == "msg":
            stack.append(None)
            parts += 1
        elif value in stack:
            # the innermost open level of this boundary, and everything nested inside it
            index = len(stack) - 1 - stack[::-1].index(value)
            if kind == "close":
                del stack[index:]
            else:
                del stack[index + 1 :]
                parts += 1
        if parts > limits.max_parts:
            raise LimitExceeded("too_many_parts", f"over {limits.max_parts} MIME parts")
        if len(stack) > limits.max_depth:
            raise LimitExceeded("too_deep", f"MIME nesting over {limits.max_depth} levels")


def _value(match: re.Match[bytes]) -> bytes | None:
    value = match.group(1) if match.group(1) is not None else match.group(2)
    return value.rstrip(b" \t") or None
