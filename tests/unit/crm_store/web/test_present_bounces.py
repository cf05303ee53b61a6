"""How the page words a bounce: whose address failed, for good or not yet, and why."""

from __future__ import annotations

from crm_store.web.present import bounce_reason, what_happened
from support.bounces import bounced


def payload(**changes: object) -> dict[str, object]:
    event = bounced("<b1@mx>", ["ann@client.example"], **changes)  # type: ignore[arg-type]
    return event.model_dump(mode="json", by_alias=True)


def test_a_permanent_bounce_says_the_address_does_not_take_mail_and_why() -> None:
    said = what_happened("mail", payload())
    assert said["title"] == (
        "Your e-mail to ann@client.example bounced: the address does not take mail"
    )
    assert said["detail"] == (
        "Reason: 5.1.1 550 5.1.1 <ann@client.example>: Recipient address rejected"
    )


def test_a_delay_says_there_is_nothing_to_do() -> None:
    said = what_happened("mail", payload(permanent=False, status="4.2.2", diagnostic=None))
    assert said["title"] == (
        "Your e-mail to ann@client.example is delayed: not delivered yet, nothing to do"
    )
    assert said["detail"] == "Reason: 4.2.2"


def test_without_a_reason_the_subject_is_shown() -> None:
    said = what_happened("mail", payload(status=None, diagnostic=None))
    assert said["detail"] == "Undelivered Mail Returned to Sender"
    assert bounce_reason({}) == ""
