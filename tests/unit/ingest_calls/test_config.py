"""ingest-calls settings that keep outsiders out: secret lengths and the signed URL."""

from __future__ import annotations

import base64
import os
from typing import Any

import pydantic
import pytest

from ingest_calls.config import SECRET_MIN_LENGTH, SECRETS, Settings
from switchboard_shared.settings import DEVELOPMENT_SECRETS, CommonSettings

GOOD_KEY = base64.b64encode(bytes(range(32))).decode()
BASE_URL = "https://calls.example.com"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("INGEST_CALLS_", "SWITCHBOARD_")):
            monkeypatch.delenv(name)


def make(**values: Any) -> Settings:
    return Settings(**{"public_base_url": BASE_URL, **values})


def refused(**values: Any) -> str:
    with pytest.raises(pydantic.ValidationError) as info:
        make(**values)
    return str(info.value)


@pytest.mark.parametrize("field", [f for f in SECRETS if f != "telnyx_public_key"])
@pytest.mark.parametrize("value", ["x", "0123456789abcde"])
def test_a_short_provider_secret_is_refused_naming_the_variable(field: str, value: str) -> None:
    message = refused(**{field: value})
    assert f"INGEST_CALLS_{field.upper()}" in message
    assert f"at least {SECRET_MIN_LENGTH}" in message
    if len(value) > 1:
        assert value not in message  # a secret, even a wrong one, is never echoed


@pytest.mark.parametrize("field", [f for f in SECRETS if f != "telnyx_public_key"])
def test_a_secret_of_the_minimum_length_is_accepted(field: str) -> None:
    secret = "k" * SECRET_MIN_LENGTH
    assert getattr(make(**{field: secret}), field) == secret


@pytest.mark.parametrize(
    "key",
    [
        "x",
        base64.b64encode(bytes(31)).decode(),
        base64.b64encode(bytes(33)).decode(),
        "not base64 at all!",
        f"{GOOD_KEY},{base64.b64encode(bytes(16)).decode()}",
    ],
)
def test_the_telnyx_key_must_decode_to_32_bytes(key: str) -> None:
    message = refused(telnyx_public_key=key)
    assert "INGEST_CALLS_TELNYX_PUBLIC_KEY" in message
    assert "32-byte" in message


def test_telnyx_keys_while_rotating() -> None:
    other = base64.b64encode(bytes(range(1, 33))).decode()
    assert make(telnyx_public_key=f"{GOOD_KEY}, {other}").telnyx_public_key


@pytest.mark.parametrize("field", ["twilio_auth_token", "plivo_auth_token"])
def test_url_signing_providers_need_a_url_that_is_not_the_host_header(field: str) -> None:
    values: dict[str, Any] = {field: "t" * 32}
    with pytest.raises(pydantic.ValidationError) as info:
        Settings(**values)
    message = str(info.value)
    assert f"INGEST_CALLS_{field.upper()}" in message
    assert "INGEST_CALLS_PUBLIC_BASE_URL" in message
    assert "INGEST_CALLS_TRUSTED_PROXIES" in message


def test_either_the_public_url_or_trusted_proxies_will_do() -> None:
    assert Settings(twilio_auth_token="t" * 32, public_base_url=BASE_URL).public_base_url
    proxied = Settings(plivo_auth_token="p" * 32, trusted_proxies="10.0.0.0/8, 127.0.0.1")
    assert proxied.trusts("10.1.2.3")
    assert proxied.trusts("127.0.0.1")
    assert not proxied.trusts("203.0.113.9")
    assert not proxied.trusts("testclient")
    assert not proxied.trusts(None)


def test_providers_that_do_not_sign_the_url_need_neither() -> None:
    assert Settings(generic_hmac_secret="g" * 32, zadarma_api_secret="z" * 20)


def test_trusted_proxies_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INGEST_CALLS_TRUSTED_PROXIES", "10.0.0.0/8,::1")
    monkeypatch.setenv("INGEST_CALLS_TWILIO_AUTH_TOKEN", "t" * 32)
    settings = Settings()
    assert settings.trusts("::1")
    assert settings.trusts("10.9.9.9")


@pytest.mark.parametrize(
    "url", ["calls.example.com", "ftp://calls.example.com", "https://", f"{BASE_URL}/?a=1"]
)
def test_the_public_base_url_must_be_a_url(url: str) -> None:
    assert "INGEST_CALLS_PUBLIC_BASE_URL" in refused(public_base_url=url)


def test_the_public_base_url_loses_its_trailing_slash() -> None:
    assert make(public_base_url=f"{BASE_URL}/hooks/").public_base_url == f"{BASE_URL}/hooks"


def test_zadarma_windows_reach_the_adapter() -> None:
    options = make(zadarma_replay_window_s=600, zadarma_max_call_s=7200).options_for("zadarma")
    assert options["replay_window_s"] == "600"
    assert options["max_call_s"] == "7200"


def test_the_development_secret_make_run_prints_is_refused_outside_development() -> None:
    printed = DEVELOPMENT_SECRETS["INGEST_CALLS_GENERIC_HMAC_SECRET"]
    message = refused(generic_hmac_secret=printed)
    assert "INGEST_CALLS_GENERIC_HMAC_SECRET" in message
    assert printed not in message
    development = CommonSettings(environment="development")
    assert make(generic_hmac_secret=printed, common=development).generic_hmac_secret == printed
