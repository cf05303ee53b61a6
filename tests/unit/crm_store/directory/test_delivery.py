"""When an address is undeliverable, without a database: what a bounce marks, what a message
clears, and which of several marks and messages wins."""

from __future__ import annotations

from datetime import timedelta

from crm_store.core import Point
from crm_store.directory.delivery import (
    MAX_FAILED_RECIPIENTS,
    Mark,
    bounce_marks,
    heard_from,
    mark_of,
    next_mark,
    preferred_email,
    set_mark,
    undeliverable_of,
)
from support.bounces import T0, bounced, received, sent

ANN = "ann@client.example"


def test_a_permanent_bounce_marks_each_failed_address_once() -> None:
    event = bounced("<b1@mx>", [ANN, "ANN@client.example ", "bob@client.example"])
    marks = bounce_marks(event)
    assert [a for a, _ in marks] == [ANN, "bob@client.example"]
    assert marks[0][1] == Mark(
        since=T0,
        status="5.1.1",
        diagnostic="550 5.1.1 <ann@client.example>: Recipient address rejected",
        interaction_id="ce-<b1@mx>",
    )


def test_a_temporary_failure_marks_nothing() -> None:
    assert bounce_marks(bounced("<b1@mx>", [ANN], permanent=False, status="4.2.2")) == []


def test_a_bounce_naming_hundreds_of_addresses_marks_a_bounded_few() -> None:
    many = [f"user{n}@client.example" for n in range(500)]
    assert len(bounce_marks(bounced("<b1@mx>", many))) == MAX_FAILED_RECIPIENTS


def test_a_long_diagnostic_is_cut_to_the_column() -> None:
    [(_, mark)] = bounce_marks(bounced("<b1@mx>", [ANN], diagnostic="x" * 5000, status="5" * 40))
    assert (len(mark.diagnostic or ""), len(mark.status or "")) == (500, 16)


def test_only_a_message_from_the_address_shows_it_takes_mail() -> None:
    assert heard_from(received("<m1@client>", "Ann@Client.example")) == ANN
    assert heard_from(sent("<s1@our>", ANN)) is None  # we wrote to it: proves nothing
    assert heard_from(bounced("<b1@mx>", [ANN])) is None
    spoofed = received("<m2@x>", ANN).model_copy(
        update={"mail": received("<m2@x>", ANN).mail.model_copy(update={"spoofed_sender": True})}  # type: ignore[union-attr]
    )
    assert heard_from(spoofed) is None


def test_the_newest_failure_wins_and_a_later_message_clears_it() -> None:
    old = Mark(T0, "5.1.1", "gone", "ce-1")
    new = Mark(T0 + timedelta(days=1), "5.2.1", "disabled", "ce-2")
    assert next_mark(None, [], None) is None
    assert next_mark(None, [old], None) == old
    assert next_mark(old, [new], None) == new
    assert next_mark(new, [old], None) == new  # a late-delivered old bounce changes nothing
    assert next_mark(new, [], T0 + timedelta(days=2)) is None  # the client wrote since
    assert next_mark(new, [], T0) == new  # a message from before the bounce clears nothing
    # A bounce older than the client's last message does not mark the address again.
    assert next_mark(None, [old], T0 + timedelta(hours=1)) is None


def test_points_show_their_mark_and_the_preferred_address_skips_it() -> None:
    bad = Point(id="1", type="email", value=ANN, active=True, position=0)
    good = Point(id="2", type="email", value="ann@home.example", active=True, position=1)
    phone = Point(id="3", type="phone", value="+14155550123", active=True, position=0)
    mark = Mark(T0, "5.1.1", "gone", "ce-1")
    set_mark(bad, mark)
    assert mark_of(bad) == mark
    assert mark_of(good) is None
    assert preferred_email([phone, bad, good]) == "ann@home.example"
    assert preferred_email([bad]) is None
    [out] = undeliverable_of([bad, good, bad])
    assert (out.email, out.since, out.status, out.interaction_id) == (ANN, T0, "5.1.1", "ce-1")
    set_mark(bad, None)
    assert mark_of(bad) is None
    assert bad.undeliverable_status is None
