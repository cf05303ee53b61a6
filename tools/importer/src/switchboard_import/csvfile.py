"""A CSV file as complete records with their byte offsets, so an import can resume mid-file.

A record ends at a line end outside quotes (an even number of `"` so far), which is how CSV
writers quote commas and line breaks inside a field. Each record is decoded on its own: UTF-8
(a BOM at the start of the file is dropped), else Latin-1, the way Asterisk writes a caller
name it got as raw bytes; one such row does not garble its neighbours. The record handed on is
UTF-8 again, with its line end as written (CRLF or LF).

Hostile input is bounded: a record longer than `max_record_bytes` (an unbalanced quote would
otherwise swallow the rest of the file) is given up as its first line alone, reported, and
reading resumes at the next line.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

BOM = b"\xef\xbb\xbf"
MAX_RECORD_BYTES = 64 * 1024
MAX_LINE_BYTES = MAX_RECORD_BYTES


@dataclass(frozen=True)
class Row:
    line: int  # the first physical line of the record, 1-based
    end: int  # byte offset just after it: where a resumed import starts
    text: bytes  # UTF-8, line end included; empty when `problem` is set
    problem: str = ""
    start: int = 0  # byte offset of its first byte


def decode_row(raw: bytes) -> bytes:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1").encode("utf-8")
    return raw


def is_blank(raw: bytes) -> bool:
    return not raw.strip()


def rows(
    stream: BinaryIO,
    *,
    start: int = 0,
    first_line: int = 1,
    max_record_bytes: int = MAX_RECORD_BYTES,
) -> Iterator[Row]:
    """The records from byte `start` on (0, or an offset this function reported as `end`)."""
    stream.seek(start)
    offset = start
    line = first_line
    if start == 0:
        head = stream.read(len(BOM))
        if head == BOM:
            offset = len(BOM)
        stream.seek(offset)
    while True:
        begin_line = line
        parts: list[bytes] = []
        size = 0
        quotes = 0
        while True:
            piece = stream.readline(max_record_bytes + 1)
            if not piece:
                break
            parts.append(piece)
            size += len(piece)
            line += 1 if piece.endswith(b"\n") else 0
            quotes += piece.count(b'"')
            if size > max_record_bytes:
                break
            if quotes % 2 == 0 and piece.endswith(b"\n"):
                break
        if not parts:
            return
        raw = b"".join(parts)
        if size > max_record_bytes:
            first = raw.split(b"\n", 1)[0]
            end = offset + len(first) + 1
            yield Row(
                begin_line,
                end,
                b"",
                f"a record over {max_record_bytes} bytes (a quote "
                "that never closes?); its first line is skipped",
                offset,
            )
            offset = end
            line = begin_line + 1
            stream.seek(offset)
            continue
        begin = offset
        offset += len(raw)
        if quotes % 2:
            yield Row(begin_line, offset, b"", "the file ends inside a quoted field", begin)
            return
        if is_blank(raw):
            continue
        yield Row(begin_line, offset, decode_row(raw), start=begin)
