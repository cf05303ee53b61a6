"""The managers' page against cross-site requests and script injection.

A POST needs the session's CSRF token and must come from the page's own origin; signing in
needs the login form's nonce. Names, subjects and message text an outsider controls are
rendered as text, never markup, and every page carries a Content-Security-Policy that would
refuse an inline script anyway.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest

from security.conftest import OUR_DOMAIN
from security.page import api, browser, csrf_of, hidden, new_contact, post_mail, sign_in
from support.stack import ADMIN_TOKEN, Stack

pytestmark = pytest.mark.security

SCRIPT = "<script>alert(1)</script>"
ATTRIBUTE = '"><img src=x onerror=alert(2)>'
RAW_MARKUP = ("<script>alert", "<img src=x", "onerror=alert(2)>")


@pytest.fixture(scope="module")
def admin_page(stack: Stack) -> Any:
    with sign_in(stack, ADMIN_TOKEN) as page:
        yield page


def search(
    page: httpx.Client, headers: dict[str, str] | None = None, **form: str
) -> httpx.Response:
    return page.post("/contacts/search", data={"q": "nobody", **form}, headers=headers or {})


def test_a_post_without_the_csrf_token_is_refused(admin_page: httpx.Client) -> None:
    csrf = csrf_of(admin_page.get("/contacts").text)
    assert search(admin_page).status_code == 403
    assert search(admin_page, csrf="0" * len(csrf)).status_code == 403
    assert search(admin_page, {"X-CSRF-Token": "forged"}).status_code == 403
    assert search(admin_page, csrf=csrf).status_code == 200  # the control


def test_a_post_from_another_site_is_refused(stack: Stack, admin_page: httpx.Client) -> None:
    csrf = csrf_of(admin_page.get("/contacts").text)
    own = stack.url("crm_store")
    assert search(admin_page, {"Origin": "http://evil.example"}, csrf=csrf).status_code == 403
    assert search(admin_page, {"Origin": "null"}, csrf=csrf).status_code == 403
    assert search(admin_page, {"Sec-Fetch-Site": "cross-site"}, csrf=csrf).status_code == 403
    assert search(admin_page, {"Sec-Fetch-Site": "same-site"}, csrf=csrf).status_code == 403
    same = {"Origin": own, "Sec-Fetch-Site": "same-origin"}
    assert search(admin_page, same, csrf=csrf).status_code == 200


def test_signing_in_needs_the_forms_nonce_and_our_origin(stack: Stack) -> None:
    with browser(stack) as client:
        nonce = hidden(client.get("/login").text, "csrf")
        other_site = client.post(
            "/login",
            data={"csrf": nonce, "token": ADMIN_TOKEN},
            headers={"Origin": "http://evil.example"},
        )
        assert other_site.status_code == 403
    with browser(stack) as client:  # a forged form: no nonce cookie
        forged = client.post("/login", data={"csrf": "guess", "token": ADMIN_TOKEN})
        assert forged.status_code == 400
        assert not client.cookies.get("sb_session")
    with browser(stack) as client:
        nonce = hidden(client.get("/login").text, "csrf")
        signed_in = client.post("/login", data={"csrf": nonce, "token": ADMIN_TOKEN})
        assert signed_in.status_code == 303
        cookie = signed_in.headers["set-cookie"].lower()
        assert "httponly" in cookie, cookie
        assert "samesite=strict" in cookie, cookie


def assert_escaped(html: str, *texts: str) -> None:
    for raw in RAW_MARKUP:
        assert raw not in html, f"unescaped markup {raw!r} on the page"
    for text in texts:
        escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        assert escaped.replace('"', "&#34;") in html or escaped.replace('"', "&quot;") in html, (
            f"{text!r} is not shown as text"
        )


def test_a_hostile_contact_name_is_shown_as_text(stack: Stack, admin_page: httpx.Client) -> None:
    with api(stack) as admin:
        created = admin.post(
            "/contacts",
            json={"first_name": SCRIPT, "last_name": ATTRIBUTE, "title": SCRIPT, "force": True},
        )
    assert created.status_code == 201, created.text
    contact = created.json()
    page = admin_page.get(f"/contacts/{contact['id']}")
    assert page.status_code == 200, page.text
    assert_escaped(page.text, SCRIPT, ATTRIBUTE)

    csrf = csrf_of(page.text)
    hits = admin_page.post("/contacts/search", data={"q": "script", "csrf": csrf})
    assert hits.status_code == 200
    assert contact["id"] in hits.text
    assert_escaped(hits.text, SCRIPT)


def test_hostile_mail_is_shown_as_text(stack: Stack, admin_page: httpx.Client) -> None:
    """Subject, sender name and text come from anyone who can send us mail."""
    sender = f"x{uuid.uuid4().hex[:6]}@evil.example"
    contact_id = new_contact(stack, "Eve", sender)
    raw = (
        f'From: "{SCRIPT}" <{sender}>\r\nTo: sales@{OUR_DOMAIN}\r\n'
        f"Subject: {ATTRIBUTE}\r\nMessage-ID: <{uuid.uuid4().hex}@evil.example>\r\n"
        f"Date: Tue, 01 Dec 2026 10:00:00 +0000\r\n\r\n{SCRIPT} please answer {ATTRIBUTE}\r\n"
    ).encode()
    post_mail(stack, raw)

    deadline = time.monotonic() + 30
    while "please answer" not in (page := admin_page.get(f"/contacts/{contact_id}")).text:
        assert time.monotonic() < deadline, "the message never reached the timeline"
        time.sleep(0.2)
    assert_escaped(page.text, ATTRIBUTE)
    inbox = admin_page.get("/")
    assert inbox.status_code == 200
    assert_escaped(inbox.text)


@pytest.mark.parametrize("path", ["/", "/login", "/contacts", "/contacts/no-such-contact"])
def test_every_page_carries_a_strict_policy(admin_page: httpx.Client, path: str) -> None:
    response = admin_page.get(path)
    policy = response.headers.get("content-security-policy", "")
    assert "script-src 'self'" in policy, policy
    assert "unsafe-inline" not in policy, policy
    assert "unsafe-eval" not in policy, policy
    assert "frame-ancestors 'none'" in policy, policy
    assert response.headers.get("x-content-type-options") == "nosniff"
    assert response.headers.get("cache-control") == "no-store"


SERVICES = ["ingest_calls", "ingest_mail", "classifier", "crm_store"]


@pytest.mark.parametrize("service", SERVICES)
def test_api_answers_load_nothing(stack: Stack, service: str) -> None:
    """JSON answers, errors included, carry a policy that forbids everything."""
    with httpx.Client(base_url=stack.url(service), timeout=10) as client:
        for response in (client.get("/healthz"), client.get("/no-such-path")):
            policy = response.headers.get("content-security-policy", "")
            assert "default-src 'none'" in policy, (response.url, policy)
            assert response.headers.get("x-frame-options") == "DENY"
            assert response.headers.get("x-content-type-options") == "nosniff"


@pytest.mark.parametrize("service", SERVICES)
def test_docs_load_nothing_from_another_site(stack: Stack, service: str) -> None:
    """/docs, where served, loads its scripts from the service itself."""
    docs = httpx.get(f"{stack.url(service)}/docs", timeout=10)
    if docs.status_code == 200:
        assert "https://" not in docs.text, "the docs page loads scripts from another site"
