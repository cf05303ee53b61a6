"""Reading CSV records with byte offsets: the quirks of real exports, bounded, resumable; the
report of rejects, bounded too."""

from __future__ import annotations

import io
import json
from pathlib import Path

from switchboard_import.csvfile import BOM, rows
from switchboard_import.report import Rejected, Report


def read(data: bytes, **options: int) -> list[tuple[int, bytes, str]]:
    return [(r.line, r.text, r.problem) for r in rows(io.BytesIO(data), **options)]


def test_a_bom_crlf_and_a_quoted_line_break() -> None:
    data = BOM + b'"a","b, c"\r\n"multi\r\nline",2\r\n\r\nlast,3'
    assert read(data) == [
        (1, b'"a","b, c"\r\n', ""),
        (2, b'"multi\r\nline",2\r\n', ""),
        (5, b"last,3", ""),
    ]


def test_a_latin1_row_is_decoded_alone_and_handed_on_as_utf8() -> None:
    data = 'x,"Müller"\n'.encode() + b'y,"Ren\xe9e"\n'
    assert [text for _, text, _ in read(data)] == ['x,"Müller"\n'.encode(), 'y,"Renée"\n'.encode()]


def test_resuming_at_an_offset_gives_the_rest() -> None:
    data = b'1,"a"\n2,"b\nb"\n3,"c"\n'
    first = list(rows(io.BytesIO(data)))
    rest = list(rows(io.BytesIO(data), start=first[0].end, first_line=first[0].line + 1))
    assert rest == first[1:]


def test_a_quote_that_never_closes_costs_one_line_not_the_file() -> None:
    data = b'1,"open\n' + b"2,x\n" * 10 + b"3,y\n"
    found = read(data, max_record_bytes=32)
    assert found[0][0] == 1
    assert "first line is skipped" in found[0][2]
    assert (12, b"3,y\n", "") in found


def test_a_file_ending_inside_quotes_is_reported() -> None:
    assert read(b'1,"a"\n2,"b\n') == [
        (1, b'1,"a"\n', ""),
        (2, b"", "the file ends inside a quoted field"),
    ]


def test_the_report_stops_listing_after_its_limit(tmp_path: Path) -> None:
    with Report(tmp_path / "r.jsonl", max_entries=3) as report:
        for n in range(10):
            report.add(Rejected("f.csv", f"line {n}", "bad", "x" * 1000))
    lines = [json.loads(line) for line in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert [line["where"] for line in lines] == ["line 0", "line 1", "line 2", "line 3"]
    assert "more than 3 rejects" in lines[-1]["reason"]
    assert len(lines[0]["excerpt"]) == 500
    assert report.count == 10
