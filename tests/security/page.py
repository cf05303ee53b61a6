"""The managers' page and the API as an outsider and as a signed-in browser see them: plain
HTTP clients that keep cookies, signing in through the login form; and what puts hostile data
on the page: contacts through the API, mail through ingest-mail's HTTP door."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from security.conftest import MAIL_TOKEN, OUR_DOMAIN
from support.stack import ADMIN_TOKEN, Stack

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def api(stack: Stack, token: str = ADMIN_TOKEN) -> httpx.Client:
    return httpx.Client(
        base_url=f"{stack.url('crm_store')}/api/v1",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )


def browser(stack: Stack) -> httpx.Client:
    """Keeps cookies, follows no redirects (a test reads them)."""
    return httpx.Client(base_url=stack.url("crm_store"), timeout=10)


def hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, f"no hidden field {name}"
    return match.group(1)


def csrf_of(html: str) -> str:
    match = re.search(r'<meta name="csrf-token" content="([^"]+)">', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


@contextmanager
def sign_in(stack: Stack, token: str) -> Iterator[httpx.Client]:
    """A browser signed in through the login form."""
    with browser(stack) as client:
        form = client.get("/login")
        assert form.status_code == 200, form.text
        response = client.post("/login", data={"csrf": hidden(form.text, "csrf"), "token": token})
        assert response.status_code == 303, response.text
        assert response.headers["location"] == "/"
        yield client


@dataclass(frozen=True)
class Person:
    id: str
    token: str
    token_id: str


def person(stack: Stack, role: str, name: str) -> Person:
    with api(stack) as admin:
        body: dict[str, Any] = {"name": name, "email": f"{name}@acme-corp.com", "role": role}
        created = admin.post("/managers", json=body)
        assert created.status_code == 201, created.text
        manager_id = created.json()["id"]
        issued = admin.post("/tokens", json={"manager_id": manager_id})
        assert issued.status_code == 201, issued.text
    return Person(manager_id, issued.json()["token"], issued.json()["id"])


def new_contact(stack: Stack, first_name: str, email: str) -> str:
    """A contact with this address, created as the admin (no duplicate check); its id."""
    with api(stack) as admin:
        created = admin.post(
            "/contacts", json={"first_name": first_name, "emails": [email], "force": True}
        )
    assert created.status_code == 201, created.text
    contact_id: str = created.json()["id"]
    return contact_id


def post_mail(stack: Stack, raw: bytes, folder: str | None = None) -> dict[str, Any]:
    """A message handed to ingest-mail's HTTP door for sales@ our domain; its answer."""
    params = {"mailbox": f"sales@{OUR_DOMAIN}", **({"folder": folder} if folder else {})}
    response = httpx.post(
        f"{stack.url('ingest_mail')}/messages",
        params=params,
        content=raw,
        headers={"Content-Type": "message/rfc822", "Authorization": f"Bearer {MAIL_TOKEN}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body
