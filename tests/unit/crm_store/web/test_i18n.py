"""The request's language: the picker's choice, else `Accept-Language`, else English; and what
the page writes in it (times, durations, numbers, plurals, phone numbers of the user's region)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from crm_store.web import i18n, present


@pytest.fixture(autouse=True)
def english_after() -> Iterator[None]:
    yield
    i18n.bind("en")


@pytest.mark.parametrize(
    ("cookie", "header", "code"),
    [
        (None, None, "en"),
        (None, "pl-PL,pl;q=0.9,en-US;q=0.8", "pl"),
        (None, "de-DE, lt;q=0.7, lv;q=0.9", "lv"),  # the highest quality we have
        (None, "ms-MY", "ms"),
        (None, "ta-IN,ta;q=0.9", "ta"),
        (None, "ja, fr;q=0.5", "en"),
        (None, "pl;q=0", "en"),  # q=0: not acceptable
        (None, "pl;q=abc, lt", "lt"),
        ("ta", "pl-PL", "ta"),  # the user's choice wins
        ("xx", "lv", "lv"),  # an unknown choice is ignored
        (None, "x" * 5000, "en"),
    ],
)
def test_the_language_is_the_choice_else_the_browsers_else_english(
    cookie: str | None, header: str | None, code: str
) -> None:
    assert i18n.negotiate(cookie, header) == code


def test_messages_and_plurals_follow_the_language() -> None:
    i18n.bind("pl")
    assert i18n._("Inbox") == "Skrzynka"
    assert i18n._("Taken by %(name)s", name="Ann") == "Zajmuje się: Ann"
    found = "%(num)s contact found.", "%(num)s contacts found."
    assert [i18n.ngettext(*found, n) for n in (1, 3, 5, 22)] == [
        "Znaleziono 1 kontakt.",
        "Znaleziono 3 kontakty.",
        "Znaleziono 5 kontaktów.",
        "Znaleziono 22 kontakty.",
    ]
    i18n.bind("lt")
    assert [i18n.ngettext(*found, n) for n in (1, 21, 3, 10)] == [
        "Rastas 1 kontaktas.",
        "Rastas 21 kontaktas.",
        "Rasti 3 kontaktai.",
        "Rasta 10 kontaktų.",
    ]
    i18n.bind("en")
    assert i18n.ngettext(*found, 1) == "1 contact found."


def test_times_durations_and_numbers_are_written_as_the_locale_writes_them() -> None:
    at = datetime(2026, 3, 5, 14, 7, tzinfo=UTC)
    i18n.bind("en")
    assert present.stamp(at) == "Mar 5, 2026, 2:07\u202fPM UTC"
    assert present.ago(at + timedelta(minutes=12), at) == "12 minutes ago"
    assert present.duration(65) == "1 min, 5 sec"
    assert present.number(12345) == "12,345"
    i18n.bind("pl")
    assert present.stamp(at) == "5 mar 2026, 14:07 UTC"
    assert present.ago(at + timedelta(minutes=12), at) == "12 minut temu"
    assert present.ago(at + timedelta(seconds=20), at) == "przed chwilą"
    assert present.duration(65) == "1 min i 5 sek."
    assert present.number(12345) == "12\xa0345"
    assert present.share(2, 3) == "67%"
    i18n.bind("lt")
    assert present.share(2, 3) == "67\xa0%"
    i18n.bind("ta")
    assert present.kind_label("callback") == "திரும்ப அழைக்கவும்"


def test_numbers_of_the_users_region_are_national_others_international() -> None:
    i18n.bind("pl", region="PL")
    assert present.counterpart_text("+48221234567") == "22 123 45 67"
    assert present.counterpart_text("+14155550123") == "+1 415-555-0123"
    i18n.bind("en", region="US")
    assert present.counterpart_text("+14155550123") == "(415) 555-0123"
    assert present.counterpart_text(None) == "Withheld number"


def test_a_presets_label_in_the_users_language_when_the_administrator_gave_one() -> None:
    class Preset:
        label = "Call back later"
        labels = {"pl": "Oddzwonić później", "lv": "  "}

    class Plain:
        label = "Completed"

    i18n.bind("pl")
    assert present.preset_label(Preset()) == "Oddzwonić później"
    assert present.preset_label(Plain()) == "Completed"
    i18n.bind("lv")
    assert present.preset_label(Preset()) == "Call back later"  # blank: the label
