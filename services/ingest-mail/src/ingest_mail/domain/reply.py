"""The new text of a message: quoted history and signature removed.

Quote markers come from two sources and the earliest wins: quotequail (Close's maintained
library, the first choice in our e-mail research) and our own rules for what it misses — Gmail's
Russian and other "<date>, Name <addr>:" attributions, Outlook header blocks ("From: … Sent: …" in
EN/DE/FR/ES/RU), "-----Original Message-----" variants and case differences. Lines quoted with
``>`` are dropped wherever they are, so interleaved and bottom-posted answers survive. The
signature is cut at the RFC 3676 ``-- `` separator, and mobile-client footers are removed.

Only the first ``MAX_LINES`` lines are searched: the new text is at the top, and this keeps the
cost linear and small for huge bodies.
"""

from __future__ import annotations

import re

import quotequail  # type: ignore[import-untyped]

__all__ = ["MAX_LINES", "extract_reply"]

MAX_LINES = 1000
_PROBE_CHARS = 300  # markers are short lines; longer ones are matched on their start only

_ATTRIBUTION_RES = [
    re.compile(pattern, re.IGNORECASE)
    for pattern in (
        r"^on\b.{0,300}\bwrote:$",
        r"^am\b.{0,300}\bschrieb\b.{0,200}:$",
        r"^le\b.{0,300}\ba [ée]crit ?:$",
        r"^el\b.{0,300}\bescribi[óo] ?:$",
        r"^.{0,300}\b(?:написал|написала|написал\(а\)|пишет) ?:$",  # noqa: RUF001
        r"^.{0,200}\d.{0,200}<[^<>\s]{1,200}@[^<>\s]{1,200}>\)? ?:$",
    )
]
# Words of quotequail 0.5.4's reply/forward patterns (quotequail/_patterns.py); keep in step
# when upgrading it. A line without any of them cannot start a quotequail match.
_LIBRARY_TRIGGER_RE = re.compile(
    r"wrote|schrieb|crit|escribi|написал|skrev|escreveu|schreef|geschreven|\d{4}/\d|_{32}"
    r"|forward|weitergeleitet|réexpédié|reenviado|doorgestuurd|vidarebefordrat|original"
    r"|ursprüngliche|oorspronkelijk|transféré|origineel|пересылаемое",
    re.IGNORECASE,
)
_SEPARATOR_RE = re.compile(
    r"^(?:-{2,} ?(?:original message|ursprüngliche nachricht|message d'origine|mensaje original"
    r"|исходное сообщение|forwarded message|weitergeleitete nachricht|message transféré"
    r"|mensaje reenviado|пересылаемое сообщение|начало пересылаемого сообщения) ?-{2,}"
    r"|_{30,})$",
    re.IGNORECASE,
)
_HEADER_FROM_RE = re.compile(r"^\*?(?:from|von|de|от|от кого|da|van) ?\*? ?: ?\*?.", re.I)
_HEADER_NEXT_RE = re.compile(
    r"^\*?(?:sent|date|subject|gesendet|datum|betreff|envoyé|date d'envoi|objet|enviado"
    r"|enviado el|fecha|asunto|inviato|data|oggetto|отправлено|дата|тема) ?\*? ?:",
    re.I,
)
_SIGNATURE_SEPARATORS = frozenset({"--", "-- "})
_MOBILE_FOOTER_RE = re.compile(
    r"^(?:sent from my .{1,60}|sent from (?:mail|outlook|yahoo mail) for .{1,60}"
    r"|get outlook for .{1,40}|von meinem .{1,60} gesendet|gesendet von meinem .{1,60}"
    r"|envoyé de mon .{1,60}|enviado desde mi .{1,60}|отправлено с .{1,60}"  # noqa: RUF001
    r"|отправлено из .{1,60})$",
    re.IGNORECASE,
)


