"""ingest-mail refuses to start with an open mail intake, or with the printed development token."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from ingest_mail.config import Settings
from switchboard_shared.settings import DEVELOPMENT_SECRETS, CommonSettings

TOKEN = "mail-http-token-0123456789abcdef"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("INGEST_MAIL_HTTP_TOKEN", "INGEST_MAIL_HTTP_ANONYMOUS"):
        monkeypatch.delenv(name, raising=False)


def test_no_token_is_refused_naming_the_variable() -> None:
    with pytest.raises(ValidationError) as caught:
        Settings()
    assert "INGEST_MAIL_HTTP_TOKEN" in str(caught.value)
    assert "INGEST_MAIL_HTTP_ANONYMOUS" in str(caught.value)


def test_an_empty_token_is_no_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INGEST_MAIL_HTTP_TOKEN", "")  # as compose passes an unset ${VAR:-}
    with pytest.raises(ValidationError, match="INGEST_MAIL_HTTP_TOKEN"):
        Settings()


def test_a_token_or_anonymous_on_purpose(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings(http_token=TOKEN).http_token == TOKEN
    monkeypatch.setenv("INGEST_MAIL_HTTP_ANONYMOUS", "true")
    settings = Settings()
    assert settings.http_token is None
    assert settings.http_anonymous


def test_the_development_token_only_in_development() -> None:
    dev = DEVELOPMENT_SECRETS["INGEST_MAIL_HTTP_TOKEN"]
    with pytest.raises(ValidationError, match="INGEST_MAIL_HTTP_TOKEN is the development value"):
        Settings(http_token=dev, common=CommonSettings(environment="production"))
    settings = Settings(http_token=dev, common=CommonSettings(environment="development"))
    assert settings.http_token == dev


def test_limits_come_from_the_settings() -> None:
    limits = Settings(http_token=TOKEN, max_parts=7, max_depth=3).limits
    assert (limits.max_parts, limits.max_depth) == (7, 3)
