"""`Authentication-Results` (RFC 8601): what a relay verified about a message.

The header is hostile input: anyone can write one into a message, so only the header of a relay
we trust counts, and only the topmost such header (a relay prepends its header, so a copy below
it was already in the message when it arrived; RFC 8601 §5). Parsing is one linear pass over
at most `MAX_HEADER_CHARS` characters with bounded counts of results and properties; a header
over the limit is not parsed at all (cutting it could turn `header.from=acme.example.evil`
into `header.from=acme.example`). Comments (nested), quoted strings, `none`, a version after the
authserv-id and whitespace around `=` `.` `/` are all handled as the grammar allows.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = [
    "MAX_HEADER_CHARS",
    "AuthResult",
    "AuthResults",
    "first_trusted",
    "parse_authentication_results",
]

MAX_HEADER_CHARS = 16_384
MAX_HEADERS = 50  # Authentication-Results fields looked at, from the top
MAX_RESULTS = 64
MAX_PROPERTIES = 32
_JOINERS = ("=", ".", "/")


@dataclass(frozen=True)
class AuthResult:
    """One `method=result` with its properties (`header.d`, `header.from`, ...), lower-cased."""

    method: str
    result: str
    properties: dict[str, str] = field(default_factory=dict)

    def prop(self, name: str) -> str | None:
        return self.properties.get(name)


@dataclass(frozen=True)
class AuthResults:
    authserv_id: str
    results: tuple[AuthResult, ...] = ()


def parse_authentication_results(value: str) -> AuthResults | None:
    """The parsed header, or None when it is unusable (empty, too long, no authserv-id)."""
    if len(value) > MAX_HEADER_CHARS:
        return None
    statements = _statements(value)
    if not statements or not statements[0]:
        return None
    authserv_id = statements[0][0].lower()
    results: list[AuthResult] = []
    for words in statements[1:]:
        if len(results) >= MAX_RESULTS:
            break
        result = _result(words)
        if result is not None:
            results.append(result)
    return AuthResults(authserv_id, tuple(results))


def first_trusted(values: Iterable[str], trusted_ids: frozenset[str]) -> AuthResults | None:
    """The topmost header whose authserv-id is trusted; the ones below it never count.

    Fails closed: a header above it that cannot be read (too long, no authserv-id) might be the
    trusted one, so then nothing counts rather than a header further down.
    """
    if not trusted_ids:
        return None
    for count, value in enumerate(values):
        if count >= MAX_HEADERS:
            return None
        parsed = parse_authentication_results(value)
        if parsed is None:
            return None
        if parsed.authserv_id in trusted_ids:
            return parsed
    return None


def _result(words: list[str]) -> AuthResult | None:
    """`method[/version]=result [reason=...] [ptype.property=value ...]`; None for `none`."""
    if not words:
        return None
    method, eq, result = words[0].partition("=")
    if not eq or not result:
        return None
    method = method.split("/", 1)[0].strip().lower()
    properties: dict[str, str] = {}
    for word in words[1:]:
        name, eq, prop_value = word.partition("=")
        name = name.lower()
        if not eq or "." not in name or name in properties:
            continue  # `reason=...`, a stray word, or a repeat (the first one counts)
        properties[name] = prop_value.strip().lower()
        if len(properties) >= MAX_PROPERTIES:
            break
    return AuthResult(method, result.strip().lower(), properties)


def _statements(value: str) -> list[list[str]]:
    """The header split at `;` into statements of words, comments dropped, quotes undone.

    Words separated only by whitespace next to a bare `=`, `.` or `/` are joined again
    (`dkim = pass` is `dkim=pass`). One pass over the characters; comments nest.
    """
    statements: list[list[str]] = []
    pieces: list[tuple[str, str]] = []  # the current statement: (kind, text), kind atom/quoted/ws
    current: list[str] = []
    depth = 0
    i, n = 0, len(value)

    def end_atom() -> None:
        if current:
            pieces.append(("atom", "".join(current)))
            current.clear()

    def end_statement() -> None:
        end_atom()
        statements.append(_words(pieces))
        pieces.clear()

    while i < n:
        char = value[i]
        if depth:
            if char == "\\":
                i += 1
            elif char == "(":
                depth += 1
            elif char == ")":
                depth -= 1
        elif char == "(":
            end_atom()
            pieces.append(("ws", " "))  # a comment separates like whitespace
            depth = 1
        elif char == '"':
            end_atom()
            quoted: list[str] = []
            i += 1
            while i < n and value[i] != '"':
                if value[i] == "\\" and i + 1 < n:
                    i += 1
                quoted.append(value[i])
                i += 1
            pieces.append(("quoted", "".join(quoted)))
        elif char == ";":
            end_statement()
        elif char in " \t\r\n":
            end_atom()
            pieces.append(("ws", " "))
        else:
            current.append(char)
        i += 1
    end_statement()
    return statements


def _words(pieces: list[tuple[str, str]]) -> list[str]:
    """Pieces → words: whitespace separates, except next to a bare `=`, `.` or `/`."""
    words: list[str] = []
    word: list[str] = []
    last_kind = ""
    spaced = False
    for kind, text in pieces:
        if kind == "ws":
            spaced = True
            continue
        if word and spaced:
            joins = (kind == "atom" and text.startswith(_JOINERS)) or (
                last_kind == "atom" and word[-1].endswith(_JOINERS)
            )
            if not joins:
                words.append("".join(word))
                word = []
        spaced = False
        word.append(text)
        last_kind = kind
    if word:
        words.append("".join(word))
    return words
