"""The outcome policy: a conversation the rules leave to a person asks for an outcome only when
the administrator's policy says it matters."""

from __future__ import annotations

import pytest

from crm_store.activities import OutcomeFacts, asks_outcome, domain
from switchboard_shared.events import ActivityKind
from switchboard_shared.settings.groups import OutcomeSettings
from unit.crm_store.activities.test_domain import call, mail

DEFAULT = OutcomeSettings()
KNOWN_AGAIN = OutcomeFacts(first_conversation=False, unknown_counterpart=False, owner_id="m-1")


def test_the_default_asks_for_first_conversations_new_clients_and_long_calls() -> None:
    short = call("needs_status", status="answered", talk_s=60)
    assert asks_outcome(short, DEFAULT, OutcomeFacts(first_conversation=True))
    assert asks_outcome(short, DEFAULT, OutcomeFacts(unknown_counterpart=True))
    assert not asks_outcome(short, DEFAULT, KNOWN_AGAIN)
    long = call("needs_status", status="answered", talk_s=120)
    assert asks_outcome(long, DEFAULT, KNOWN_AGAIN)


@pytest.mark.parametrize(
    ("policy", "talk_s", "facts", "asks"),
    [
        (OutcomeSettings(ask=False), 900, OutcomeFacts(first_conversation=True), False),
        (OutcomeSettings(min_talk_min=5), 299, KNOWN_AGAIN, False),
        (OutcomeSettings(min_talk_min=5), 300, KNOWN_AGAIN, True),
        (OutcomeSettings(min_talk_min=0), 3600, KNOWN_AGAIN, False),
        (OutcomeSettings(min_talk_min=0, owners=["m-1"]), 30, KNOWN_AGAIN, True),
        (OutcomeSettings(min_talk_min=0, owners=["m-2"]), 30, KNOWN_AGAIN, False),
        (
            OutcomeSettings(first_conversation=False, unknown_counterpart=False, min_talk_min=0),
            30,
            OutcomeFacts(first_conversation=True, unknown_counterpart=True),
            False,
        ),
    ],
)
def test_each_condition_of_the_policy(
    policy: OutcomeSettings, talk_s: float, facts: OutcomeFacts, asks: bool
) -> None:
    event = call("needs_status", status="answered", talk_s=talk_s)
    assert asks_outcome(event, policy, facts) is asks


def test_a_voicemail_nobody_answered_always_asks_and_mail_follows_its_switch() -> None:
    voicemail = call("needs_status", status="voicemail")
    assert asks_outcome(voicemail, OutcomeSettings(min_talk_min=0), KNOWN_AGAIN)
    message = mail("needs_status")
    assert asks_outcome(message, DEFAULT, KNOWN_AGAIN)
    assert not asks_outcome(message, OutcomeSettings(mail=False), KNOWN_AGAIN)


def test_decide_opens_no_outcome_request_when_the_policy_says_no() -> None:
    event = call("needs_status", status="answered", talk_s=60)
    asked = domain.decide(event, [], ask_outcome=True)
    assert [d.kind for d in asked if isinstance(d, domain.Open)] == [ActivityKind.LOG_OUTCOME]
    assert domain.decide(event, [], ask_outcome=False) == []
