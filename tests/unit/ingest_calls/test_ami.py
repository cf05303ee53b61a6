"""The AMI client's wire format and its settings (the connection itself: integration)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from ingest_calls.ami import AmiError, action, parse_message
from ingest_calls.config import Settings, ami_target


def test_an_action_cannot_smuggle_a_second_field_through_a_value() -> None:
    wire = action({"Action": "Login", "Username": "sb\r\nAction: Originate", "Secret": "x"})
    assert wire == b"Action: Login\r\nUsername: sb  Action: Originate\r\nSecret: x\r\n\r\n"


def test_a_message_is_read_as_its_fields() -> None:
    block = b"Event: CEL\r\nEventName: CHAN_START\r\nAppData: a:b:c\r\nno colon here\r\n\r\n"
    assert parse_message(block) == {"Event": "CEL", "EventName": "CHAN_START", "AppData": "a:b:c"}


def test_a_message_with_too_many_fields_breaks_the_connection() -> None:
    block = "".join(f"K{i}: v\r\n" for i in range(65)).encode() + b"\r\n"
    with pytest.raises(AmiError, match="more than 64 fields"):
        parse_message(block)


def test_the_ami_url_names_host_port_user_and_secret() -> None:
    target = ami_target("tcp://switch%40board:p%3Ass@pbx.example:5039")
    assert (target.host, target.port, target.username, target.secret) == (
        "pbx.example",
        5039,
        "switch@board",
        "p:ss",
    )
    assert ami_target("tcp://u:s@pbx").port == 5038
    assert "p:ss" not in repr(target)
    assert "p:ss" not in str(target)


@pytest.mark.parametrize(
    "url", ["http://u:s@pbx:5038", "tcp://pbx:5038", "tcp://u@pbx", "tcp://u:s@pbx:5038/x"]
)
def test_a_wrong_ami_url_stops_the_service_without_echoing_it(url: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(asterisk_ami_url=url)
    assert "tcp://user:secret@pbx:5038" in str(caught.value) or "no path" in str(caught.value)
    assert ":s@" not in str(caught.value)


def test_the_ami_url_is_not_a_provider_option() -> None:
    settings = Settings(asterisk_ami_url="tcp://u:secret-value@pbx:5038")
    assert "ami_url" not in settings.options_for("asterisk")
    assert settings.ami is not None
    assert settings.ami.secret == "secret-value"
