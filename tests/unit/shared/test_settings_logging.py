"""`SWITCHBOARD_*` settings and masked structured logging."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pydantic
import pytest

from switchboard_shared.logging import configure_logging
from switchboard_shared.settings import CommonSettings, empty_is_unset, refuse_placeholder

ENV_NAMES = (
    "KAFKA_BOOTSTRAP",
    "DEFAULT_REGION",
    "OWN_DOMAINS",
    "TOPIC_PARTITIONS",
    "TOPIC_REPLICATION",
    "KAFKA_ENABLE_IDEMPOTENCE",
    "LOG_LEVEL",
    "LOG_FORMAT",
)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ENV_NAMES:
        monkeypatch.delenv(f"SWITCHBOARD_{name}", raising=False)
    return monkeypatch


def test_defaults(clean_env: pytest.MonkeyPatch) -> None:
    settings = CommonSettings()
    assert settings.kafka_bootstrap == "127.0.0.1:9092"
    assert settings.default_region == "US"
    assert settings.own_domains == []
    assert settings.topic_partitions == 3
    assert settings.kafka_enable_idempotence is False
    assert settings.log_format == "json"


def test_reads_switchboard_env(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("SWITCHBOARD_KAFKA_BOOTSTRAP", "kafka-1:9092,kafka-2:9092")
    clean_env.setenv("SWITCHBOARD_DEFAULT_REGION", "de")
    clean_env.setenv("SWITCHBOARD_OWN_DOMAINS", " OurCo.Example, @sales.ourco.example ,,")
    clean_env.setenv("SWITCHBOARD_TOPIC_PARTITIONS", "6")
    clean_env.setenv("SWITCHBOARD_KAFKA_ENABLE_IDEMPOTENCE", "true")
    clean_env.setenv("SWITCHBOARD_LOG_FORMAT", "text")
    settings = CommonSettings()
    assert settings.kafka_bootstrap == "kafka-1:9092,kafka-2:9092"
    assert settings.default_region == "DE"
    assert settings.own_domains == ["ourco.example", "sales.ourco.example"]
    assert settings.topic_partitions == 6
    assert settings.kafka_enable_idempotence is True
    assert settings.log_format == "text"


def test_unprefixed_env_is_ignored(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("DEFAULT_REGION", "FR")
    clean_env.setenv("KAFKA_BOOTSTRAP", "elsewhere:9092")
    settings = CommonSettings()
    assert settings.default_region == "US"
    assert settings.kafka_bootstrap == "127.0.0.1:9092"


def test_empty_own_domains_is_an_empty_list(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("SWITCHBOARD_OWN_DOMAINS", "")
    assert CommonSettings().own_domains == []


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("ourco.example", ["ourco.example"]),
        ("A.example,B.example", ["a.example", "b.example"]),
        (["@X.example", "y.example"], ["x.example", "y.example"]),
    ],
)
def test_own_domains_normalised_from_init(
    clean_env: pytest.MonkeyPatch, given: Any, expected: list[str]
) -> None:
    assert CommonSettings(own_domains=given).own_domains == expected


@pytest.mark.parametrize(("given", "expected"), [("gb", "GB"), ("De", "DE"), ("US", "US")])
def test_region_upper_cased(clean_env: pytest.MonkeyPatch, given: str, expected: str) -> None:
    assert CommonSettings(default_region=given).default_region == expected


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SWITCHBOARD_DEFAULT_REGION", "DEU"),
        ("SWITCHBOARD_DEFAULT_REGION", "D"),
        ("SWITCHBOARD_LOG_FORMAT", "xml"),
        ("SWITCHBOARD_TOPIC_PARTITIONS", "0"),
    ],
)
def test_invalid_env_is_refused(clean_env: pytest.MonkeyPatch, name: str, value: str) -> None:
    clean_env.setenv(name, value)
    with pytest.raises(pydantic.ValidationError):
        CommonSettings()


@pytest.mark.parametrize(
    ("value", "expected"),
    [("", None), ("   ", None), ("\t\n", None), ("s3cret", "s3cret"), (None, None), (5, 5)],
)
def test_empty_is_unset(value: object, expected: object) -> None:
    assert empty_is_unset(value) == expected


@pytest.mark.parametrize("value", ["changeme", "CHANGEME", " change-me ", "secret", "Password"])
def test_refuse_placeholder_rejects(value: str) -> None:
    with pytest.raises(ValueError, match="INGEST_CALLS_GENERIC_HMAC_SECRET is a placeholder"):
        refuse_placeholder("INGEST_CALLS_GENERIC_HMAC_SECRET", value)


@pytest.mark.parametrize("value", [None, "a-real-secret-of-decent-length", "changeme-please"])
def test_refuse_placeholder_accepts(value: str | None) -> None:
    assert refuse_placeholder("X", value) == value


# --- logging ---------------------------------------------------------------------------------

_TOUCHED = ("uvicorn", "uvicorn.error", "uvicorn.access", "faststream", "aiokafka")


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """configure_logging rewires the root logger; put it back for the other tests."""
    root = logging.getLogger()
    saved_root = (root.handlers[:], root.level)
    saved = {
        n: (
            logging.getLogger(n).handlers[:],
            logging.getLogger(n).level,
            logging.getLogger(n).propagate,
        )
        for n in _TOUCHED
    }
    try:
        yield
    finally:
        root.handlers[:], level = saved_root
        root.setLevel(level)
        for name, (handlers, lvl, propagate) in saved.items():
            logger = logging.getLogger(name)
            logger.handlers[:] = handlers
            logger.setLevel(lvl)
            logger.propagate = propagate


def _lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    return [json.loads(line) for line in lines]


PHONE = "+493012345656"
PHONE_MASKED = "+4930******56"
EMAIL = "jane.doe@example.com"
EMAIL_MASKED = "j***@example.com"


@pytest.mark.usefixtures("restore_logging")
def test_json_line_with_personal_data_masked(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("ingest-calls", level="INFO", fmt="json")
    logging.getLogger("ingest_calls.http").info(
        "missed call from %s, mail to %s",
        PHONE,
        EMAIL,
        extra={
            "counterpart": PHONE,
            "email": EMAIL,
            "contact_name": "Jane Doe",
            "first_name": "Jane",
            "provider": "generic",
            "attempt": 3,
        },
    )
    (entry,) = _lines(capsys)
    assert entry["level"] == "INFO"
    assert entry["service"] == "ingest-calls"
    assert entry["logger"] == "ingest_calls.http"
    assert entry["ts"].endswith("Z")
    assert entry["msg"] == f"missed call from {PHONE_MASKED}, mail to {EMAIL_MASKED}"
    assert entry["counterpart"] == PHONE_MASKED
    assert entry["email"] == EMAIL_MASKED
    assert entry["contact_name"] == "J***"
    assert entry["first_name"] == "J***"
    assert entry["provider"] == "generic"
    assert entry["attempt"] == 3


def test_extra_name_is_reserved_by_logging() -> None:
    """`name` in _NAME_KEYS can never be used through `extra=`: LogRecord owns it."""
    with pytest.raises(KeyError, match="name"):
        logging.getLogger("x").makeRecord(
            "x", logging.INFO, "f", 1, "m", (), None, extra={"name": "Jane Doe"}
        )


@pytest.mark.usefixtures("restore_logging")
def test_unnamed_extra_is_masked_by_content(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("classifier")
    logging.getLogger("classifier").warning(
        "dropped", extra={"detail": f"caller {PHONE} <{EMAIL}>", "bootstrap": "127.0.0.1:9092"}
    )
    (entry,) = _lines(capsys)
    assert entry["detail"] == f"caller {PHONE_MASKED} <{EMAIL_MASKED}>"
    assert entry["bootstrap"] == "127.0.0.1:9092"


@pytest.mark.usefixtures("restore_logging")
def test_exception_is_included_and_masked(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("crm-store")
    try:
        raise ValueError(f"no contact for {PHONE} or {EMAIL}")
    except ValueError:
        logging.getLogger("crm_store").exception("lookup failed for %s", PHONE)
    (entry,) = _lines(capsys)
    assert entry["level"] == "ERROR"
    assert entry["msg"] == f"lookup failed for {PHONE_MASKED}"
    assert "Traceback" in entry["exc"]
    assert f"ValueError: no contact for {PHONE_MASKED} or {EMAIL_MASKED}" in entry["exc"]
    assert PHONE not in entry["exc"]
    assert EMAIL not in entry["exc"]


@pytest.mark.usefixtures("restore_logging")
def test_level_filters_and_one_handler(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("ingest-mail", level="warning")
    root = logging.getLogger()
    assert len(root.handlers) == 1
    assert root.level == logging.WARNING
    logging.getLogger("ingest_mail").info("hidden")
    logging.getLogger("ingest_mail").warning("shown")
    assert [e["msg"] for e in _lines(capsys)] == ["shown"]


@pytest.mark.usefixtures("restore_logging")
def test_third_party_loggers_go_through_the_masked_handler(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("ingest-calls")
    logging.getLogger("uvicorn.access").warning(
        '%s - "%s %s HTTP/%s" %d', "127.0.0.1:51234", "GET", f"/contacts?phone={PHONE}", "1.1", 200
    )
    logging.getLogger("aiokafka").info("chatty")  # below WARNING for aiokafka
    (entry,) = _lines(capsys)
    assert entry["logger"] == "uvicorn.access"
    assert entry["msg"] == f'127.0.0.1:51234 - "GET /contacts?phone={PHONE_MASKED} HTTP/1.1" 200'


@pytest.mark.usefixtures("restore_logging")
def test_text_format_masks_the_message(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("ingest-calls", fmt="text")
    logging.getLogger("t").info("call from %s", PHONE, extra={"email": EMAIL})
    err = capsys.readouterr().err
    assert f"INFO ingest-calls t: call from {PHONE_MASKED}" in err
    assert PHONE not in err


@pytest.mark.usefixtures("restore_logging")
def test_text_format_masks_exceptions(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("crm-store", fmt="text")
    try:
        raise ValueError(f"no contact for {PHONE} or {EMAIL}")
    except ValueError:
        logging.getLogger("crm_store").exception("lookup failed")
    err = capsys.readouterr().err
    assert "Traceback" in err
    assert PHONE not in err
    assert EMAIL not in err
