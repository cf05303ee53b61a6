"""Asterisk / FreePBX CDRs: bearer token, Master.csv variants, AMI Cdr JSON, the mapping rules."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from ingest_calls.domain import asterisk
from ingest_calls.domain.errors import AuthenticationFailed, InvalidPayload
from ingest_calls.domain.request import Context, WebhookRequest
from switchboard_shared.events import CallDirection, CallRecorded, CallStatus
from switchboard_shared.phone import NumberKind, PhonePolicy

TOKEN = "t0ken-for-asterisk-0123456789"
DE = PhonePolicy(default_region="DE")

# Real Master.csv rows (18 columns: loguniqueid=yes, loguserfield=yes), reference §2.1.
ROW_PLAYBACK = (
    '"","SOFTPHONE_A","227","sets","""101"" <SOFTPHONE_A>","PJSIP/SOFTPHONE_A-00000002","",'
    '"Playback","hear-odd-noise","2019-03-04 02:31:39","2019-03-04 02:31:39",'
    '"2019-03-04 02:31:42",3,3,"ANSWERED","DOCUMENTATION","1551666699.4",""'
)
ROW_INTERNAL = (
    '"","13","87","from-internal","""Test"" <13>","PJSIP/13-00000001","PJSIP/87-00000002",'
    '"Dial","PJSIP/87,30","2026-09-23 14:02:00","2026-09-23 14:02:05","2026-09-23 14:05:17",'
    '197,192,"ANSWERED","DOCUMENTATION","1790000001.1",""'
)
ROW_OUTBOUND = (
    '"dhbm8x","1001","009001234567","from-internal","""1001"" <1001>",'
    '"PJSIP/aaaa1111-00000001","","Dial","PJSIP/Egress","2026-07-24 17:50:01",'
    '"2026-07-24 17:50:02","2026-07-24 17:50:10",9,8,"ANSWERED","DOCUMENTATION",'
    '"1784910000.1",""'
)


def base_columns(**values: str) -> list[str]:
    """The 16 base cdr_csv columns of an inbound call from a trunk to extension 101."""
    row = {
        "accountcode": "",
        "src": "+4930901820",
        "dst": "101",
        "dcontext": "from-did-direct",
        "clid": '"Max" <+4930901820>',
        "channel": "PJSIP/trunk-telekom-0000002a",
        "dstchannel": "PJSIP/101-0000002b",
        "lastapp": "Dial",
        "lastdata": "PJSIP/101,30",
        "start": "2026-01-15 10:00:00",
        "answer": "2026-01-15 10:00:07",
        "end": "2026-01-15 10:03:07",
        "duration": "187",
        "billsec": "180",
        "disposition": "ANSWERED",
        "amaflags": "DOCUMENTATION",
    }
    row.update(values)
    return [row[name] for name in asterisk.BASE_COLUMNS]


def csv_line(fields: list[str]) -> str:
    """Quote as cdr_csv does: strings quoted, integers and unset times bare."""
    out = []
    for value in fields:
        if value == "" or value.isdigit():
            out.append(value)
        else:
            out.append('"' + value.replace('"', '""') + '"')
    return ",".join(out)


def request(
    body: bytes | str,
    content_type: str = "text/csv",
    authorization: str | None = f"Bearer {TOKEN}",
) -> WebhookRequest:
    headers = {} if authorization is None else {"authorization": authorization}
    data = body.encode() if isinstance(body, str) else body
    return WebhookRequest(
        method="POST",
        url="https://switchboard.example.com/webhooks/asterisk",
        headers=headers,
        body=data,
        content_type=content_type,
    )


def context(**options: str) -> Context:
    return Context(secret=TOKEN, region="DE", options=options)


def parse_csv(text: str, **options: str) -> list[CallRecorded]:
    events = asterisk.parse(request(text), context(**options), DE)
    assert all(isinstance(e, CallRecorded) for e in events)
    return [e for e in events if isinstance(e, CallRecorded)]


def parse_json(document: Any, **options: str) -> list[CallRecorded]:
    body = json.dumps(document)
    events = asterisk.parse(request(body, "application/json"), context(**options), DE)
    return [e for e in events if isinstance(e, CallRecorded)]


def one_csv(fields: list[str], **options: str) -> CallRecorded:
    [event] = parse_csv(csv_line(fields) + "\n", **options)
    return event


