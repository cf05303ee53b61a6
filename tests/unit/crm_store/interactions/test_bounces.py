"""What a bounce is about, without a database: which Message-IDs name the returned message, and
which link and thread the bounce takes."""

from __future__ import annotations

from crm_store.directory import Link, LinkKind
from crm_store.interactions.bounces import (
    MESSAGE_ID_CHARS,
    Original,
    failed_recipients,
    is_bounce,
    linked_bounce,
    message_columns,
    original_of,
    reply_flag,
    returned_ids,
)
from support.bounces import T0, bounced, received, sent

ANN = "ann@client.example"
ANNS = Link(contact_id="c-ann", company_id="co-1", kind=LinkKind.CONTACT)


def test_the_returned_message_is_named_first_then_what_the_bounce_and_it_answer() -> None:
    event = bounced(
        "<b1@mx>",
        [ANN],
        original="<quote@our.example>",
        in_reply_to="<quote@our.example>",
        original_in_reply_to="<ask@client.example>",
    )
    assert returned_ids(event) == ["<quote@our.example>", "<ask@client.example>"]
    assert returned_ids(bounced("<b2@mx>", [ANN])) == []
    assert returned_ids(received("<m1@client>", ANN)) == []  # not a bounce: nothing to look up
    assert all(
        len(i) <= MESSAGE_ID_CHARS
        for i in returned_ids(bounced("<b3@mx>", [ANN], original="<" + "x" * 5000 + ">"))
    )


def test_a_bounce_tag_without_a_read_bounce_still_looks_for_what_it_answers() -> None:
    event = received("<m1@mx>", "postmaster@client.example").model_copy(update={"tags": ["bounce"]})
    event = event.model_copy(
        update={"mail": event.mail.model_copy(update={"in_reply_to": "<quote@our>"})}  # type: ignore[union-attr]
    )
    assert is_bounce(event)
    assert returned_ids(event) == ["<quote@our>"]
    assert failed_recipients(event) == []


def test_the_first_known_id_names_the_original() -> None:
    known = {"<ask@client>": Original(ANNS, "<ask@client>")}
    assert original_of(["<quote@our>", "<ask@client>"], known) == known["<ask@client>"]
    assert original_of(["<quote@our>"], known) is None


def test_a_bounce_takes_the_returned_messages_link_and_thread() -> None:
    original = Original(ANNS, "<t1@client>")
    someone = Link(contact_id="c-bob", kind=LinkKind.CONTACT)
    assert linked_bounce(original, someone) == (ANNS, "<t1@client>")
    # The returned message linked nobody: whoever has the failed address, in its thread.
    assert linked_bounce(Original(Link(), "<t1@client>"), someone) == (someone, "<t1@client>")
    assert linked_bounce(None, someone) == (someone, None)
    assert linked_bounce(None, None) == (None, None)
    assert linked_bounce(None, Link()) == (None, None)


def test_message_columns_carry_the_linked_thread() -> None:
    quote = sent("<quote@our>", ANN, thread_id="<t1@client>")
    assert message_columns(quote, None) == {"message_id": "<quote@our>", "thread_id": "<t1@client>"}
    bounce = bounced("<b1@mx>", [ANN])
    assert message_columns(bounce, "<t1@client>")["thread_id"] == "<t1@client>"


def test_the_reply_flag_says_which_address_bounced_and_why() -> None:
    flag = reply_flag(bounced("<b1@mx>", [ANN]), ANN)
    assert flag == {
        "address": ANN,
        "status": "5.1.1",
        "diagnostic": "550 5.1.1 <ann@client.example>: Recipient address rejected",
        "interaction_id": "ce-<b1@mx>",
        "at": T0.isoformat(),
    }
