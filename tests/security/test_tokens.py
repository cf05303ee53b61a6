"""Stolen credentials stop working when an admin says so: a revoked token at once, an expired
token at its time, a deactivated manager's tokens and page sessions at once. The page's cookie
holds a session id, never the API token."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from security.page import api, person, sign_in
from support.stack import ADMIN_TOKEN, Stack

pytestmark = pytest.mark.security


def name() -> str:
    return f"m{uuid.uuid4().hex[:8]}"


def test_a_revoked_token_is_refused_at_once(stack: Stack) -> None:
    mallory = person(stack, "supervisor", name())
    with api(stack, mallory.token) as stolen, api(stack) as admin:
        assert stolen.get("/activities").status_code == 200
        listed = admin.get("/tokens", params={"manager_id": mallory.id})
        assert listed.status_code == 200, listed.text
        [info] = listed.json()
        assert info["id"] == mallory.token_id
        assert info["state"] == "active"
        assert mallory.token not in listed.text, "a listing shows the secret"

        assert admin.delete(f"/tokens/{mallory.token_id}").status_code == 204
        refused = stolen.get("/activities")
        assert refused.status_code == 401, refused.text
        assert stolen.post("/tokens", json={"role": "admin"}).status_code == 401
        [info] = admin.get("/tokens", params={"manager_id": mallory.id}).json()
        assert info["state"] == "revoked"


def test_an_expired_token_is_refused(stack: Stack) -> None:
    mallory = person(stack, "viewer", name())
    expires = datetime.now(UTC) + timedelta(seconds=2)
    with api(stack) as admin:
        issued = admin.post(
            "/tokens", json={"manager_id": mallory.id, "expires_at": expires.isoformat()}
        )
    assert issued.status_code == 201, issued.text
    with api(stack, issued.json()["token"]) as short:
        assert short.get("/activities").status_code == 200
        deadline = time.monotonic() + 10
        while short.get("/activities").status_code == 200:
            assert time.monotonic() < deadline, "the token outlived its expiry"
            time.sleep(0.2)
        assert datetime.now(UTC) >= expires
        assert short.get("/activities").status_code == 401


def test_deactivating_a_manager_ends_their_tokens_and_page_session(stack: Stack) -> None:
    leaver = person(stack, "manager", name())
    with sign_in(stack, leaver.token) as page, api(stack, leaver.token) as own:
        cookies = dict(page.cookies)
        assert cookies, "no session cookie"
        assert all(leaver.token not in value for value in cookies.values()), (
            "the cookie holds the API token"
        )
        assert page.get("/").status_code == 200
        assert own.get("/activities", params={"assignee": "me"}).status_code == 200

        with api(stack) as admin:
            patched = admin.patch(f"/managers/{leaver.id}", json={"active": False})
            assert patched.status_code == 200, patched.text
            assert patched.json()["active"] is False

            ended = page.get("/")
            assert ended.status_code == 303, ended.text
            assert ended.headers["location"] == "/login"
            assert own.get("/activities", params={"assignee": "me"}).status_code == 401
            # No new token for a deactivated manager.
            assert admin.post("/tokens", json={"manager_id": leaver.id}).status_code == 409
            # Reactivated: the old token and session stay dead.
            assert admin.patch(f"/managers/{leaver.id}", json={"active": True}).status_code == 200
            assert own.get("/activities", params={"assignee": "me"}).status_code == 401
            assert page.get("/").status_code == 303


def test_a_session_cookie_alone_is_not_a_token(stack: Stack) -> None:
    """The cookie's value is no bearer token for the API."""
    with sign_in(stack, ADMIN_TOKEN) as admin_page:
        for value in dict(admin_page.cookies).values():
            with api(stack, value) as forged:
                assert forged.get("/activities").status_code == 401
