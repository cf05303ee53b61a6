"""The new text of a message: quoted history and signature removed, a forward kept apart.

Where the history starts is the earliest of two sources: quotequail (Close's maintained
library, the first choice in our e-mail research) and our own markers for what it misses:

- attributions ("On … wrote:", "Am … schrieb:", "… rakstīja:", "… napisał(a):", Gmail's
  "<date> Name <addr>:" and the like in the languages listed in `_WROTE`), also when the
  sender's client wrapped them over up to three lines (a wrapped one starts with its date),
  set between dashes, or after the sender's words on the same line ("reply On … wrote:");
- header blocks of Outlook and Apple Mail ("From: / Sent: / To: / Subject:" and their
  translations, `*bold*` or not, or all on one line): three kinds of header within six lines,
  or a trimmed block (two headers, one with an address; a lone "From: a@b");
- separators ("-----Original Message-----", "---------- Forwarded message ---------",
  "Begin forwarded message:", an Outlook rule of underscores...) in those languages.

What comes after the marker is history. When that history is quoted with ``>``, the sender's
answers between and after the quotes are kept (bottom posting, interleaved answers); a line
glued to a long quoted line cut mid-sentence, or to a quoted line that opened a link, is the
quote's own wrapped continuation. Unquoted history (Outlook's style) is dropped whole. After a
forward separator the forwarded message is returned apart, for the page to show folded. The
signature is cut at the RFC 3676 ``-- `` line; a mobile client's footer ("Sent from my iPhone",
"Get Outlook for iOS"...) only when it is the last line and reads like one, not a sentence
("Sent from my desk, where ...").

Only the first ``MAX_LINES`` lines are searched and markers are short lines probed on their
first characters, so the cost stays linear and small for huge bodies.
"""

# ruff: noqa: RUF001  (Cyrillic, Turkish and Vietnamese words of quote headers are the point)
from __future__ import annotations

import re
from dataclasses import dataclass

import quotequail  # type: ignore[import-untyped]

__all__ = ["MAX_FORWARDED_CHARS", "MAX_LINES", "Reply", "extract_reply", "split_reply"]

MAX_LINES = 1000
MAX_FORWARDED_CHARS = 32_000
_PROBE_CHARS = 300  # markers are short lines; longer ones are matched on their start only
_WRAP_LINES = 3  # an attribution wrapped by the sender's client spans at most this many lines
_HEADER_WINDOW = 6
_WRAP_WIDTH = 60  # a quoted line this long may have been wrapped by the client
_SENTENCE_ENDS = (".", "!", "?", ":", ";", '"', ")")