# --- authentication --------------------------------------------------------------------------


def test_verify_accepts_the_bearer_token() -> None:
    asterisk.verify(request(""), context())


@pytest.mark.parametrize("value", [f"bearer {TOKEN}", f"BEARER   {TOKEN}  ", f" Bearer {TOKEN}"])
def test_verify_scheme_is_case_insensitive_and_whitespace_tolerant(value: str) -> None:
    asterisk.verify(request("", authorization=value), context())


@pytest.mark.parametrize(
    ("authorization", "message"),
    [
        (None, "missing"),
        ("", "missing"),
        ("Bearer", "not a Bearer"),
        ("Bearer    ", "not a Bearer"),
        (f"Basic {TOKEN}", "not a Bearer"),
        (TOKEN, "not a Bearer"),
        ("Bearer wrong-token-0123456789", "does not match"),
        (f"Bearer {TOKEN}x", "does not match"),
        (f"Bearer {TOKEN[:-1]}", "does not match"),
        ("Bearer tökén-ünicode", "does not match"),
    ],
    ids=lambda v: repr(v)[:24],
)
def test_verify_rejects(authorization: str | None, message: str) -> None:
    with pytest.raises(AuthenticationFailed, match=message):
        asterisk.verify(request("", authorization=authorization), context())


def test_verify_with_an_empty_secret_accepts_nothing() -> None:
    with pytest.raises(AuthenticationFailed):
        asterisk.verify(request("", authorization="Bearer x"), Context(secret="", region="DE"))


# --- Master.csv ------------------------------------------------------------------------------


def test_real_master_csv_rows() -> None:
    playback, internal, outbound = parse_csv(
        "\n".join([ROW_PLAYBACK, ROW_INTERNAL, ROW_OUTBOUND]) + "\n"
    )

    assert playback.call_id == "asterisk:1551666699.4"
    assert playback.direction is CallDirection.INTERNAL  # an endpoint playing a sound file
    assert playback.status is CallStatus.ANSWERED
    assert playback.started_at == datetime(2019, 3, 4, 2, 31, 39, tzinfo=UTC)
    assert playback.talk_s == 3.0
    assert playback.agent is None  # no destination channel
    assert playback.raw["clid"] == '"101" <SOFTPHONE_A>'
    assert playback.raw["userfield"] == ""

    assert internal.direction is CallDirection.INTERNAL
    assert internal.agent == "87"
    assert internal.answered_at == datetime(2026, 9, 23, 14, 2, 5, tzinfo=UTC)
    assert (internal.ring_s, internal.talk_s) == (5.0, 192.0)
    assert internal.linked_id == "1790000001.1"

    assert outbound.direction is CallDirection.OUTBOUND  # from-internal, dialled a long number
    assert outbound.agent == "aaaa1111"  # the PJSIP endpoint that placed the call
    assert outbound.from_.kind is NumberKind.INTERNAL


def test_16_column_rows_get_a_stable_hashed_id() -> None:
    fields = base_columns()
    first = one_csv(fields)
    again = one_csv(fields)
    other = one_csv(base_columns(start="2026-01-15 10:00:01"))
    assert first.call_id == again.call_id
    assert first.call_id.startswith("asterisk:h")
    assert other.call_id != first.call_id
    assert first.linked_id is None


def test_17_columns_with_uniqueid() -> None:
    event = one_csv([*base_columns(), "1768471200.17"])
    assert event.call_id == "asterisk:1768471200.17"
    assert event.raw["uniqueid"] == "1768471200.17"


def test_17_columns_with_uniqueid_of_a_named_system() -> None:
    event = one_csv([*base_columns(), "pbx1-1768471200.17"])
    assert event.call_id == "asterisk:pbx1-1768471200.17"


def test_17_columns_with_userfield_only() -> None:
    event = one_csv([*base_columns(), "campaign=spring"])
    assert event.raw["userfield"] == "campaign=spring"
    assert "uniqueid" not in event.raw
    assert event.call_id.startswith("asterisk:h")


def test_19_columns_newcdrcolumns_without_uniqueid() -> None:
    event = one_csv([*base_columns(), "", "1768471200.17", "42"])
    assert event.call_id == "asterisk:1768471200.17#42"
    assert event.linked_id == "1768471200.17"


