"""How the page links numbers, addresses and recordings: one tap calls, writes or listens, and
nothing from a payload becomes a link that is not a plain web address."""

from __future__ import annotations

import pytest

from crm_store.web.present import counterpart_href, recording_url, what_happened, why_text


@pytest.mark.parametrize(
    ("counterpart", "href"),
    [
        ("+14155550123", "tel:+14155550123"),
        ("ann@client.example", "mailto:ann@client.example"),
        ("o'brien+x@client.example", "mailto:o%27brien+x@client.example"),
        ('"><script>@x.example', "mailto:%22%3E%3Cscript%3E@x.example"),
        (None, ""),  # withheld
        ("", ""),
        ("101", ""),  # not an E.164 number: nothing to dial from a phone
    ],
)
def test_numbers_and_addresses_become_tel_and_mailto_links(
    counterpart: str | None, href: str
) -> None:
    assert counterpart_href(counterpart) == href


@pytest.mark.parametrize(
    ("url", "linked"),
    [
        ("https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1", True),
        ("http://pbx.example/rec/1.wav", True),
        ("javascript:alert(1)", False),
        ("data:text/html,<script>alert(1)</script>", False),
        ("//evil.example/x", False),
        ("https://" + "a" * 3000, False),
        (42, False),
        (None, False),
    ],
)
def test_only_plain_web_addresses_of_recordings_are_linked(url: object, linked: bool) -> None:
    assert bool(recording_url({"recording_url": url})) is linked


def test_a_calls_recording_is_on_what_happened() -> None:
    payload = {
        "call": {
            "direction": "outbound",
            "status": "answered",
            "talk_s": 65,
            "recording_url": "https://pbx.example/rec/9.wav",
        }
    }
    what = what_happened("call", payload)
    assert what["title"] == "Outbound call, answered, 1 min, 5 sec of talk"
    assert what["recording"] == "https://pbx.example/rec/9.wav"


@pytest.mark.parametrize(
    ("kind", "tags", "counterpart", "words"),
    [
        ("callback", [], "+14155550123", "They called and nobody answered."),
        ("callback", ["missed", "voicemail"], "+14155550123", "They called and left a voicemail."),
        ("callback", ["withheld"], None, "A withheld number called."),
        ("log_outcome", [], "+14155550123", "You talked: how did it go?"),
        ("reply", [], "ann@client.example", "They wrote and are waiting for an answer."),
        ("identify_contact", [], "ann@client.example", "No contact has this address yet."),
        ("identify_contact", [], "+14155550123", "No contact has this number yet."),
    ],
)
def test_why_a_card_asks_is_said_in_words(
    kind: str, tags: list[str], counterpart: str | None, words: str
) -> None:
    assert why_text(kind, tags, counterpart) == words
