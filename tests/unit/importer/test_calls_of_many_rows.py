"""Calls written as several rows -- Asterisk CDR legs, CEL events -- are imported as one call
each, built as the live CEL path builds it, whatever the order of the rows; an interrupted
import resumes without sending a call twice or losing one."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from ingest_calls.domain import asterisk, cel
from ingest_calls.domain.cel_assembly import calls_from
from support.cel_traces import SCENARIOS
from switchboard_import.callformats import FORMATS, Job
from switchboard_import.calls import Chunk, chunks, parse_chunk, read_header
from switchboard_import.csvfile import Row, rows
from switchboard_import.grouping import Grouper
from switchboard_shared.phone import PhonePolicy

DATA = Path(__file__).parent / "data"
DE = PhonePolicy(default_region="DE")


def _chunks(
    path: Path, fmt: str, job: Job, start: dict[str, Any] | None = None, *, limits: Any = None
) -> list[Chunk]:
    header, offset, line = read_header(path, FORMATS[fmt])
    sent: list[str] = []
    if start:
        offset, line, sent = start["offset"], start["line"], start.get("sent", [])
    with path.open("rb") as stream:
        source = rows(stream, start=offset, first_line=line)
        return list(chunks(FORMATS[fmt], job, header, source, sent, **(limits or {})))


def imported(path: Path, fmt: str = "asterisk", **options: str) -> list[dict[str, Any]]:
    job = Job(fmt, "DE", DE, options)
    header = read_header(path, FORMATS[fmt])[0]
    out = []
    for chunk in _chunks(path, fmt, job):
        parsed = parse_chunk(job, header, chunk.units, chunk.position, chunk.done)
        assert parsed.rejected == []
        out += [json.loads(r.value or b"") for r in parsed.records]
    return out


def parties(call: dict[str, Any]) -> list[tuple[str, str]]:
    return [(p["extension"] or p["number"], p["role"]) for p in call["participants"]]


def test_multi_leg_cdrs_are_one_call_each_with_who_was_rung_and_who_answered() -> None:
    calls = {c["call_id"]: c for c in imported(DATA / "Master-multileg.csv")}
    assert len(calls) == 5  # 12 rows

    # A ring group answered by the second phone; its answered leg was written first, and
    # another call's row came between the two legs.
    ring = calls["asterisk:1773046800.101"]
    assert (ring["status"], ring["agent"], ring["requested"]) == ("answered", "102", "600")
    assert parties(ring) == [("+4930111111", "caller"), ("102", "answered"), ("101", "rung")]
    assert ring["participants"][2]["ring_s"] == 6
    assert ring["talk_s"] == 120
    assert ring["historical"] is True

    missed = calls["asterisk:1773046860.201"]
    assert missed["status"] == "no_answer"
    assert parties(missed) == [("+4930444444", "caller"), ("101", "rung"), ("102", "rung")]

    # A queue ringing its members through Local channels (a leg for each half).
    queue = calls["asterisk:1773050400.111"]
    assert (queue["status"], queue["agent"], queue["requested"]) == ("answered", "102", "400")
    assert parties(queue) == [("+4930222222", "caller"), ("102", "answered"), ("101", "rung")]

    # A blind transfer: 101 answered, put the caller through to 102.
    transfer = calls["asterisk:1773054000.121"]
    assert parties(transfer) == [
        ("+4930333333", "caller"),
        ("101", "answered"),
        ("102", "transferred_to"),
    ]
    assert [(t["kind"], t["by"], t["to"]) for t in transfer["transfers"]] == [
        ("blind", "101", "102")
    ]
    assert transfer["agent"] == "102"  # who talked longest

    voicemail = calls["asterisk:1773057600.131"]
    assert voicemail["status"] == "voicemail"
    assert parties(voicemail) == [("+4930555555", "caller"), ("101", "rung")]


def test_the_order_of_the_legs_in_the_file_does_not_change_the_call(tmp_path: Path) -> None:
    lines = (DATA / "Master-multileg.csv").read_bytes().splitlines(keepends=True)
    reversed_file = tmp_path / "Master.csv"
    reversed_file.write_bytes(b"".join(reversed(lines)))
    forward = sorted(imported(DATA / "Master-multileg.csv"), key=lambda c: c["call_id"])
    backward = sorted(imported(reversed_file), key=lambda c: c["call_id"])
    strip = ("raw",)  # the legs are listed in start order either way, but raw keeps them as read
    assert [{k: v for k, v in c.items() if k not in strip} for c in backward] == [
        {k: v for k, v in c.items() if k not in strip} for c in forward
    ]


def test_a_row_written_twice_is_counted_once(tmp_path: Path) -> None:
    lines = (DATA / "Master-multileg.csv").read_bytes().splitlines(keepends=True)
    path = tmp_path / "Master.csv"
    path.write_bytes(b"".join([*lines, lines[0]]))
    job = Job("asterisk", "DE", DE, {})
    duplicates = 0
    calls = 0
    for chunk in _chunks(path, "asterisk", job):
        parsed = parse_chunk(job, b"", chunk.units, chunk.position, chunk.done)
        duplicates += parsed.duplicate_rows
        calls += len(parsed.records)
    assert (calls, duplicates) == (5, 1)


def _row(n: int, text: bytes = b"x\n") -> Row:
    return Row(line=n, end=(n + 1) * 10, text=text, start=n * 10)


def test_a_leg_further_than_the_window_from_its_call_is_late_not_a_second_call() -> None:
    grouper = Grouper(window=3)
    ready = grouper.add(_row(0), ["id:a"]).ready
    for n in range(1, 4):
        ready += grouper.add(_row(n), [f"id:other{n}"]).ready
    assert [[r.line for r in unit] for unit in ready] == [[0]]
    assert grouper.add(_row(4), ["id:a"]).late


def test_rows_joined_through_a_second_key_become_one_call() -> None:
    grouper = Grouper(window=10)
    grouper.add(_row(0), ["id:a", "name:PJSIP/101-00000001"])
    grouper.add(_row(1), ["id:b", "name:PJSIP/102-00000002"])
    grouper.add(_row(2), ["id:c", "name:PJSIP/101-00000001", "name:PJSIP/102-00000002"])
    assert [[r.line for r in unit] for unit in grouper.flush()] == [[0, 1, 2]]


def test_a_call_is_handed_on_once_every_linkedid_has_ended_and_a_few_rows_passed() -> None:
    grouper = Grouper(window=1000, settle=2)
    grouper.add(_row(0), ["id:a"], linked=["id:a"])
    grouper.add(_row(1), ["id:a"], linked=["id:a"], ends="id:a")
    assert grouper.add(_row(2), ["id:z"], linked=["id:z"]).ready == []
    assert [[r.line for r in u] for u in grouper.add(_row(3), ["id:y"]).ready] == [[0, 1]]


def test_resuming_from_any_checkpoint_sends_every_call_exactly_once(tmp_path: Path) -> None:
    """Calls spread over many chunks, legs far apart: stop after any chunk, resume from its
    checkpoint, and the calls sent before and after are the calls of one whole run."""
    path = tmp_path / "Master.csv"
    lines = []
    for n in range(600):
        uid = f"1773000000.{n}"
        for phone, answered in (("101", False), ("102", True)):
            state = "ANSWERED" if answered else "NO ANSWER"
            answer = '"2026-03-09 09:00:05"' if answered else ""
            lines.append(
                f'"","+4930{n:06d}","600","from-trunk","C <+4930{n:06d}>",'
                f'"PJSIP/trunk-{n:08x}","PJSIP/{phone}-{n:08x}","Dial","PJSIP/{phone}",'
                f'"2026-03-09 09:00:00",{answer},"2026-03-09 09:01:00",60,55,"{state}",'
                f'"DOCUMENTATION","{uid}","","","{uid}",{n}\n'
            )
    # the second legs come 150 rows after the first: several calls are held across chunks
    ordered = []
    for n in range(0, 600, 150):
        ordered += lines[2 * n : 2 * (n + 150) : 2] + lines[2 * n + 1 : 2 * (n + 150) : 2]
    path.write_text("".join(ordered))
    job = Job("asterisk", "DE", DE, {})
    limits = {"window": 200, "max_rows": 100}
    whole = _chunks(path, "asterisk", job, limits=limits)
    assert len(whole) >= 10

    def call_ids(chunks_: list[Chunk]) -> list[str]:
        out = []
        for chunk in chunks_:
            parsed = parse_chunk(job, b"", chunk.units, chunk.position, chunk.done)
            assert parsed.rejected == []
            out += [json.loads(r.value or b"")["call_id"] for r in parsed.records]
        return out

    everything = call_ids(whole)
    assert sorted(everything) == sorted({f"asterisk:1773000000.{n}" for n in range(600)})
    for stop in range(1, len(whole)):
        before = call_ids(whole[:stop])
        after = call_ids(_chunks(path, "asterisk", job, whole[stop - 1].position, limits=limits))
        assert sorted(before + after) == sorted(everything), stop


# --- CEL: cel_custom's Master.csv ---------------------------------------------------------

CEL_CSV_ORDER = (
    "EventName", "EventTime", "CallerIDname", "CallerIDnum", "CallerIDani", "CallerIDrdnis",
    "CallerIDdnid", "Exten", "Context", "Channel", "Application", "AppData", "AMAFlags",
    "AccountCode", "UniqueID", "LinkedID", "Peer", "Userfield", "UserDefType", "Extra",
)  # fmt: skip


def cel_custom_csv(events: list[dict[str, Any]]) -> str:
    """Rows as the sample cel_custom.conf mapping writes them (CSV_QUOTE: every value quoted)."""
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n")
    for event in events:
        writer.writerow([event.get(name, "") for name in CEL_CSV_ORDER])
    return out.getvalue()


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_a_cel_file_is_the_calls_the_live_cel_path_assembles(name: str, tmp_path: Path) -> None:
    pbx, expect = SCENARIOS[name](None)
    path = tmp_path / "Master.csv"
    path.write_text(cel_custom_csv(pbx.events))
    [call] = imported(path, "asterisk-cel")
    events = cel.parse_batch(pbx.events, ZoneInfo("UTC"), "import")
    [live] = calls_from(events, asterisk.rules_from({}), DE, "DE")
    assert call == json.loads(
        live.model_copy(update={"historical": True}).model_dump_json(by_alias=True)
    )
    assert call["status"] == expect.status


def test_the_documented_cel_custom_file_interleaving_two_calls() -> None:
    """Two calls at once, local times (cel.conf `dateformat = %F %T.%6q`) read in the zone."""
    calls = {
        c["call_id"]: c
        for c in imported(DATA / "cel-custom-Master.csv", "asterisk-cel", timezone="Europe/Berlin")
    }
    ring, transfer = calls["asterisk:1772700000.1"], calls["asterisk:1772700100.1"]
    assert ring["started_at"] == "2026-03-02T09:00:00Z"
    assert parties(ring) == [("+493012345678", "caller"), ("102", "answered"), ("101", "rung")]
    assert [t["kind"] for t in transfer["transfers"]] == ["blind"]
    assert parties(transfer)[1:] == [("101", "answered"), ("102", "transferred_to")]


def test_a_leg_written_beyond_the_window_is_reported_and_makes_no_second_call(
    tmp_path: Path,
) -> None:
    lines = (DATA / "Master-multileg.csv").read_bytes().splitlines(keepends=True)
    path = tmp_path / "Master.csv"
    # the ring group's second leg (line 3) moved to the end: 9 rows after its first
    path.write_bytes(b"".join([*lines[:2], *lines[3:], lines[2]]))
    job = Job("asterisk", "DE", DE, {})
    calls, rejected = [], []
    for chunk in _chunks(path, "asterisk", job, limits={"window": 5}):
        parsed = parse_chunk(job, b"", chunk.units, chunk.position, chunk.done)
        calls += [json.loads(r.value or b"") for r in parsed.records]
        rejected += [(line, reason) for line, reason, _ in parsed.rejected]
    assert len(calls) == 5
    assert [c["call_id"] for c in calls].count("asterisk:1773046800.101") == 1
    [(line, reason)] = rejected
    assert line == 12
    assert "already imported" in reason