def test_21_columns_legs_of_one_call_share_linked_id_with_distinct_ids() -> None:
    # Party A (the trunk channel) rang 101 and 102 together; 102 answered.
    leg_101 = [
        *base_columns(
            dstchannel="PJSIP/101-0000002b",
            answer="",
            billsec="0",
            duration="7",
            end="2026-01-15 10:00:07",
            disposition="NO ANSWER",
        ),
        "1768471200.17",
        "",
        "",
        "1768471200.17",
        "41",
    ]
    leg_102 = [
        *base_columns(dstchannel="PJSIP/102-0000002c", dst="102"),
        "1768471200.17",
        "",
        "",
        "1768471200.17",
        "42",
    ]
    missed, answered = parse_csv(csv_line(leg_101) + "\n" + csv_line(leg_102) + "\n")
    assert missed.call_id == "asterisk:1768471200.17#41"
    assert answered.call_id == "asterisk:1768471200.17#42"
    assert missed.linked_id == answered.linked_id == "1768471200.17"
    assert (missed.status, missed.agent, missed.answered_at) == (CallStatus.NO_ANSWER, "101", None)
    assert (answered.status, answered.agent) == (CallStatus.ANSWERED, "102")


def test_21_columns_linkedid_differs_from_uniqueid_on_a_transfer() -> None:
    event = one_csv([*base_columns(), "1768471300.20", "", "", "1768471200.17", "57"])
    assert event.call_id == "asterisk:1768471300.20#57"
    assert event.linked_id == "1768471200.17"


def test_quoted_fields_embedded_quotes_commas_crlf_and_blank_lines() -> None:
    clid = '"Müller, Hans ""HM""" <+4930901820>'
    line = csv_line([*base_columns(clid=clid, lastdata="PJSIP/101,30,tT"), "1.5", "a,b"])
    events = parse_csv("\r\n" + line + "\r\n\r\n" + ROW_INTERNAL + "\r\n")
    assert events[0].raw["clid"] == clid
    assert events[0].raw["lastdata"] == "PJSIP/101,30,tT"
    assert events[0].raw["userfield"] == "a,b"
    assert len(events) == 2


def test_unset_answer_time_is_an_empty_bare_field() -> None:
    line = csv_line(
        base_columns(answer="", billsec="0", disposition="NO ANSWER", end="2026-01-15 10:00:30")
    )
    assert ",," in line
    [event] = parse_csv(line)  # no trailing newline either
    assert event.answered_at is None
    assert (event.ring_s, event.talk_s) == (187.0, 0.0)


def test_latin1_caller_names_are_read() -> None:
    line = csv_line(base_columns(clid='"J\u00fcrgen" <+4930901820>')).encode("latin-1")
    [event] = asterisk.parse(request(line), context(), DE)
    assert event.raw["clid"] == '"J\u00fcrgen" <+4930901820>'


def test_header_line_gives_the_column_order() -> None:
    header = "calldate,src,dst,dcontext,channel,dstchannel,disposition,duration,billsec,uniqueid"
    row = (
        "2026-01-15 10:00:00,+4930901820,101,from-did-direct,PJSIP/trunk-x-0001,"
        "PJSIP/101-0002,ANSWERED,187,180,1768471200.17"
    )
    [event] = parse_csv(f"{header}\n{row}\n")
    assert event.call_id == "asterisk:1768471200.17"
    assert event.started_at == datetime(2026, 1, 15, 10, 0, tzinfo=UTC)
    assert event.ended_at == datetime(2026, 1, 15, 10, 3, 7, tzinfo=UTC)
    assert event.answered_at == datetime(2026, 1, 15, 10, 0, 7, tzinfo=UTC)
    assert event.agent == "101"


@pytest.mark.parametrize(
    "fields",
    [
        ["calldate", "src", "disposition"],
        [" StartTime ", "DISPOSITION"],
        ["start", "disposition", "userfield"],
        ["Start Time", "disposition"],  # not a column name: a row
        ["start", "dispositions"],
        ["2026-01-15 10:00:00", "ANSWERED"],
        ["answertime", "disposition"],
        [],
    ],
)
def test_a_header_line_is_one_naming_start_and_disposition_in_any_spelling(
    fields: list[str],
) -> None:
    expected = {"start", "disposition"} <= {asterisk._canonical(f) for f in fields}
    assert asterisk._is_header(fields) is expected


