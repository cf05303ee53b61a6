"""HTML body → plain text with the stdlib parser, keeping what reply extraction needs.

Blockquotes come out as ``> `` lines and known signature containers (Gmail, Thunderbird, Apple
Mail, Outlook) behind a ``-- `` line, so the plain-text reply rules strip both. Scripts, styles
and hidden preheaders are dropped; block elements and ``<br>`` become line breaks.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

__all__ = ["html_to_text"]

_BLOCK = frozenset(
    {
        *("address", "article", "aside", "blockquote", "br", "center", "dd", "div", "dl", "dt"),
        *("fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5"),
        *("h6", "header", "hr", "li", "main", "nav", "ol", "p", "pre", "section", "table"),
        *("tbody", "td", "tfoot", "th", "thead", "tr", "ul"),
    }
)
_SKIP = frozenset({"script", "style", "head", "title", "template", "noscript", "svg", "object"})
_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param"}
    | {"source", "track", "wbr"}
)
_PARAGRAPHS = frozenset({"p", "table", "h1", "h2", "h3", "ul", "ol"})
_SIGNATURE_MARKERS = (
    "gmail_signature",
    "moz-signature",
    "applemailsignature",
    "signature",
)
_CHUNK = 32_768
_HIDDEN_RE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden|max-height\s*:\s*0", re.I)
_SPACE_RE = re.compile(r"[ \t\r\n\f\u00a0]+")
_INVISIBLE_RE = re.compile("[\u200b-\u200d\u2060\ufeff\u034f\u00ad]")


def html_to_text(html: str, *, max_lines: int = 2000) -> str:
    """The text of ``html``; conversion stops after about ``max_lines`` lines."""
    parser = _TextParser()
    try:
        for start in range(0, len(html), _CHUNK):
            parser.feed(html[start : start + _CHUNK])
            if parser.line_count >= max_lines:
                break
        else:
            parser.close()
    except (AssertionError, ValueError, IndexError):  # html.parser's rare internal errors
        pass
    return parser.text()


class _TextParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._lines: list[str] = []
        self._current: list[str] = []
        self._current_depth = 0
        self._quote_depth = 0
        self._pre_depth = 0
        # While > 0, text is dropped; the tag that started it and how deeply it is nested.
        self._skip_tag: str | None = None
        self._skip_nesting = 0

    # -- HTMLParser callbacks -------------------------------------------------------------
    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._skip_tag is not None:
            if tag == self._skip_tag:
                self._skip_nesting += 1
            return
        if tag == "br":
            self._break(force=True)
            return
        if tag in _SKIP or (tag not in _VOID and _is_hidden(attrs)):
            if tag not in _VOID:
                self._skip_tag, self._skip_nesting = tag, 1
            return
        if tag in _BLOCK:
            self._break()
        if tag == "blockquote":
            self._quote_depth += 1
        elif tag == "pre":
            self._pre_depth += 1
        elif tag == "li":
            self._current.append("- ")
        elif tag not in _VOID and _is_signature(attrs):
            self._break()
            self._lines.append("-- ")
        if tag == "hr":
            self._lines.append("")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._skip_tag is None and tag in _BLOCK:
            self._break(force=tag == "br")

    def handle_endtag(self, tag: str) -> None:
        if self._skip_tag is not None:
            if tag == self._skip_tag:
                self._skip_nesting -= 1
                if self._skip_nesting == 0:
                    self._skip_tag = None
            return
        if tag in _BLOCK:
            self._break()
        if tag == "blockquote" and self._quote_depth:
            self._quote_depth -= 1
        elif tag == "pre" and self._pre_depth:
            self._pre_depth -= 1
        elif tag in _PARAGRAPHS and self._lines and self._lines[-1].strip("> "):
            self._lines.append(self._prefix())

    def handle_data(self, data: str) -> None:
        if self._skip_tag is not None or not data:
            return
        data = _INVISIBLE_RE.sub("", data)
        if self._pre_depth:
            first, *rest = data.replace("\r\n", "\n").split("\n")
            self._add(first)
            for line in rest:
                self._break(force=True)
                self._add(line)
            return
        text = _SPACE_RE.sub(" ", data)
        if not self._current or not "".join(self._current).strip():
            text = text.lstrip()
        self._add(text)

    # -- assembling lines -----------------------------------------------------------------
    def _add(self, text: str) -> None:
        if not text:
            return
        if not self._current:
            self._current_depth = self._quote_depth
        self._current.append(text)

    def _prefix(self) -> str:
        return "> " * self._quote_depth

    def _break(self, *, force: bool = False) -> None:
        line = "".join(self._current).rstrip()
        self._current = []
        if line.strip():
            self._lines.append("> " * self._current_depth + line)
        elif force:
            self._lines.append("> " * self._quote_depth)

    @property
    def line_count(self) -> int:
        return len(self._lines)

    def text(self) -> str:
        self._break()
        out: list[str] = []
        for line in self._lines:
            if not line.strip("> ") and out and not out[-1].strip("> "):
                continue  # collapse runs of empty lines
            out.append(line.rstrip())
        return "\n".join(out).strip("\n")


def _is_hidden(attrs: list[tuple[str, str | None]]) -> bool:
    for name, value in attrs:
        if name == "hidden":
            return True
        if name == "style" and value and _HIDDEN_RE.search(value):
            return True
    return False


def _is_signature(attrs: list[tuple[str, str | None]]) -> bool:
    for name, value in attrs:
        if name in ("class", "id") and value:
            lowered = value.lower()
            if any(marker in lowered for marker in _SIGNATURE_MARKERS):
                return True
        if name == "data-smartmail" and value == "gmail_signature":
            return True
    return False