def extract_reply(body: str) -> str:
    """The text the sender wrote in this message (may be empty for a bare forward)."""
    lines = body.replace("\r\n", "\n").replace("\r", "\n").split("\n", MAX_LINES)[:MAX_LINES]
    kept = _without_history(lines, allow_bottom_post=True)
    kept = _without_signature(kept)
    return _tidy(kept)


def _without_history(lines: list[str], *, allow_bottom_post: bool) -> list[str]:
    cut = _history_start(lines)
    if cut is None:
        return _unquoted(lines)
    top = lines[:cut]
    if allow_bottom_post and not any(line.strip() for line in top):
        rest = lines[cut + 1 :]
        if any(_is_quoted(line) for line in rest):
            # Bottom-posted or interleaved answer: the new text sits between the quotes.
            return _without_history(_unquoted(rest), allow_bottom_post=False)
    return _unquoted(top)


def _history_start(lines: list[str]) -> int | None:
    probes = [line.replace("\u00a0", " ").strip()[:_PROBE_CHARS] for line in lines]
    own = _own_marker(probes)
    library = _library_marker(probes, limit=own)
    candidates = [index for index in (own, library) if index is not None]
    return min(candidates) if candidates else None


def _own_marker(probes: list[str]) -> int | None:
    for index, probe in enumerate(probes):
        if not probe or _is_quoted(probe):
            continue
        if _SEPARATOR_RE.match(probe) or _is_attribution(probe):
            return index
        if index + 1 < len(probes) and _is_attribution(f"{probe} {probes[index + 1]}"):
            return index  # an attribution the sender's client wrapped over two lines
        if _HEADER_FROM_RE.match(probe) and any(
            _HEADER_NEXT_RE.match(following) for following in probes[index + 1 : index + 4]
        ):
            return index
    return None


def _is_attribution(probe: str) -> bool:
    return probe.endswith(":") and any(regex.match(probe) for regex in _ATTRIBUTION_RES)


def _library_marker(probes: list[str], *, limit: int | None) -> int | None:
    """quotequail's first marker line, asked only about lines that can hold one.

    quotequail tries ~30 patterns on every line (and on every line joined with the next), which
    dominated the parse. A pattern can only match where one of its words is, in the line itself
    or in the next one, so it is run on the 3-line window around each such line, in order.
    """
    searched = probes if limit is None else probes[:limit]
    checked_until = -1
    for index, probe in enumerate(searched):
        if not _LIBRARY_TRIGGER_RE.search(probe):
            continue
        start = max(index - 1, checked_until + 1)
        window = searched[start : index + 2]
        checked_until = index
        found = _quotequail_position(window)
        if found is not None and start + found < len(searched):
            return start + found
    return None


def _quotequail_position(lines: list[str]) -> int | None:
    try:
        parts = quotequail.quote("\n".join(lines), limit=len(lines) + 1, quote_intro_line=True)
    except Exception:  # a third-party heuristic must never fail the parse
        return None
    if len(parts) < 2:
        return None
    rest: str = parts[1][1]
    return len(lines) - (rest.count("\n") + 1)


def _is_quoted(line: str) -> bool:
    return line.lstrip().startswith(">")


def _unquoted(lines: list[str]) -> list[str]:
    return [line for line in lines if not _is_quoted(line)]


def _without_signature(lines: list[str]) -> list[str]:
    for index, line in enumerate(lines):
        if line.rstrip() in _SIGNATURE_SEPARATORS:
            lines = lines[:index]
            break
    end = len(lines)
    while end and not lines[end - 1].strip():
        end -= 1
    if end and _MOBILE_FOOTER_RE.match(lines[end - 1].strip()):
        end -= 1
    return lines[:end]


def _tidy(lines: list[str]) -> str:
    out: list[str] = []
    for line in lines:
        line = line.rstrip()
        if not line and (not out or not out[-1]):
            continue
        out.append(line)
    return "\n".join(out).strip()