def test_csv_columns_option_reads_the_cdr_custom_legacy_order() -> None:
    order = (
        "clid,src,dst,dcontext,channel,dstchannel,lastapp,lastdata,start,answer,end,duration,"
        "billsec,disposition,amaflags,accountcode,uniqueid,userfield,sequence"
    )
    row = (
        '"""Max"" <+4930901820>","+4930901820","101","from-did-direct",'
        '"PJSIP/trunk-x-0001","PJSIP/101-0002","Dial","PJSIP/101","2026-01-15 10:00:00",'
        '"2026-01-15 10:00:07","2026-01-15 10:03:07","187","180","ANSWERED","DOCUMENTATION",'
        '"","1768471200.17","",12'
    )
    [event] = parse_csv(row, csv_columns=order)
    assert event.call_id == "asterisk:1768471200.17#12"
    assert event.direction is CallDirection.INBOUND


# --- AMI Cdr JSON and FreePBX columns --------------------------------------------------------


AMI_CDR: dict[str, Any] = {
    "Event": "Cdr",
    "Privilege": "cdr,all",
    "AccountCode": "",
    "Source": "+4930901820",
    "Destination": "101",
    "DestinationContext": "from-trunk",
    "CallerID": '"Max" <+4930901820>',
    "Channel": "PJSIP/telekom-0000002a",
    "DestinationChannel": "PJSIP/101-0000002b",
    "LastApplication": "Dial",
    "LastData": "PJSIP/101,30",
    "StartTime": "2026-07-15 10:00:00",
    "AnswerTime": "2026-07-15 10:00:07",
    "EndTime": "2026-07-15 10:03:07",
    "Duration": "187",
    "BillableSeconds": "180",
    "Disposition": "ANSWERED",
    "AMAFlags": "DOCUMENTATION",
    "UniqueID": "1784109600.17",
    "UserField": "",
    "LinkedID": "1784109600.17",
    "Sequence": "9",
}


def test_one_ami_cdr_event() -> None:
    [event] = parse_json(AMI_CDR, timezone="Europe/Berlin")
    assert event.call_id == "asterisk:1784109600.17#9"
    assert event.direction is CallDirection.INBOUND  # from-trunk is an inbound context
    assert event.status is CallStatus.ANSWERED
    assert event.started_at == datetime(2026, 7, 15, 8, 0, tzinfo=UTC)  # CEST = UTC+2
    assert event.answered_at == datetime(2026, 7, 15, 8, 0, 7, tzinfo=UTC)
    assert event.ended_at == datetime(2026, 7, 15, 8, 3, 7, tzinfo=UTC)
    assert (event.ring_s, event.talk_s) == (7.0, 180.0)
    assert event.from_.e164 == "+4930901820"
    assert event.counterpart == "+4930901820"
    assert event.agent == "101"
    assert event.linked_id == "1784109600.17"
    assert event.raw == AMI_CDR


def test_a_list_of_ami_cdr_events_with_any_key_case() -> None:
    lower = {k.lower(): v for k, v in AMI_CDR.items()}
    second = {**AMI_CDR, "UniqueID": "1784109700.18", "Sequence": "10"}
    events = parse_json([lower, second])
    assert [e.call_id for e in events] == [
        "asterisk:1784109600.17#9",
        "asterisk:1784109700.18#10",
    ]


def test_freepbx_cdr_table_row_with_extra_columns() -> None:
    row = {
        "calldate": "2024-01-01 12:00:00",
        "clid": '"Jane" <0611360468>',
        "src": "0611360468",
        "dst": "101",
        "dcontext": "ext-local",
        "channel": "PJSIP/ovh-00000012",
        "dstchannel": "PJSIP/101-00000013",
        "lastapp": "Dial",
        "lastdata": "PJSIP/101/sip:101@10.0.0.5,20",
        "duration": 75,
        "billsec": 60,
        "disposition": "ANSWERED",
        "amaflags": 3,
        "accountcode": "",
        "uniqueid": "1704110400.123",
        "userfield": "",
        "did": "+33170000001",
        "recordingfile": "external-101-0611360468-20240101-120000-1704110400.123.wav",
        "cnum": "0611360468",
        "cnam": "Jane",
        "linkedid": "1704110400.123",
        "sequence": 3,
    }
    options = {
        "timezone": "Europe/Paris",
        "recording_base_url": "https://pbx.example.com/monitor/",
    }
    [event] = asterisk.parse(
        request(json.dumps(row), "application/json"),
        Context(secret=TOKEN, region="FR", options=options),
        PhonePolicy(default_region="FR"),
    )
    assert isinstance(event, CallRecorded)
    assert event.direction is CallDirection.INBOUND  # external src -> extension 101
    assert event.started_at == datetime(2024, 1, 1, 11, 0, tzinfo=UTC)
    assert event.ended_at == datetime(2024, 1, 1, 11, 1, 15, tzinfo=UTC)
    assert event.answered_at == datetime(2024, 1, 1, 11, 0, 15, tzinfo=UTC)
    assert event.from_.e164 == "+33611360468"
    assert event.to.e164 == "+33170000001"  # the DID, not the extension
    assert event.agent == "101"
    assert event.recording_url == (
        "https://pbx.example.com/monitor/2024/01/01/"
        "external-101-0611360468-20240101-120000-1704110400.123.wav"
    )
    assert event.call_id == "asterisk:1704110400.123#3"


