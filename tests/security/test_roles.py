"""What a role may not read stays unread by every way in: an operator (contacts' personal data)
reads no activity, so no manager's note, through the API's timeline or the page's."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from security.conftest import OUR_DOMAIN
from security.page import api, new_contact, person, post_mail, sign_in
from support.stack import Stack

pytestmark = pytest.mark.security


def reply_activity(stack: Stack, address: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    with api(stack) as admin:
        while True:
            listed = admin.get("/activities", params={"kind": "reply", "limit": "200"})
            assert listed.status_code == 200, listed.text
            found: list[dict[str, Any]] = [
                a for a in listed.json()["items"] if a.get("counterpart") == address
            ]
            if found:
                return found[0]
            assert time.monotonic() < deadline, "no reply activity for the client"
            time.sleep(0.2)


def test_an_operator_reads_no_managers_note(stack: Stack) -> None:
    client = f"c{uuid.uuid4().hex[:6]}@client-company.example"
    note = f"private-note-{uuid.uuid4().hex}"
    contact_id = new_contact(stack, "Carol", client)
    raw = (
        f"From: Carol <{client}>\r\nTo: sales@{OUR_DOMAIN}\r\nSubject: A question\r\n"
        f"Message-ID: <{uuid.uuid4().hex}@client-company.example>\r\n\r\nCan you call me?\r\n"
    ).encode()
    post_mail(stack, raw)
    activity = reply_activity(stack, client)
    with api(stack) as admin:
        noted = admin.post(
            f"/activities/{activity['id']}/status", json={"preset": "in_progress", "note": note}
        )
        assert noted.status_code == 200, noted.text
        assert note in admin.get(f"/contacts/{contact_id}/timeline").text  # the control

    operator = person(stack, "operator", f"o{uuid.uuid4().hex[:8]}")
    with api(stack, operator.token) as own:
        timeline = own.get(f"/contacts/{contact_id}/timeline")
        assert timeline.status_code == 200, timeline.text
        assert note not in timeline.text, "an operator read a manager's note in the timeline"
        assert own.get(f"/activities/{activity['id']}").status_code == 403
    with sign_in(stack, operator.token) as page:
        shown = page.get(f"/contacts/{contact_id}")
        assert shown.status_code == 200, shown.text
        assert note not in shown.text, "an operator read a manager's note on the page"
