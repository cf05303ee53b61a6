"""3CX: bearer token, CRM call journaling (JSON), CDR output lines (CSV), the published template."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ingest_calls.domain import threecx
from ingest_calls.domain.errors import AuthenticationFailed, InvalidPayload
from ingest_calls.domain.request import Context, WebhookRequest
from switchboard_shared.events import CallDirection, CallRecorded, CallStatus
from switchboard_shared.phone import NumberKind, PhonePolicy

TOKEN = "t0ken-for-3cx-0123456789abcdef"
FR = PhonePolicy(default_region="FR")
TEMPLATE = Path(__file__).parents[3] / "docs" / "providers" / "threecx-crm-template.xml"

# Real 3CX v16 CDR lines (dorel14/3CX-Cdr-Server), reference §3.2.
CDR_INBOUND = (
    "Call 9744,00000171DEE41BB3_2501,00:05:15,2020/05/04 10:53:43,2020/05/04 10:53:43,"
    "2020/05/04 10:58:59,TerminatedByDst,0611360468,Ext.610,10000,610,610,ReplacedDst,Ext.185,"
    '185,,,,,"Chain: 0611360468,Ext.610,Ext.185,",External,Internal,Internal,from disp,'
    "to disp,fin disp,"
)
CDR_INTERNAL_CANCELLED = (
    "Call 9745,00000171DEE8BB1E_2512,,2020/05/04 10:58:46,,2020/05/04 10:59:02,Failed_Cancelled,"
    "Ext.315,Ext.184,315,184,184,,,,,,,,,Internal,Internal,Internal,from disp,to disp,fin disp,"
)
CDR_OUTBOUND = (
    "Call 9748,00000171DEE71559_2510,00:05:07,2020/05/04 10:56:58,2020/05/04 10:57:03,"
    "2020/05/04 11:02:10,TerminatedByDst,Ext.114,0232354095,114,10001,0232354095,,,,,1,5.12,"
    'default,"Chain: Ext.114,0232354095,",Internal,External,External,from disp,to disp,'
    "fin disp,"
)
CDR_OUTBOUND_FAILED = (
    "Call 9762,00000171DEFB6EB4_2535,,2020/05/04 11:19:12,,2020/05/04 11:19:49,Failed,Ext.195,"
    "003265395525,195,003265395525,003265395525,,,,,,,,,Internal,External,External,from disp,"
    "to disp,fin disp,"
)

# What the ReportCall scenario of our template posts (values as 3CX fills them in).
JOURNAL: dict[str, Any] = {
    "call_type": "Inbound",
    "direction": "Inbound",
    "number": "+33611360468",
    "name": "Jane Doe",
    "agent": "101",
    "agent_first_name": "Ann",
    "agent_last_name": "Agent",
    "agent_email": "ann@example.com",
    "queue": "",
    "duration": "00:03:00",
    "started_at": "2026-03-02T09:00:00Z",
    "answered_at": "2026-03-02T09:00:07Z",
    "ended_at": "2026-03-02T09:03:07Z",
    "recording_url": "",
}


def request(
    body: bytes | str,
    content_type: str = "application/json",
    authorization: str | None = f"Bearer {TOKEN}",
    query: list[tuple[str, str]] | None = None,
) -> WebhookRequest:
    headers = {} if authorization is None else {"authorization": authorization}
    return WebhookRequest(
        method="POST",
        url="https://switchboard.example.com/webhooks/threecx",
        headers=headers,
        query=query or [],
        body=body.encode() if isinstance(body, str) else body,
        content_type=content_type,
    )


def context(**options: str) -> Context:
    return Context(secret=TOKEN, region="FR", options=options)


def journal(document: Any) -> list[CallRecorded]:
    events = threecx.parse(request(json.dumps(document)), context(), FR)
    assert all(isinstance(e, CallRecorded) for e in events)
    return [e for e in events if isinstance(e, CallRecorded)]


def cdr(text: str, **options: str) -> list[CallRecorded]:
    events = threecx.parse(request(text, "text/csv"), context(**options), FR)
    return [e for e in events if isinstance(e, CallRecorded)]


# --- authentication --------------------------------------------------------------------------


def test_verify_accepts_the_bearer_token() -> None:
    threecx.verify(request(""), context())


@pytest.mark.parametrize(
    "authorization",
    [None, "", f"Basic {TOKEN}", "Bearer nope-nope-nope-nope", f"Bearer {TOKEN} extra", TOKEN],
)
def test_verify_rejects(authorization: str | None) -> None:
    with pytest.raises(AuthenticationFailed):
        threecx.verify(request("", authorization=authorization), context())


# --- call journaling -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call_type", "direction", "status"),
    [
        ("Inbound", CallDirection.INBOUND, CallStatus.ANSWERED),
        ("Missed", CallDirection.INBOUND, CallStatus.NO_ANSWER),
        ("Outbound", CallDirection.OUTBOUND, CallStatus.ANSWERED),
        ("Notanswered", CallDirection.OUTBOUND, CallStatus.NO_ANSWER),
        ("NotAnswered", CallDirection.OUTBOUND, CallStatus.NO_ANSWER),
        ("NotAnsweredOutbound", CallDirection.OUTBOUND, CallStatus.NO_ANSWER),
        ("missed", CallDirection.INBOUND, CallStatus.NO_ANSWER),
    ],
)
def test_call_type_maps_to_direction_and_status(
    call_type: str, direction: CallDirection, status: CallStatus
) -> None:
    [event] = journal({**JOURNAL, "call_type": call_type})
    assert (event.direction, event.status) == (direction, status)
    assert event.counterpart == "+33611360468"
    assert event.agent == "101"
    if direction is CallDirection.INBOUND:
        assert (event.from_.e164, event.to.extension) == ("+33611360468", "101")
    else:
        assert (event.from_.extension, event.to.e164) == ("101", "+33611360468")
    if status is CallStatus.ANSWERED:
        assert event.answered_at == datetime(2026, 3, 2, 9, 0, 7, tzinfo=UTC)
        assert event.talk_s == 180.0
    else:
        assert event.answered_at is None
        assert event.talk_s == 0.0


def test_answered_inbound_journal_entry() -> None:
    [event] = journal(JOURNAL)
    assert event.provider == "threecx"
    assert event.started_at == datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    assert event.ended_at == datetime(2026, 3, 2, 9, 3, 7, tzinfo=UTC)
    assert event.ring_s == 7.0
    assert event.recording_url is None
    assert event.raw == JOURNAL


def test_3cx_variable_names_are_accepted_as_keys() -> None:
    document = {
        "CallType": "Outbound",
        "Number": "0232354095",
        "Agent": "114",
        "Duration": "00:05:07",
        "CallStartTimeUTC": "2020-05-04T08:56:58Z",
        "CallEstablishedTimeUTC": "2020-05-04T08:57:03Z",
        "CallEndTimeUTC": "2020-05-04T09:02:10Z",
        "RecordingUrl": "https://pbx.example.com/rec/1.wav",
    }
    [event] = journal(document)
    assert event.direction is CallDirection.OUTBOUND
    assert event.to.e164 == "+33232354095"
    assert event.talk_s == 307.0
    assert event.recording_url == "https://pbx.example.com/rec/1.wav"


def test_unfilled_variables_count_as_missing() -> None:
    document = {
        **JOURNAL,
        "call_type": "[CallType]",
        "direction": "Outbound",
        "answered_at": "[[CallEstablishedTimeUTC].ToString(yyyy)]",
        "recording_url": "[RecordingUrl]",
        "name": "[Name]",
    }
    [event] = journal(document)
    assert event.direction is CallDirection.OUTBOUND
    assert event.status is CallStatus.ANSWERED  # talked 3 minutes
    assert event.recording_url is None


def test_dotnet_min_value_means_never_established() -> None:
    [event] = journal({**JOURNAL, "answered_at": "0001-01-01T00:00:00Z"})
    assert event.answered_at is None
    assert event.talk_s == 180.0


def test_missing_start_falls_back_to_end_minus_duration() -> None:
    [event] = journal({**JOURNAL, "started_at": "", "answered_at": ""})
    assert event.started_at == datetime(2026, 3, 2, 9, 0, 7, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("00:05:15", 315.0),
        ("5:15", 315.0),
        ("315", 315.0),
        ("01:00:00", 3600.0),
        ("00:00:09.5000000", 9.5),
        ("1.02:03:04", 93784.0),
        ("", None),
        ("five minutes", None),
        ("99999999", None),
    ],
)
def test_duration_formats(text: str, seconds: float | None) -> None:
    assert threecx._seconds(text) == seconds


def test_journal_id_is_stable_across_retries_and_distinct_per_call() -> None:
    [first] = journal(JOURNAL)
    [again] = journal(dict(reversed(list(JOURNAL.items()))))
    [other_agent] = journal({**JOURNAL, "agent": "102"})
    [later] = journal({**JOURNAL, "started_at": "2026-03-02T09:00:01Z"})
    assert first.call_id == again.call_id
    assert first.call_id.startswith("threecx:j")
    assert len({first.call_id, other_agent.call_id, later.call_id}) == 3


def test_journal_call_id_from_the_body_wins() -> None:
    [event] = journal({**JOURNAL, "call_id": "00000171DEE41BB3_2501"})
    assert event.call_id == "threecx:00000171DEE41BB3_2501"


def test_a_list_of_journal_entries() -> None:
    events = journal([JOURNAL, {**JOURNAL, "call_type": "Missed", "agent": "102"}])
    assert [e.status for e in events] == [CallStatus.ANSWERED, CallStatus.NO_ANSWER]


@pytest.mark.parametrize("number", ["", "anonymous", "[Number]"])
def test_withheld_caller(number: str) -> None:
    [event] = journal({**JOURNAL, "call_type": "Missed", "number": number})
    assert event.from_.kind is NumberKind.WITHHELD
    assert event.counterpart is None


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({**JOURNAL, "call_type": "Sideways", "direction": ""}, "call_type"),
        ({**JOURNAL, "call_type": "", "direction": ""}, "call_type"),
        ({**JOURNAL, "started_at": "", "ended_at": "", "answered_at": ""}, "started_at"),
        ({**JOURNAL, "started_at": "yesterday", "ended_at": ""}, "started_at"),
        ([JOURNAL, {**JOURNAL, "call_type": "?", "direction": ""}], "[1].call_type"),
        ([JOURNAL, "x"], "[1]"),
        ([], "body"),
        ("Inbound", "body"),
    ],
)
def test_bad_journal_entries(document: Any, field: str) -> None:
    with pytest.raises(InvalidPayload) as caught:
        journal(document)
    assert caught.value.field == field


# --- CDR output (CSV) ------------------------------------------------------------------------


def test_real_cdr_lines() -> None:
    inbound, cancelled, outbound, failed = cdr(
        "\r\n".join([CDR_INBOUND, CDR_INTERNAL_CANCELLED, CDR_OUTBOUND, CDR_OUTBOUND_FAILED])
    )

    assert inbound.call_id == "threecx:00000171DEE41BB3_2501:9744"
    assert inbound.linked_id == "00000171DEE41BB3_2501"
    assert (inbound.direction, inbound.status) == (CallDirection.INBOUND, CallStatus.ANSWERED)
    assert inbound.counterpart == "+33611360468"
    assert inbound.agent == "185"  # the call was transferred from 610 and ended at 185
    assert inbound.talk_s == 315.0
    assert inbound.hangup_cause == "TerminatedByDst"
    assert inbound.raw["chain"] == "Chain: 0611360468,Ext.610,Ext.185,"

    assert (cancelled.direction, cancelled.status) == (
        CallDirection.INTERNAL,
        CallStatus.CANCELED,
    )
    assert (cancelled.agent, cancelled.answered_at, cancelled.ring_s) == ("184", None, 16.0)

    assert (outbound.direction, outbound.status) == (CallDirection.OUTBOUND, CallStatus.ANSWERED)
    assert (outbound.agent, outbound.counterpart) == ("114", "+33232354095")
    assert (outbound.ring_s, outbound.talk_s) == (5.0, 307.0)
    assert outbound.raw["bill-cost"] == "5.12"

    assert (failed.direction, failed.status) == (CallDirection.OUTBOUND, CallStatus.FAILED)
    assert failed.counterpart == "+3265395525"
    assert failed.agent == "195"


@pytest.mark.parametrize(
    ("reason", "status"),
    [
        ("TerminatedBySrc", CallStatus.CANCELED),
        ("Failed_Cancelled", CallStatus.CANCELED),
        ("Failed", CallStatus.FAILED),
        ("Failed_Busy", CallStatus.BUSY),
        ("TerminatedByDst", CallStatus.NO_ANSWER),
        ("", CallStatus.NO_ANSWER),
    ],
)
def test_unanswered_reason_maps_to_status(reason: str, status: CallStatus) -> None:
    [event] = cdr(CDR_INTERNAL_CANCELLED.replace("Failed_Cancelled", reason))
    assert event.status is status


def test_cdr_times_are_read_in_the_configured_zone() -> None:
    [utc] = cdr(CDR_INBOUND)
    [paris] = cdr(CDR_INBOUND, timezone="Europe/Paris")
    assert utc.started_at == datetime(2020, 5, 4, 10, 53, 43, tzinfo=UTC)
    assert paris.started_at == datetime(2020, 5, 4, 8, 53, 43, tzinfo=UTC)  # CEST


def test_cdr_header_line_and_fewer_fields() -> None:
    header = "historyid,callid,duration,time-start,time-answered,time-end,from-no,to-no,to-dn"
    line = "Call 1,0000018E_1,00:01:00,2024/03/01 09:00:00,2024/03/01 09:00:05,"
    line += "2024/03/01 09:01:05,+33611360468,Ext.101,101"
    [event] = cdr(f"{header}\n{line}\n")
    assert event.direction is CallDirection.INBOUND  # by number kinds: external -> extension
    assert event.agent == "101"
    assert event.talk_s == 60.0


def test_cdr_csv_columns_option() -> None:
    columns = "callid,time_start,time_end,from_no,to_no,from_type,to_type,from_dn"
    line = "0000018E_2,2024/03/01 09:00:00,2024/03/01 09:00:30,Ext.101,0611360468,"
    line += "Internal,External,101"
    [event] = cdr(line, csv_columns=columns)
    assert (event.direction, event.status) == (CallDirection.OUTBOUND, CallStatus.NO_ANSWER)
    assert event.call_id == "threecx:0000018E_2"


@pytest.mark.parametrize(
    ("text", "field"),
    [
        (CDR_INBOUND + "\n" + "Call 1,x,00:00:01\n", "line 2"),
        (CDR_INBOUND.replace("2020/05/04 10:58:59", "2020/13/04 10:58:59"), None),
        (CDR_OUTBOUND.replace("00:05:07", "five"), "line 1, column 3 (duration)"),
        (CDR_OUTBOUND.replace("2020/05/04 10:56:58", ""), "line 1, column 4 (time-start)"),
        (CDR_OUTBOUND.replace("Call 9748,00000171DEE71559_2510", ","), "line 1, column 2 (callid)"),
    ],
    ids=["too-few-fields", "bad-time", "bad-duration", "no-start", "no-ids"],
)
def test_bad_cdr_lines(text: str, field: str | None) -> None:
    with pytest.raises(InvalidPayload) as caught:
        cdr(text)
    assert caught.value.field == (field or "line 1, column 6 (time-end)")


def test_cdr_unknown_zone_is_misconfiguration() -> None:
    with pytest.raises(InvalidPayload) as caught:
        cdr(CDR_INBOUND, timezone="Nowhere/Else")
    assert caught.value.field == "options"


# --- contact lookup --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "phone"),
    [("+33611360468", "+33611360468"), (" 33611360468", "+33611360468"), ("0611", "0611")],
)
def test_lookup_answers_a_stand_in_contact(value: str, phone: str) -> None:
    answer = threecx.lookup(request("", query=[("number", value)]), context())
    assert answer == {"contact": {"id": f"tel:{phone}", "phone": phone}}


def test_lookup_without_a_number_finds_nothing() -> None:
    assert threecx.lookup(request(""), context()) == {"contact": None}


# --- the published CRM template --------------------------------------------------------------


def scenario(root: ET.Element, scenario_id: str) -> ET.Element:
    found = root.find(f"./Scenarios/Scenario[@Id='{scenario_id}']")
    assert found is not None
    return found


def test_template_report_call_posts_json_we_parse_with_the_bearer_token() -> None:
    root = ET.parse(TEMPLATE).getroot()
    assert root.tag == "Crm"
    report = scenario(root, "ReportCall").find("Request")
    assert report is not None
    assert report.get("Url") == "[SwitchboardUrl]/webhooks/threecx"
    assert (report.get("RequestType"), report.get("RequestEncoding")) == ("Post", "Json")
    [auth] = report.findall("./Headers/Value")
    assert (auth.get("Key"), auth.text) == ("Authorization", "Bearer [Token]")
    keys = [v.get("Key") or "" for v in report.findall("./PostValues/Value")]
    assert len(keys) == len(set(keys))
    assert all(k.replace("_", "") in threecx.JOURNAL_KEYS for k in keys)
    values = {v.get("Key"): v.text for v in report.findall("./PostValues/Value")}
    assert values["call_type"] == "[CallType]"
    assert values["started_at"] == '[[CallStartTimeUTC].ToString("yyyy-MM-ddTHH:mm:ssZ")]'


def test_template_lookup_matches_what_lookup_answers() -> None:
    root = ET.parse(TEMPLATE).getroot()
    lookup = scenario(root, "")
    request_ = lookup.find("Request")
    assert request_ is not None
    assert request_.get("Url") == "[SwitchboardUrl]/webhooks/threecx?number=[Number]"
    assert request_.get("RequestType") == "Get"
    paths = {v.get("Path") for v in lookup.findall("./Variables/Variable")}
    answer = threecx.lookup(request("", query=[("number", "0611")]), context())
    contact = answer["contact"]
    assert {f"contact.{key}" for key in contact} == paths
    parameters = {p.get("Name") for p in root.findall("./Parameters/Parameter")}
    assert {"SwitchboardUrl", "Token"} <= parameters
