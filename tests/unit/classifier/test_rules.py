"""The call rules: `classifier.rules.classify_call`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from classifier.rules import RULES_VERSION, Verdict, classify_call
from switchboard_shared.events import CallDirection, CallRecorded, CallStatus, Disposition, Tag
from switchboard_shared.phone import PhonePolicy, normalise_phone

US = PhonePolicy(default_region="US")
STARTED = datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)
CLIENT = "+1 (415) 555-2671"
CLIENT_E164 = "+14155552671"
EXTENSION = "101"

D = Disposition
T = Tag
ANSWERED = CallStatus.ANSWERED
NOT_ANSWERED = [CallStatus.NO_ANSWER, CallStatus.BUSY, CallStatus.CANCELED, CallStatus.FAILED]


def make_call(
    direction: CallDirection, status: CallStatus, caller: str | None, callee: str | None
) -> CallRecorded:
    from_ = normalise_phone(caller, US)
    to = normalise_phone(callee, US)
    party = from_ if direction is CallDirection.INBOUND else to
    counterpart = None if direction is CallDirection.INTERNAL else party.e164
    answered = status is ANSWERED
    return CallRecorded(
        call_id=f"generic:{direction.value}-{status.value}",
        provider="generic",
        direction=direction,
        status=status,
        started_at=STARTED,
        answered_at=STARTED + timedelta(seconds=9) if answered else None,
        ended_at=STARTED + timedelta(seconds=120),
        from_=from_,
        to=to,
        counterpart=counterpart,
        agent=EXTENSION,
    )


def inbound(status: CallStatus, caller: str | None = CLIENT) -> CallRecorded:
    return make_call(CallDirection.INBOUND, status, caller, EXTENSION)


def outbound(status: CallStatus, callee: str | None = CLIENT) -> CallRecorded:
    return make_call(CallDirection.OUTBOUND, status, EXTENSION, callee)


def internal(status: CallStatus) -> CallRecorded:
    return make_call(CallDirection.INTERNAL, status, EXTENSION, "102")


CASES: list[tuple[str, CallRecorded, Disposition, list[Tag], str]] = [
    *[
        (f"inbound-{s.value}", inbound(s), D.CALLBACK, [T.MISSED], "call.missed_inbound")
        for s in NOT_ANSWERED
    ],
    (
        "inbound-voicemail",
        inbound(CallStatus.VOICEMAIL),
        D.CALLBACK,
        [T.MISSED, T.VOICEMAIL],
        "call.missed_inbound",
    ),
    ("inbound-answered", inbound(ANSWERED), D.NEEDS_STATUS, [], "call.conversation"),
    (
        "inbound-answered-withheld",
        inbound(ANSWERED, caller="anonymous"),
        D.NEEDS_STATUS,
        [],
        "call.conversation",
    ),
    *[
        (
            f"inbound-{s.value}-withheld",
            inbound(s, caller="anonymous"),
            D.AUTO_CLOSED,
            [T.MISSED, T.WITHHELD],
            "call.missed_withheld",
        )
        for s in NOT_ANSWERED
    ],
    (
        "inbound-no_answer-no-caller-id",
        inbound(CallStatus.NO_ANSWER, caller=None),
        D.AUTO_CLOSED,
        [T.MISSED, T.WITHHELD],
        "call.missed_withheld",
    ),
    (
        "inbound-voicemail-withheld",
        inbound(CallStatus.VOICEMAIL, caller="Restricted"),
        D.NEEDS_STATUS,
        [T.MISSED, T.VOICEMAIL, T.WITHHELD],
        "call.voicemail_withheld",
    ),
    *[
        (f"internal-{s.value}", internal(s), D.AUTO_CLOSED, [T.INTERNAL], "call.internal")
        for s in [ANSWERED, *NOT_ANSWERED, CallStatus.VOICEMAIL]
    ],
    ("outbound-answered", outbound(ANSWERED), D.NEEDS_STATUS, [], "call.conversation"),
    *[
        (f"outbound-{s.value}", outbound(s), D.LOGGED, [T.ATTEMPT], "call.outbound_attempt")
        for s in [*NOT_ANSWERED, CallStatus.VOICEMAIL]
    ],
]


def test_cases_are_realistic() -> None:
    assert inbound(CallStatus.BUSY).counterpart == CLIENT_E164
    assert outbound(CallStatus.BUSY).counterpart == CLIENT_E164
    assert inbound(CallStatus.BUSY, caller="anonymous").counterpart is None
    assert internal(ANSWERED).counterpart is None


@pytest.mark.parametrize(
    ("call", "disposition", "tags", "rule"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_classify_call(
    call: CallRecorded, disposition: Disposition, tags: list[Tag], rule: str
) -> None:
    verdict = classify_call(call)
    assert isinstance(verdict, Verdict)
    assert verdict.disposition is disposition
    assert verdict.tags == tags
    assert [r.rule for r in verdict.reasons] == [rule]


@pytest.mark.parametrize("call", [case[1] for case in CASES], ids=[case[0] for case in CASES])
def test_every_verdict_has_a_reason_with_a_rule_id(call: CallRecorded) -> None:
    verdict = classify_call(call)
    assert len(verdict.reasons) >= 1
    for reason in verdict.reasons:
        assert reason.rule.startswith("call.")
        assert reason.detail


@pytest.mark.parametrize(
    ("call", "detail"),
    [
        (inbound(CallStatus.BUSY), "inbound call busy"),
        (inbound(CallStatus.VOICEMAIL), "inbound call voicemail"),
        (outbound(CallStatus.NO_ANSWER), "outbound call no_answer"),
        (inbound(ANSWERED), "inbound call answered"),
        (outbound(ANSWERED), "outbound call answered"),
    ],
)
def test_reason_detail_says_what_happened(call: CallRecorded, detail: str) -> None:
    assert classify_call(call).reasons[0].detail == detail


def test_the_detail_carries_no_personal_data() -> None:
    for _, call, *_ in CASES:
        for reason in classify_call(call).reasons:
            assert CLIENT_E164 not in reason.detail
            assert "415" not in reason.detail


def test_classification_is_deterministic() -> None:
    call = inbound(CallStatus.VOICEMAIL)
    assert classify_call(call) == classify_call(call)


def test_rules_version() -> None:
    assert RULES_VERSION == "calls-1"