# "wrote" in the languages we serve, as the last word(s) of an attribution line.
_WROTE = (
    r"wrote|writes|sent|schrieb|schreibt|a écrit|a ecrit|écrit|escribió|escribio|escreveu"
    r"|ha scritto"
    r"|scritto|schreef|geschreven|skrev|skriver|kirjoitti|napisał\(a\)|napisała|napisał|pisze"
    r"|napsal\(a\)|napsala|napsal|rakstīja|rakstija|rašė|rase|menulis|đã viết|írta|yazdı"
    r"|написал\(а\)|написала|написал|пишет|kirjutas|έγραψε"
)
# An attribution ends with "wrote:" (and names a date or an address), or with the quoted
# sender's address after a date (Gmail in many languages: "<date> Name <addr>:").
_WROTE_END_RE = re.compile(rf"\b(?:{_WROTE})\)?\s?:$", re.IGNORECASE)
_ADDRESS_END_RE = re.compile(
    r"(?:<[^<>\s]{1,200}@[^<>\s]{1,200}>|\([^()\s]{1,200}@[^()\s]{1,200}\))\)?\s?:$"
)
_DATE_OR_ADDRESS_RE = re.compile(r"\d|@")
_DIGIT_RE = re.compile(r"\d")
_ATTRIBUTION_CHARS = 400
# Text and an English attribution on one line: "reply On Wed, Apr 4, 2012, bob wrote:".
_SHARED_LINE_RE = re.compile(r"^(.*?\S)\s*(?:-{2,}\s*)?\bOn\s+\S.{0,300}\b(?:wrote|sent):$")
_DASHED_RE = re.compile(r"^-{2,}\s*(.{0,400}?\S)\s*-{2,}$")
_SENTENCE_END_RE = re.compile(r"[.!?]$")
_NUMBER_RE = re.compile(r"\b\d{1,4}\b")  # a day, a year, an hour: an attribution's date
# Quotequail 0.5.4's reply/forward patterns (quotequail/_patterns.py) need one of these words;
# keep in step when upgrading it. A line without any of them cannot start a quotequail match.
_LIBRARY_TRIGGER_RE = re.compile(
    r"wrote|schrieb|crit|escribi|написал|skrev|escreveu|schreef|geschreven|\d{4}/\d|_{32}"
    r"|forward|weitergeleitet|réexpédié|reenviado|doorgestuurd|vidarebefordrat|original"
    r"|ursprüngliche|oorspronkelijk|transféré|origineel|пересылаемое",
    re.IGNORECASE,
)
_ORIGINAL_SEPARATOR_RE = re.compile(
    r"^-{2,}\s?(?:original message|reply message|ursprüngliche nachricht|antwort nachricht"
    r"|message d'origine|mensaje original"
    r"|mensagem original|messaggio originale|oorspronkelijk bericht|originalmeddelande"
    r"|opprinnelig melding|oprindelig meddelelse|alkuperäinen viesti|wiadomość oryginalna"
    r"|oriģinālā ziņa|originali žinutė|původní zpráva|eredeti üzenet|исходное сообщение"
    r"|tin nhắn gốc|mesej asal)\s?-{2,}$"
    r"|^_{10,}$",
    re.IGNORECASE,
)
_FORWARD_SEPARATOR_RE = re.compile(
    r"^(?:-{2,}\s?(?:forwarded message|weitergeleitete nachricht|message transféré"
    r"|mensaje reenviado|mensagem encaminhada|messaggio inoltrato|doorgestuurd bericht"
    r"|vidarebefordrat meddelande|videresendt (?:melding|meddelelse)|välitetty viesti"
    r"|wiadomość przekazana|przekazana wiadomość|pārsūtīta ziņa|persiųstas laiškas"
    r"|přeposlaná zpráva|továbbított üzenet|пересылаемое сообщение"
    r"|начало пересылаемого сообщения|tin nhắn đã chuyển tiếp|mesej dimajukan)\s?-{2,}"
    r"|(?:begin forwarded message|anfang der weitergeleiteten nachricht"
    r"|début du message réexpédié|inicio del mensaje reenviado|início da mensagem reencaminhada"
    r"|inizio messaggio inoltrato|begin doorgestuurd bericht|vidarebefordrat brev"
    r"|videresendt melding|начало пересылаемого сообщения)\s?:)$",
    re.IGNORECASE,
)
_HEADER_KINDS: tuple[tuple[str, str], ...] = (
    (
        "from",
        r"from|von|de|da|van|od|från|fra|no|nuo|lähettäjä|feladó|kimden|từ|daripada|от"
        r"|от кого|odesílatel",
    ),
    (
        "date",
        r"sent|date|gesendet|datum|envoyé|date d'envoi|enviado|enviada em|enviado el|enviada"
        r"|fecha|inviato|data|verzonden|wysłano|data wysłania|skickat|sendt|nosūtīts|datums"
        r"|išsiųsta|data|lähetetty|päivämäärä|elküldve|dátum|gönderildi|tarih|đã gửi|ngày gửi"
        r"|dihantar|tarikh|отправлено|дата|odesláno",
    ),
    (
        "to",
        r"to|an|à|a|para|aan|do|till|til|kam|kenelle|vastaanottaja|címzett|kime|đến|kepada"
        r"|кому|komu",
    ),
    (
        "subject",
        r"subject|betreff|objet|asunto|assunto|oggetto|onderwerp|temat|ämne|emne|tēma|tema"
        r"|aihe|tárgy|konu|chủ đề|subjek|perkara|тема|předmět|věc",
    ),
)
_HEADER_RES = tuple(
    (kind, re.compile(rf"^\*?(?:{names})\*?\s?:\*?(?:\s|$)", re.IGNORECASE))
    for kind, names in _HEADER_KINDS
)
_INLINE_HEADER_RES = tuple(
    (kind, re.compile(rf"(?:^|\s)(?:{names})\s?:\s", re.IGNORECASE))
    for kind, names in _HEADER_KINDS
)
_RULE_RE = re.compile(r"^[-_=*~]{5,}$")
_SIGNATURE_SEPARATORS = frozenset({"--", "-- "})
_MOBILE_FOOTER_RE = re.compile(
    r"^(?:sent from my [^,;:.!?]{1,40}|sent from (?:mail|outlook|yahoo mail|gmail|aol"
    r"|proton ?mail)(?: for [^,;:.!?]{1,40}| on [^,;:.!?]{1,40})?|sent with [^,;:.!?]{1,30}"
    r"|get outlook for (?:ios|android)|von meinem [^,;:.!?]{1,40} gesendet"
    r"|gesendet von meinem [^,;:.!?]{1,40}|envoyé de mon [^,;:.!?]{1,40}"
    r"|enviado desde mi [^,;:.!?]{1,40}|enviado do meu [^,;:.!?]{1,40}"
    r"|inviato da(?:l mio)? [^,;:.!?]{1,40}|verzonden (?:vanaf|met) (?:mijn )?[^,;:.!?]{1,40}"
    r"|wysłane z (?:mojego )?[^,;:.!?]{1,40}|skickat från min [^,;:.!?]{1,40}"
    r"|sendt fra min [^,;:.!?]{1,40}|отправлено с [^,;:.!?]{1,40}"
    r"|отправлено из [^,;:.!?]{1,40})[.!]?\s*(?:<[^<>\s]{1,200}>)?$",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Reply:
    text: str
    """What the sender wrote in this message (may be empty for a bare forward)."""
    forwarded: str = ""
    """The message forwarded below the new text, when there is one."""


@dataclass(frozen=True, slots=True)
class _Marker:
    index: int  # first line of the history
    body: int  # first line after the marker itself (attribution lines, header block)
    forward: bool = False
    keep: str = ""  # the sender's words before an attribution on the same line


def extract_reply(body: str) -> str:
    """The text the sender wrote in this message (may be empty for a bare forward)."""
    return split_reply(body).text


def split_reply(body: str) -> Reply:
    """The sender's new text and, below a forward separator, the forwarded message."""
    lines = body.replace("\r\n", "\n").replace("\r", "\n").split("\n", MAX_LINES)[:MAX_LINES]
    kept, forwarded = _without_history(lines, depth=0)
    return Reply(_tidy(_without_signature(kept)), _tidy(forwarded)[:MAX_FORWARDED_CHARS])


def _without_history(lines: list[str], *, depth: int) -> tuple[list[str], list[str]]:
    marker = _history_start(lines)
    if marker is None:
        return _unquoted(lines), []
    top = _unquoted(lines[: marker.index])
    if marker.keep:
        top.append(marker.keep)
    rest = lines[marker.body :]
    if marker.forward:
        return top, rest
    if depth < 5 and _quoted_history(rest):
        answers, forwarded = _without_history(_answers(rest), depth=depth + 1)
        return [*top, "", *answers], forwarded
    return top, []


def _quoted_history(rest: list[str]) -> bool:
    """The history below the marker is quoted with '>' (not Outlook's unquoted copy)."""
    for line in rest:
        if line.strip():
            return _is_quoted(line)
    return False


def _answers(rest: list[str]) -> list[str]:
    """The unquoted lines between and after the quotes. A line glued to a long quoted line
    that stops mid-sentence is that line's continuation, which the client wrapped without
    quoting it again, not an answer."""
    kept: list[str] = []
    wrapping = False
    for line in rest:
        if _is_quoted(line):
            text = line.rstrip()
            wrapping = (
                len(text) >= _WRAP_WIDTH and not text.endswith(_SENTENCE_ENDS)
            ) or text.count("(") > text.count(")")  # a link the client wrapped
        elif not line.strip():
            wrapping = False
            kept.append(line)
        elif not wrapping and not _glued_link(line):
            kept.append(line)
    return kept


def _glued_link(line: str) -> bool:
    """A wrapped link's own line, glued to a quote: '(http://…) >'."""
    text = line.strip()
    return text.startswith("(http") or (text.startswith("(") and text.endswith(">"))


def _history_start(lines: list[str]) -> _Marker | None:
    probes = [line.replace("\u00a0", " ").strip()[:_PROBE_CHARS] for line in lines]
    own = _own_marker(probes)
    library = _library_marker(probes, limit=own.index if own is not None else None)
    if library is not None and (own is None or library < own.index):
        return _Marker(library, library + 1)
    return own


def _own_marker(probes: list[str]) -> _Marker | None:
    for index, probe in enumerate(probes):
        if not probe or _is_quoted(probe):
            continue
        if _FORWARD_SEPARATOR_RE.match(probe):
            return _Marker(index, index + 1, forward=True)
        if _ORIGINAL_SEPARATOR_RE.match(probe):
            return _Marker(index, index + 1)
        wrapped = _attribution_lines(probes, index)
        if wrapped:
            shared = _SHARED_LINE_RE.match(probe) if wrapped == 1 else None
            keep = shared.group(1) if shared else ""
            return _Marker(index, index + wrapped, keep=keep)
        if _header_block(probes, index):
            return _Marker(index, index + 1)
    return None


def _attribution_lines(probes: list[str], index: int) -> int:
    """How many lines (1 to 3) the attribution starting at `index` spans; 0 if none does.

    A wrapped attribution starts with its date: a first line without a digit, or one whose
    next line is an attribution of its own, is the sender's text, not the attribution's start.
    """
    joined = _DASHED_RE.sub(r"\1:", probes[index])  # "------On … wrote-----"
    if joined.endswith(":") and _is_attribution(joined):
        return 1
    if not _NUMBER_RE.search(probes[index]) or _SENTENCE_END_RE.search(probes[index]):
        return 0
    for count in range(2, _WRAP_LINES + 1):
        following = probes[index + count - 1] if index + count - 1 < len(probes) else ""
        if not following or _is_quoted(following):
            return 0
        if (
            count == 2
            and following.endswith(":")
            and _NUMBER_RE.search(following)
            and _is_attribution(following)
        ):
            return 0  # the attribution is the next line alone
        joined = re.sub(r"<\s+", "<", f"{joined} {following}")
        if joined.endswith(":") and _is_attribution(joined):
            return count
    return 0


def _is_attribution(joined: str) -> bool:
    if len(joined) > _ATTRIBUTION_CHARS * 2:
        return False
    if _WROTE_END_RE.search(joined[-40:]) and _DATE_OR_ADDRESS_RE.search(joined):
        return True
    tail = joined[-_ATTRIBUTION_CHARS:]
    address = _ADDRESS_END_RE.search(tail)
    if address is None:
        return False
    before = joined[: len(joined) - len(tail) + address.start()]
    return _DIGIT_RE.search(before) is not None


def _header_block(probes: list[str], index: int) -> bool:
    """Outlook's or Apple Mail's header block of the quoted message starts at `index`."""
    first = {kind for kind, regex in _HEADER_RES if regex.match(probes[index])}
    if not first & {"from", "date"}:
        return False
    inline = {kind for kind, regex in _INLINE_HEADER_RES if regex.search(probes[index])}
    if len(inline) >= 3:
        return True  # "Date: … From: … To: … Subject: …" on one line
    kinds = set(first)
    for probe in probes[index + 1 : index + _HEADER_WINDOW]:
        kinds |= {kind for kind, regex in _HEADER_RES if regex.match(probe)}
    if len(kinds) >= 3 and "from" in kinds:
        return True
    # Two headers on consecutive lines, one naming an address ("Date: …" / "To: a@b"), or a
    # lone "From: a@b" after a blank line: a quoted message's trimmed header block.
    following = probes[index + 1] if index + 1 < len(probes) else ""
    second = {kind for kind, regex in _HEADER_RES if regex.match(following)}
    if second - first and "@" in probes[index] + following:
        return True
    previous_blank = index == 0 or not probes[index - 1]
    return previous_blank and "from" in first and "@" in probes[index] and not following


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
    while end and (not lines[end - 1].strip() or _RULE_RE.match(lines[end - 1].strip())):
        end -= 1  # blank lines, and a rule left above the history that was cut
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
