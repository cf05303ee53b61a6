"""crm-store settings: the development admin token `make run` prints is refused elsewhere, and
the edge limits have safe defaults."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from crm_store.config import Settings
from switchboard_shared.settings import DEVELOPMENT_SECRETS

DEV_TOKEN = DEVELOPMENT_SECRETS["CRM_STORE_BOOTSTRAP_ADMIN_TOKEN"]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "CRM_STORE_BOOTSTRAP_ADMIN_TOKEN",
        "CRM_STORE_MAX_BODY_BYTES",
        "CRM_STORE_DOCS_ENABLED",
        "CRM_STORE_GROUP_OWNERS",
        "SWITCHBOARD_ENVIRONMENT",
    ):
        monkeypatch.delenv(name, raising=False)


def test_the_development_admin_token_is_refused_outside_development() -> None:
    with pytest.raises(ValidationError, match="CRM_STORE_BOOTSTRAP_ADMIN_TOKEN"):
        Settings(bootstrap_admin_token=DEV_TOKEN)


def test_the_development_admin_token_is_refused_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CRM_STORE_BOOTSTRAP_ADMIN_TOKEN", DEV_TOKEN)
    with pytest.raises(ValidationError, match="development value printed by `make run`"):
        Settings()
    monkeypatch.setenv("SWITCHBOARD_ENVIRONMENT", "development")
    assert Settings().bootstrap_admin_token == DEV_TOKEN


def test_an_own_admin_token_is_accepted_anywhere() -> None:
    assert Settings(bootstrap_admin_token="a-token-of-our-own-0123").bootstrap_admin_token


def test_edge_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings()
    assert settings.max_body_bytes == 1024 * 1024
    assert settings.docs_enabled is True
    monkeypatch.setenv("CRM_STORE_MAX_BODY_BYTES", "10")
    with pytest.raises(ValidationError, match="max_body_bytes"):
        Settings()


def test_group_owners_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().store_policy().group_owners == {}
    monkeypatch.setenv("CRM_STORE_GROUP_OWNERS", " 600 = anna@our.example, support=m-1 ,")
    policy = Settings().store_policy()
    assert dict(policy.group_owners) == {"600": "anna@our.example", "support": "m-1"}


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("600", "expected group=manager"),
        ("600=", "expected group=manager"),
        ("=anna@our.example", "expected group=manager"),
        ("600=anna@our.example,600=ben@our.example", "given twice"),
        ("6" * 129 + "=anna@our.example", "too long"),
        (",".join(f"{n}=m" for n in range(1001)), "at most 1000 groups"),
    ],
)
def test_group_owners_that_say_nothing_clear_are_refused(
    monkeypatch: pytest.MonkeyPatch, value: str, error: str
) -> None:
    monkeypatch.setenv("CRM_STORE_GROUP_OWNERS", value)
    with pytest.raises(ValidationError, match=error):
        Settings()