def test_freepbx_recording_without_a_base_url_stays_in_raw_only() -> None:
    [event] = parse_json({**AMI_CDR, "recordingfile": "in-101-x.wav"})
    assert event.recording_url is None
    assert event.raw["recordingfile"] == "in-101-x.wav"


def test_cnum_stands_in_for_an_empty_source() -> None:
    [event] = parse_json({**AMI_CDR, "Source": "", "cnum": "+4930901821"})
    assert event.from_.e164 == "+4930901821"


@pytest.mark.parametrize("source", ["anonymous", "Anonymous", "Restricted", ""])
def test_withheld_caller(source: str) -> None:
    [event] = parse_json({**AMI_CDR, "Source": source, "CallerID": ""})
    assert event.from_.kind is NumberKind.WITHHELD
    assert event.counterpart is None
    assert event.direction is CallDirection.INBOUND


# --- dispositions ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("disposition", "status"),
    [
        ("ANSWERED", CallStatus.ANSWERED),
        ("NO ANSWER", CallStatus.NO_ANSWER),
        ("BUSY", CallStatus.BUSY),
        ("FAILED", CallStatus.FAILED),
        ("CONGESTION", CallStatus.FAILED),
        ("CANCEL", CallStatus.CANCELED),
        ("UNKNOWN", CallStatus.FAILED),
        ("no answer", CallStatus.NO_ANSWER),
        ("NO  ANSWER", CallStatus.NO_ANSWER),
        ("8", CallStatus.ANSWERED),
        ("0", CallStatus.NO_ANSWER),
        ("4", CallStatus.BUSY),
        ("16", CallStatus.FAILED),
        ("32", CallStatus.CANCELED),
    ],
)
def test_disposition_maps_to_status(disposition: str, status: CallStatus) -> None:
    answered = status is CallStatus.ANSWERED
    event = one_csv(
        base_columns(
            disposition=disposition,
            answer="2026-01-15 10:00:07" if answered else "",
            billsec="180" if answered else "0",
        )
    )
    assert event.status is status
    assert event.talk_s == (180.0 if answered else 0.0)
    assert (event.answered_at is not None) is answered
    assert event.hangup_cause == (None if answered else disposition)


def test_answered_by_voicemail_is_voicemail_with_the_mailbox_as_agent() -> None:
    event = one_csv(
        base_columns(dstchannel="", lastapp="VoiceMail", lastdata="101@default,u", billsec="25")
    )
    assert event.status is CallStatus.VOICEMAIL
    assert event.agent == "101"


def test_unknown_disposition_is_invalid() -> None:
    with pytest.raises(InvalidPayload, match=r"line 1, column 15 \(disposition\)"):
        one_csv(base_columns(disposition="MAYBE"))


