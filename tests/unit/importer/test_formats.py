"""The import's call formats map onto the live adapters; checkpoints reset on new content."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from switchboard_import.callformats import FORMATS, Job, check_mapping, header_of
from switchboard_import.calls import chunks, parse_chunk, read_header
from switchboard_import.checkpoint import Checkpoint, CheckpointStore, Counts
from switchboard_import.csvfile import rows
from switchboard_shared.phone import PhonePolicy

DATA = Path(__file__).parent / "data"


def parsed(fmt: str, name: str, region: str, **job: Any) -> tuple[list[dict[str, Any]], list[int]]:
    """The file as the import reads it (rows gathered into calls, chunk by chunk): the events
    and the lines refused."""
    path = DATA / name
    header, offset, line = read_header(path, FORMATS[fmt])
    job_ = Job(fmt, region, PhonePolicy(default_region=region), **job)
    events: list[dict[str, Any]] = []
    rejected: list[int] = []
    with path.open("rb") as stream:
        source = rows(stream, start=offset, first_line=line)
        for chunk in chunks(FORMATS[fmt], job_, header, source, []):
            out = parse_chunk(job_, header, chunk.units, chunk.position, chunk.done)
            events += [json.loads(r.value or b"") for r in out.records]
            rejected += [at for at, _, _ in out.rejected]
    return events, sorted(rejected)


def test_master_csv_legs_of_one_call_are_one_call_and_bad_rows_are_named() -> None:
    events, rejected = parsed("asterisk", "Master.csv", "DE")
    [call] = [e for e in events if e["linked_id"] == "1772442000.1"]
    assert (call["status"], call["agent"]) == ("answered", "102")
    assert call["call_id"] == "asterisk:1772442000.1"
    parties = [(p["extension"] or p["number"], p["role"]) for p in call["participants"]]
    assert parties == [("+4930123456", "caller"), ("102", "answered"), ("101", "rung")]
    assert rejected == [5, 6]


def test_freepbx_export_uses_the_did_and_the_header() -> None:
    events, rejected = parsed("freepbx", "freepbx-cdr-export.csv", "US")
    assert rejected == []
    assert len(events) == 2  # a ring group's two legs are one call
    assert events[0]["to"]["e164"] == "+12125550199"
    assert events[0]["requested"] == "600"
    assert events[0]["recording_url"] is None  # no recording_base_url option
    assert events[1]["direction"] == "outbound"


def test_twilio_console_times_become_the_callback_timestamp() -> None:
    events, _ = parsed("twilio", "twilio-calls.csv", "US")
    by_id = {e["call_id"]: e for e in events}
    missed = by_id["twilio:CA1111111111111111111111111111111b"]
    assert missed["status"] == "no_answer"
    assert missed["ended_at"] == "2026-03-05T09:00:25Z"


def test_a_twilio_call_and_its_dialled_leg_are_one_call() -> None:
    """The parent (the caller reaching our number) and the `<Dial>` leg to client:alice, whose
    row names the parent: one call, answered by alice, under the parent's id."""
    events, _ = parsed("twilio", "twilio-calls.csv", "US")
    assert len(events) == 2
    [call] = [e for e in events if e["call_id"] == "twilio:CA1111111111111111111111111111111a"]
    assert call["ended_at"] == "2026-03-05T08:04:01Z"
    assert (call["status"], call["agent"]) == ("answered", "alice")
    assert call["talk_s"] == 238  # the dialled leg's
    roles = [(p["extension"] or p["number"], p["role"]) for p in call["participants"]]
    assert roles == [("+14155550100", "caller"), ("alice", "answered")]
    assert call["counterpart"] == "+14155550100"


def test_generic_local_times_are_read_in_the_given_zone() -> None:
    mapping = {
        "id": "Ref",
        "direction": "Kind",
        "status": "Outcome",
        "from": "Caller",
        "to": "Callee",
        "started_at": "Begin",
        "ended_at": "End",
        "agent": "Agent",
    }
    events, rejected = parsed(
        "generic", "generic-calls.csv", "DE", options={"timezone": "Europe/Berlin"}, mapping=mapping
    )
    assert events[0]["started_at"] == "2026-03-06T07:00:00Z"
    assert rejected == [4]


def test_a_generic_mapping_names_its_mistakes() -> None:
    with pytest.raises(ValueError, match="unknown field"):
        check_mapping({"id": "a", "colour": "b"})
    with pytest.raises(ValueError, match="direction"):
        check_mapping({"id": "a", "status": "s", "started_at": "t"})


def test_header_detection() -> None:
    assert header_of(FORMATS["freepbx"], b"calldate,src,dst,disposition\n")
    assert not header_of(FORMATS["asterisk"], b'"","101","102","ctx"\n')
    assert header_of(FORMATS["twilio"], b"Call Sid,Status,From,To\n")


def test_a_checkpoint_survives_a_restart_and_resets_on_other_content(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path)
    checkpoint = Checkpoint("calls:x", "f1", {"offset": 10}, Counts(rows=3, accepted=2, rejected=1))
    store.save(checkpoint)
    assert store.load("calls:x", "f1") == checkpoint
    assert store.load("calls:x", "f2") == Checkpoint("calls:x", "f2")
