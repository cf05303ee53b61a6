"""The pure rules of signing in: where `next` may lead, which passwords may be set, how the
lock-out names what it counts, and which single sign-on settings are accepted."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from crm_store.config import Settings
from crm_store.people import credentials, lockout
from crm_store.web.session import safe_next


@pytest.mark.parametrize(
    "value",
    [
        "/",
        "/contacts",
        "/contacts/42?tab=timeline",
        "/team#top",
        "/%2F%2Fevil.example",  # a path on this site, however it is spelled
    ],
)
def test_next_keeps_a_path_of_this_site(value: str) -> None:
    assert safe_next(value) == value


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "//evil.example",
        "///evil.example",
        "/\\evil.example",
        "https://evil.example/",
        "javascript:alert(1)",
        "evil.example/path",
        "/a b",
        "/a\r\nSet-Cookie: x=1",
        "/a\tb",
        "/a\x7fb",
        "/login",
        "/logout?x=1",
        "/" + "a" * 600,
    ],
)
def test_next_sends_anything_else_to_the_inbox(value: str | None) -> None:
    assert safe_next(value) == "/"


def test_passwords_that_may_not_be_set() -> None:
    email = "nora@acme-corp.com"
    assert (
        credentials.password_problem("correct horse battery", "correct horse battery", email)
        is None
    )
    assert credentials.password_problem("short", "short", email) == (
        "password",
        "Use at least 10 characters.",
    )
    long = "x" * (credentials.MAX_PASSWORD_CHARS + 1)
    assert credentials.password_problem(long, long, email) is not None
    assert credentials.password_problem(email, email, email) is not None
    assert credentials.password_problem("NORA@acme-corp.com", "NORA@acme-corp.com", email)
    problem = credentials.password_problem("correct horse battery", "correct horse", email)
    assert problem is not None
    assert problem[0] == "password_again"


async def test_a_hash_verifies_its_password_only() -> None:
    stored = credentials.hash_password("correct horse battery")
    assert stored.startswith("$argon2id$")
    assert await credentials.verify_password(stored, "correct horse battery")
    assert not await credentials.verify_password(stored, "Correct horse battery")
    assert not await credentials.verify_password(None, "correct horse battery")
    assert not await credentials.verify_password("not a hash", "correct horse battery")


def test_the_lock_out_counts_addresses_as_typed_folded_and_hashed() -> None:
    assert lockout.account_key(" Nora@Acme-Corp.com ") == lockout.account_key("nora@acme-corp.com")
    assert "nora" not in lockout.account_key("nora@acme-corp.com")
    assert lockout.account_key("a@b.example") != lockout.account_key("b@b.example")
    assert len(lockout.address_key("x" * 500)) <= 80


def test_single_sign_on_settings_come_whole_and_over_https() -> None:
    whole = {
        "oidc_issuer": "https://accounts.google.com",
        "oidc_client_id": "client",
        "oidc_client_secret": "a-real-client-secret-0123",
    }
    assert Settings(**whole).oidc_enabled  # type: ignore[arg-type]
    assert not Settings().oidc_enabled
    with pytest.raises(ValidationError, match="together"):
        Settings(oidc_issuer="https://accounts.google.com")
    with pytest.raises(ValidationError, match="https"):
        Settings(**{**whole, "oidc_issuer": "http://accounts.example.com"})  # type: ignore[arg-type]
    local = Settings(**{**whole, "oidc_issuer": "http://localhost:8080"})  # type: ignore[arg-type]
    assert local.oidc_enabled
    domains = Settings(**whole, oidc_email_domains=" Acme-Corp.com, @other.example")  # type: ignore[arg-type]
    assert domains.oidc_email_domains == ["acme-corp.com", "other.example"]
    with pytest.raises(ValidationError):
        Settings(**whole, oidc_email_domains="not-a-domain")  # type: ignore[arg-type]