# --- time zones ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("timezone", "local", "utc"),
    [
        ("UTC", "2026-01-15 10:00:00", datetime(2026, 1, 15, 10, 0, tzinfo=UTC)),
        ("Europe/Berlin", "2026-01-15 10:00:00", datetime(2026, 1, 15, 9, 0, tzinfo=UTC)),
        ("Europe/Berlin", "2026-07-15 10:00:00", datetime(2026, 7, 15, 8, 0, tzinfo=UTC)),
        ("America/New_York", "2026-01-15 10:00:00", datetime(2026, 1, 15, 15, 0, tzinfo=UTC)),
        ("Asia/Kolkata", "2026-01-15 10:00:00", datetime(2026, 1, 15, 4, 30, tzinfo=UTC)),
        ("Europe/Berlin", "2026-01-15T10:00:00+01:00", datetime(2026, 1, 15, 9, 0, tzinfo=UTC)),
        ("Europe/Berlin", "1768471200", datetime(2026, 1, 15, 10, 0, tzinfo=UTC)),
    ],
)
def test_times_are_read_in_the_configured_zone(timezone: str, local: str, utc: datetime) -> None:
    event = one_csv(base_columns(start=local, answer="", end=""), timezone=timezone)
    assert event.started_at == utc
    assert event.ended_at == utc.replace(minute=utc.minute + 3, second=7)


def test_default_zone_is_utc() -> None:
    event = one_csv(base_columns())
    assert event.started_at == datetime(2026, 1, 15, 10, 0, tzinfo=UTC)


def test_unknown_zone_is_reported_as_misconfiguration() -> None:
    with pytest.raises(InvalidPayload, match="unknown time zone") as caught:
        one_csv(base_columns(), timezone="Mars/Olympus")
    assert caught.value.field == "options"
    with pytest.raises(ValueError, match="unknown time zone"):
        asterisk.rules_from({"timezone": "../etc/passwd"})


# --- direction and agent ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "options", "direction"),
    [
        # The calling or called channel is a trunk.
        ({"channel": "PJSIP/trunk-telekom-01", "dcontext": "x"}, {}, CallDirection.INBOUND),
        ({"channel": "DAHDI/1-1", "src": "101", "dcontext": "x"}, {}, CallDirection.INBOUND),
        (
            {"channel": "PJSIP/101-01", "dstchannel": "SIP/trunk-x-02", "src": "101", "dst": "0"},
            {},
            CallDirection.OUTBOUND,
        ),
        # Contexts.
        ({"channel": "PJSIP/x-01", "dcontext": "ext-did", "src": "101"}, {}, CallDirection.INBOUND),
        (
            {
                "channel": "PJSIP/101-01",
                "dstchannel": "PJSIP/ovh-02",
                "src": "101",
                "dst": "+33611360468",
                "dcontext": "from-internal",
            },
            {},
            CallDirection.OUTBOUND,
        ),
        (
            {
                "channel": "PJSIP/101-01",
                "dstchannel": "PJSIP/102-02",
                "src": "101",
                "dst": "102",
                "dcontext": "from-internal",
            },
            {},
            CallDirection.INTERNAL,
        ),
        # Custom rules replace the defaults.
        (
            {"channel": "PJSIP/ovh-01", "dcontext": "x"},
            {"trunk_channel_prefixes": "PJSIP/ovh"},
            CallDirection.INBOUND,
        ),
        (
            {
                "channel": "PJSIP/101-01",
                "dstchannel": "PJSIP/102-02",
                "src": "101",
                "dst": "102",
                "dcontext": "my-in",
            },
            {"inbound_contexts": "my-in"},
            CallDirection.INBOUND,
        ),
        (
            {"channel": "PJSIP/trunk-telekom-01", "dcontext": "x"},
            {"trunk_channel_prefixes": ""},
            CallDirection.INBOUND,  # still inbound: external src -> extension
        ),
        # Fallback on the kinds of src and dst.
        (
            {
                "channel": "PJSIP/101-01",
                "dstchannel": "PJSIP/102-02",
                "src": "101",
                "dst": "102",
                "dcontext": "ext-local",
            },
            {},
            CallDirection.INTERNAL,
        ),
        (
            {
                "channel": "PJSIP/101-01",
                "dstchannel": "PJSIP/x-02",
                "src": "101",
                "dst": "030901820",
                "dcontext": "custom",
            },
            {},
            CallDirection.OUTBOUND,
        ),
        (
            {"channel": "PJSIP/x-01", "src": "+4930901820", "dst": "101", "dcontext": "custom"},
            {},
            CallDirection.INBOUND,
        ),
        (
            {"channel": "PJSIP/x-01", "src": "anonymous", "dst": "101", "dcontext": "custom"},
            {},
            CallDirection.INBOUND,
        ),
    ],
)
def test_direction_rules(
    values: dict[str, str], options: dict[str, str], direction: CallDirection
) -> None:
    defaults = {"dstchannel": "", "src": "+4930901820", "dst": "101"}
    event = one_csv(base_columns(**{**defaults, **values}), **options)
    assert event.direction is direction


def test_outbound_agent_is_the_calling_extension_and_counterpart_the_callee() -> None:
    event = one_csv(
        base_columns(
            src="101",
            dst="030901820",
            dcontext="from-internal",
            channel="PJSIP/101-00000010",
            dstchannel="PJSIP/trunk-telekom-00000011",
        )
    )
    assert event.direction is CallDirection.OUTBOUND
    assert event.agent == "101"
    assert event.counterpart == "+4930901820"


@pytest.mark.parametrize(
    ("channel", "endpoint"),
    [
        ("PJSIP/101-0000001a", "101"),
        ("SIP/101-00000abc", "101"),
        ("PJSIP/my-desk-phone-0000001a", "my-desk-phone"),
        ("IAX2/office-1234", "office"),
        ("Local/101@from-queue-00000001;2", "101"),
        ("PJSIP/101", "101"),
        ("", None),
        ("garbage", None),
        ("PJSIP/", None),
    ],
)
def test_endpoint_of(channel: str, endpoint: str | None) -> None:
    assert asterisk.endpoint_of(channel) == endpoint


def test_agent_of_a_queue_member_via_a_local_channel() -> None:
    event = one_csv(base_columns(dstchannel="Local/104@from-queue-00000007;1"))
    assert event.agent == "104"


# --- bad input -------------------------------------------------------------------------------


def test_one_bad_line_rejects_the_request_naming_line_and_column() -> None:
    bad = csv_line(base_columns(start="2026-13-45 10:00:00"))
    with pytest.raises(InvalidPayload) as caught:
        parse_csv("\n".join([ROW_PLAYBACK, bad, ROW_INTERNAL]) + "\n")
    assert caught.value.field == "line 2, column 10 (start)"
    assert "2026-13-45" in caught.value.detail


def test_line_numbers_count_physical_lines() -> None:
    bad = csv_line(base_columns(duration="abc"))
    with pytest.raises(InvalidPayload) as caught:
        parse_csv("\n\n" + ROW_PLAYBACK + "\n" + bad + "\n")
    assert caught.value.field == "line 4, column 13 (duration)"


@pytest.mark.parametrize(
    ("text", "field"),
    [
        (ROW_PLAYBACK + ',"extra","x","y","z"\n', "line 1"),  # 22 columns
        ('"a","b"\n', "line 1"),
        ('"a,"b"\n', "line 1"),  # a stray quote
        (csv_line(base_columns(start="")), "line 1, column 10 (start)"),
        (csv_line(base_columns(billsec="-3")), "line 1, column 14 (billsec)"),
        (csv_line(base_columns(answer="yesterday")), "line 1, column 11 (answer)"),
    ],
    ids=["too-many-columns", "too-few-columns", "bad-quote", "no-start", "negative", "bad-time"],
)
def test_bad_lines(text: str, field: str) -> None:
    with pytest.raises(InvalidPayload) as caught:
        parse_csv(text)
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ([], "body"),
        ([1], "[0]"),
        ("text", "body"),
        ({**AMI_CDR, "Event": "Newchannel"}, "Event"),
        ({**AMI_CDR, "Source": {"nested": 1}}, "Source"),
        ([AMI_CDR, {**AMI_CDR, "StartTime": ""}], "[1].StartTime"),
        ([AMI_CDR, {**AMI_CDR, "Duration": True}], "[1].Duration"),
    ],
    ids=["empty", "not-object", "string", "other-event", "nested", "no-start", "bool"],
)
def test_bad_json(document: Any, field: str) -> None:
    with pytest.raises(InvalidPayload) as caught:
        parse_json(document)
    assert caught.value.field == field


def test_empty_csv_body_is_invalid() -> None:
    with pytest.raises(InvalidPayload, match="no call records"):
        parse_csv("\n\n")


def test_too_many_records() -> None:
    line = csv_line(base_columns()) + "\n"
    with pytest.raises(InvalidPayload, match="more than"):
        parse_csv(line * (asterisk.MAX_CALLS_PER_REQUEST + 1))


def test_malformed_json_is_invalid() -> None:
    with pytest.raises(InvalidPayload):
        asterisk.parse(request(b"{not json", "application/json"), context(), DE)
